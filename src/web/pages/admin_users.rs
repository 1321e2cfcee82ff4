//! `/admin/users`: people and applications, adding them (with a one-time
//! setup link for those who sign in), a new setup link for someone who
//! lost their password; `/admin/tokens`: every API token, minting one
//! for a user (shown once) and revoking.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::PageId;
use crate::accounts::http::{CreateTokenIn, CreateUserIn};
use crate::accounts::{Role, User};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::{self, Viewer};
use crate::web::view::{self, Chrome};

pub struct UserItem {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: &'static str,
    pub created: String,
    pub can_sign_in: bool,
}

fn user_item(u: User, now: chrono::DateTime<chrono::Utc>) -> UserItem {
    UserItem {
        id: u.id,
        can_sign_in: u.role != Role::Sender && u.email.is_some(),
        email: u.email.unwrap_or_default(),
        name: u.display_name.or(u.external_id.map(|e| format!("external id {e}"))).unwrap_or_default(),
        role: u.role.as_str(),
        created: view::ago(Some(u.created_at), now),
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct UserForm {
    email: String,
    role: String,
    display_name: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserItem>,
    form: UserForm,
    errors: Vec<(String, String)>,
    roles: [&'static str; 4],
}

async fn users_page(
    state: &AppState,
    viewer: &Viewer,
    form: UserForm,
    errors: Vec<(String, String)>,
) -> Result<Response, WebError> {
    let now = state.monitoring.now();
    let users = state.accounts.list_users(0, 500).await?.into_iter().map(|u| user_item(u, now)).collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let chrome = Chrome::of(state, viewer, "admin", "Users").await?;
    let page = UsersPage { chrome, users, form, errors, roles: ["member", "operator", "admin", "sender"] };
    Ok((status, Html(page.render()?)).into_response())
}

pub async fn users(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require_admin()?;
    let form = UserForm { role: "operator".into(), ..UserForm::default() };
    users_page(&state, &viewer, form, Vec::new()).await
}

#[derive(Template)]
#[template(path = "setup_link.html")]
struct LinkPage {
    chrome: Chrome,
    email: String,
    link: String,
    created: bool,
}

/// The absolute address of a setup link, on the host the admin is using.
fn setup_url(state: &AppState, headers: &HeaderMap, token: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8080");
    let scheme = if session::over_tls(state, headers) { "https" } else { "http" };
    format!("{scheme}://{host}/setup?token={token}")
}

async fn link_page(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    user: &User,
    created: bool,
) -> Result<Response, WebError> {
    let token = state.accounts.mint_setup_token(user.id).await?;
    let chrome = Chrome::of(state, viewer, "admin", "Setup link").await?;
    let page = LinkPage {
        chrome,
        email: user.email.clone().unwrap_or_default(),
        link: setup_url(state, headers, token.expose()),
        created,
    };
    Ok(Html(page.render()?).into_response())
}

pub async fn create_user(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<UserForm>,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    let role = match form.role.parse::<Role>() {
        Ok(role) => role,
        Err(message) => return users_page(&state, &viewer, form, vec![("role".into(), message)]).await,
    };
    let name = form.display_name.trim();
    let body = CreateUserIn {
        email: form.email.clone(),
        role,
        display_name: (!name.is_empty()).then(|| name.to_string()),
        external_id: None,
    };
    match crate::accounts::http::add_user(&state, body).await {
        Ok(user) if user.role == Role::Sender => Ok(Redirect::to("/admin/tokens").into_response()),
        Ok(user) => link_page(&state, &viewer, &headers, &user, true).await,
        Err(ApiError::Validation(list)) => {
            let errors = list.into_iter().map(|e| (e.field, e.message)).collect();
            users_page(&state, &viewer, form, errors).await
        }
        Err(ApiError::Conflict { field, detail }) => users_page(&state, &viewer, form, vec![(field, detail)]).await,
        Err(other) => Err(other.into()),
    }
}

/// `POST /admin/users/{id}/setup-link`: a new one-time link (an old one still works until used or expired).
pub async fn setup_link(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    let user = state.accounts.user_by_id(id).await?;
    link_page(&state, &viewer, &headers, &user, false).await
}

pub struct TokenItem {
    pub id: i64,
    pub owner: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub revoked: bool,
}

/// The rows of a token table.
pub fn token_items(
    tokens: Vec<crate::accounts::Token>,
    owners: &std::collections::HashMap<i64, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<TokenItem> {
    tokens
        .into_iter()
        .map(|t| TokenItem {
            id: t.id,
            owner: owners.get(&t.user_id).cloned().unwrap_or_else(|| format!("user {}", t.user_id)),
            name: t.name,
            created: view::ago(Some(t.created_at), now),
            last_used: view::ago(t.last_used_at, now),
            expires: t.expires_at.map(|e| e.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".into()),
            revoked: t.revoked_at.is_some(),
        })
        .collect()
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    pub user_id: String,
    pub name: String,
    /// Days; empty: never expires.
    pub expires_days: String,
}

impl TokenForm {
    /// The API's request, or the field that is not a number.
    pub fn to_request(&self) -> Result<CreateTokenIn, (String, String)> {
        let expires_in_seconds = match self.expires_days.trim() {
            "" => None,
            raw => match raw.parse::<i64>() {
                Ok(days) if days > 0 => Some(days.saturating_mul(86_400)),
                _ => return Err(("expires_days".into(), "must be a whole number of days, 1 or more".into())),
            },
        };
        Ok(CreateTokenIn { name: self.name.clone(), expires_in_seconds })
    }
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenItem>,
    users: Vec<UserItem>,
    form: TokenForm,
    error: Option<(String, String)>,
    minted: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    viewer: &Viewer,
    form: TokenForm,
    error: Option<(String, String)>,
    minted: Option<String>,
) -> Result<Response, WebError> {
    let now = state.monitoring.now();
    let principal = viewer.principal();
    let users: Vec<User> = state.accounts.list_users(0, 500).await?;
    let owners = users.iter().map(|u| (u.id, u.email.clone().or(u.display_name.clone()).unwrap_or_default())).collect();
    let tokens = token_items(state.accounts.list_tokens(&principal, None).await?, &owners, now);
    let users = users.into_iter().map(|u| user_item(u, now)).collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let chrome = Chrome::of(state, viewer, "admin", "API tokens").await?;
    Ok((status, Html(TokensPage { chrome, tokens, users, form, error, minted }.render()?)).into_response())
}

pub async fn tokens(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require_admin()?;
    tokens_page(&state, &viewer, TokenForm::default(), None, None).await
}

pub async fn mint_token(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    let Ok(user_id) = form.user_id.parse::<i64>() else {
        return tokens_page(&state, &viewer, form, Some(("user_id".into(), "choose a user".into())), None).await;
    };
    let request = match form.to_request() {
        Ok(r) => r,
        Err(e) => return tokens_page(&state, &viewer, form, Some(e), None).await,
    };
    match crate::accounts::http::mint(&state, user_id, request).await {
        Ok((_, created)) => tokens_page(&state, &viewer, TokenForm::default(), None, Some(created.0.token)).await,
        Err(ApiError::Validation(mut list)) if !list.is_empty() => {
            let e = list.remove(0);
            tokens_page(&state, &viewer, form, Some((e.field, e.message)), None).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /admin/tokens/{id}/revoke` (the account page posts its own here too).
pub async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    let principal = viewer.principal();
    crate::accounts::http::revoke(&state, &principal, id).await?;
    Ok(Redirect::to(if viewer.user.role == Role::Admin { "/admin/tokens" } else { "/account" }))
}
