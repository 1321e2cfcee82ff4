//! The routes of the web app, one file per area.

mod account;
mod admin_channels;
mod admin_users;
mod alerts;
mod database;
mod inbox;
mod incidents;
mod maintenance;
mod overview;
mod service_form;
mod services;
mod sign_in;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::{get, post};

use super::error::WebError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(sign_in::form).post(sign_in::submit))
        .route("/logout", post(sign_in::sign_out))
        .route("/setup", get(sign_in::setup_form).post(sign_in::setup_submit))
        .route("/services/new", get(service_form::new_form).post(service_form::create))
        .route("/services/{id}", get(services::page))
        .route("/services/{id}/edit", get(service_form::edit_form).post(service_form::update))
        .route("/services/{id}/pause", post(services::pause))
        .route("/services/{id}/resume", post(services::resume))
        .route("/services/{id}/check", post(services::check_now))
        .route("/services/{id}/heartbeat-secret", post(services::rotate_heartbeat))
        .route("/services/{id}/delete", get(services::confirm_delete).post(services::delete))
        .route("/system/database", get(database::page))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens", post(account::mint_token))
        .route("/account/sign-out-everywhere", post(account::sign_out_everywhere))
        .route("/admin", get(|| async { axum::response::Redirect::to("/admin/channels") }))
        .route("/admin/channels", get(admin_channels::list))
        .route("/admin/channels/new", get(admin_channels::new_form).post(admin_channels::create))
        .route("/admin/channels/{id}", get(admin_channels::edit_form).post(admin_channels::update))
        .route("/admin/channels/{id}/test", post(admin_channels::test))
        .route("/admin/channels/{id}/delete", post(admin_channels::delete))
        .route("/admin/users", get(admin_users::users).post(admin_users::create_user))
        .route("/admin/users/{id}/setup-link", post(admin_users::setup_link))
        .route("/admin/tokens", get(admin_users::tokens).post(admin_users::mint_token))
        .route("/tokens/{id}/revoke", post(admin_users::revoke_token))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::page))
        .route("/maintenance", get(maintenance::page).post(maintenance::create))
        .route("/maintenance/{id}/end", post(maintenance::end))
        .route("/inbox", get(inbox::page))
        .route("/inbox/read-all", post(inbox::read_all))
        .route("/inbox/{id}/read", post(inbox::set_read))
        .route("/inbox/{id}/delete", post(inbox::delete))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::page))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/notes", post(incidents::note))
}

/// A numeric id in the path; anything else is the page that is not there.
pub struct PageId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PageId {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state).await.map_err(|_| WebError::not_found())?;
        Ok(PageId(id))
    }
}
