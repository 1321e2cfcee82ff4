//! The routes of the web app, one file per area.

mod incidents;
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
