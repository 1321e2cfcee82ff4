//! `/api/v1/me`, `/api/v1/users`, `/api/v1/tokens`: thin handlers over
//! [`AccountService`](super::AccountService).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{Email, ExternalId, Label, Principal, Role, Token, User};
use super::service::MAX_TOKEN_LIFETIME_SECONDS;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::http::pagination::{List, PageParams};
use crate::state::AppState;
use crate::validation::check;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(put_external_user))
        .routes(routes!(create_user_token))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    /// An application's own id for this user.
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            external_id: u.external_id,
            created_at: u.created_at,
        }
    }
}

/// A token's facts; the raw value is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<Token> for TokenOut {
    fn from(t: Token) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new token with its raw value, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenOut {
    /// The bearer token. Store it now: herald keeps only its hash.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenOut,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserIn {
    pub email: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
}

/// What an application says about one of its users.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalUserIn {
    pub email: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenIn {
    /// What the token is for, 1–100 characters.
    pub name: String,
    /// Lifetime in seconds; absent means it never expires.
    pub expires_in_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenFilter {
    /// Admins only: list this user's tokens (default: every token).
    pub user_id: Option<i64>,
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = ["admin", "operator", "member", "sender"])),
    responses((status = 200, body = UserOut), (status = 401, body = Problem)))]
async fn me(auth: Auth) -> Json<UserOut> {
    Json(auth.0.user.into())
}

/// List users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", security(("bearer" = ["admin"])), params(PageParams),
    responses((status = 200, body = List<UserOut>), (status = 403, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    _auth: Auth,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<UserOut>>, ApiError> {
    let page = params.parse()?;
    let users = state.accounts.list_users(page.after, i64::from(page.limit) + 1).await?;
    let list = List::from_overfetch(users, page, |u| u.id);
    Ok(Json(List { items: list.items.into_iter().map(UserOut::from).collect(), next_cursor: list.next_cursor }))
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", security(("bearer" = ["admin"])), request_body = CreateUserIn,
    responses((status = 201, body = UserOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    _auth: Auth,
    ApiJson(body): ApiJson<CreateUserIn>,
) -> Result<impl IntoResponse, ApiError> {
    let user = add_user(&state, body).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(user))))
}

/// Validate and create a user (the web app's admin form calls this too).
pub(crate) async fn add_user(state: &AppState, body: CreateUserIn) -> Result<User, ApiError> {
    let mut errors = Vec::new();
    let email = check(&mut errors, "email", Email::parse(&body.email));
    let display_name = check(&mut errors, "display_name", body.display_name.as_deref().map(Label::parse).transpose());
    let external_id = check(&mut errors, "external_id", body.external_id.as_deref().map(ExternalId::parse).transpose());
    let (Some(email), Some(display_name), Some(external_id)) = (email, display_name, external_id) else {
        return Err(ApiError::Validation(errors));
    };
    let user = state.accounts.create_user(Some(&email), body.role, display_name.as_ref(), external_id.as_ref()).await?;
    tracing::info!(user_id = user.id, role = %user.role, "user created");
    Ok(user)
}

/// Create or update the member user an application knows by `external_id`
/// (admin, sender). 201 when created, 200 when updated.
#[utoipa::path(put, path = "/api/v1/users/external/{external_id}", tag = "accounts", security(("bearer" = ["admin", "sender"])),
    params(("external_id" = String, Path, description = "the application's id for the user")),
    request_body = ExternalUserIn,
    responses((status = 200, body = UserOut), (status = 201, body = UserOut), (status = 409, body = Problem)))]
async fn put_external_user(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(external_id): ApiPath<String>,
    ApiJson(body): ApiJson<ExternalUserIn>,
) -> Result<impl IntoResponse, ApiError> {
    let mut errors = Vec::new();
    let external_id = check(&mut errors, "external_id", ExternalId::parse(&external_id));
    let email = check(&mut errors, "email", body.email.as_deref().map(Email::parse).transpose());
    let display_name = check(&mut errors, "display_name", body.display_name.as_deref().map(Label::parse).transpose());
    let (Some(external_id), Some(email), Some(display_name)) = (external_id, email, display_name) else {
        return Err(ApiError::Validation(errors));
    };
    let (user, created) = state.accounts.upsert_external(&external_id, email.as_ref(), display_name.as_ref()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(UserOut::from(user))))
}

/// Mint a token for a user (admin; sender for member users), e.g. a
/// short-lived one an application hands its user's browser.
#[utoipa::path(post, path = "/api/v1/users/{id}/tokens", tag = "accounts", security(("bearer" = ["admin", "sender"])),
    params(("id" = i64, Path, description = "user id")), request_body = CreateTokenIn,
    responses((status = 201, body = CreatedTokenOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_user_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateTokenIn>,
) -> Result<impl IntoResponse, ApiError> {
    let caller = &auth.0;
    let user = state.accounts.user_by_id(user_id).await?;
    if caller.user.role == Role::Sender && user.role != Role::Member {
        // A sender may not mint tokens for staff; do not reveal who they are.
        return Err(ApiError::NotFound);
    }
    mint(&state, user.id, body).await
}

/// Validate a token request and create it for `user_id` (the web app's
/// token forms call this too).
pub(crate) async fn mint(
    state: &AppState,
    user_id: i64,
    body: CreateTokenIn,
) -> Result<(StatusCode, Json<CreatedTokenOut>), ApiError> {
    let name = Label::parse(&body.name).map_err(|m| ApiError::field("name", m))?;
    if let Some(s) = body.expires_in_seconds.filter(|s| !(1..=MAX_TOKEN_LIFETIME_SECONDS).contains(s)) {
        return Err(ApiError::field(
            "expires_in_seconds",
            format!("{s} is out of range: must be 1 to {MAX_TOKEN_LIFETIME_SECONDS}"),
        ));
    }
    let (token, raw) = state.accounts.create_token(user_id, &name, body.expires_in_seconds).await?;
    tracing::info!(token_id = token.id, user_id = token.user_id, "token created");
    Ok((StatusCode::CREATED, Json(CreatedTokenOut { token: raw.expose().to_string(), info: token.into() })))
}

/// List tokens: your own, or (admin) anyone's.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", security(("bearer" = ["admin", "operator", "member", "sender"])), params(TokenFilter),
    responses((status = 200, body = List<TokenOut>)))]
async fn list_tokens(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(filter): ApiQuery<TokenFilter>,
) -> Result<Json<List<TokenOut>>, ApiError> {
    let tokens = state.accounts.list_tokens(&auth.0, filter.user_id).await?;
    Ok(Json(List { items: tokens.into_iter().map(TokenOut::from).collect(), next_cursor: None }))
}

/// Create a token for yourself; the raw value is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", security(("bearer" = ["admin", "operator", "member", "sender"])), request_body = CreateTokenIn,
    responses((status = 201, body = CreatedTokenOut), (status = 422, body = Problem)))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateTokenIn>,
) -> Result<impl IntoResponse, ApiError> {
    mint(&state, auth.0.user.id, body).await
}

/// Revoke a token: your own, or (admin) anyone's. Others' ids answer 404.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts", security(("bearer" = ["admin", "operator", "member", "sender"])),
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &auth.0, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a token for `caller` and tell the other instances (the web
/// app's token pages call this too).
pub(crate) async fn revoke(state: &AppState, caller: &Principal, id: i64) -> Result<(), ApiError> {
    let token = state.accounts.revoke_token(caller, id).await?;
    state.realtime.bus.token_revoked(token.id);
    tracing::info!(token_id = token.id, by = caller.user.id, "token revoked");
    Ok(())
}
