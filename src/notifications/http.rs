//! `/api/v1/notifications…` and `/api/v1/announcements`: thin handlers over
//! [`NotificationService`](super::NotificationService). Every inbox route
//! reads the caller's own inbox; another user's id answers 404.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{MAX_AUDIENCE_LIST, TypeCount};
use super::{Audience, Filter, IdempotencyKey, Kind, Notification, NotificationError, Position, RawContent, Recipient};
use crate::accounts::Role;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth, OptionalJson};
use crate::http::pagination::{DEFAULT_LIMIT, List, MAX_LIMIT, decode_tagged, encode_tagged};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications, create_notification))
        .routes(routes!(pending))
        .routes(routes!(stats))
        .routes(routes!(read_all))
        .routes(routes!(get_notification, patch_notification, delete_notification))
        .routes(routes!(announce))
}

/// A notification as the API (and the realtime protocol) renders it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationOut {
    pub id: i64,
    pub user_id: i64,
    /// Per-user, gapless, increasing; pass as `after` to catch up.
    pub cursor: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub priority: i16,
    pub title: String,
    pub body: String,
    pub data: Option<Value>,
    pub created_at: DateTime<Utc>,
    /// Null while unread.
    pub read_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<Notification> for NotificationOut {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            user_id: n.user_id,
            cursor: n.cursor,
            kind: n.kind,
            priority: n.priority,
            title: n.title,
            body: n.body,
            data: n.data,
            created_at: n.created_at,
            read_at: n.read_at,
            expires_at: n.expires_at,
        }
    }
}

/// Create body. (Fields are listed out rather than flattened from a shared
/// struct: serde's flatten loses the path a validation error must name.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNotificationIn {
    /// The herald user id; give this or `external_id`.
    pub user_id: Option<i64>,
    /// The application's id for the user; give this or `user_id`.
    pub external_id: Option<String>,
    /// A retry with the same key for the same user returns the first result.
    pub idempotency_key: Option<String>,
    /// `[a-z0-9_.-]{1,64}`, e.g. `system`, `alert`, `message`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 1 (lowest) to 5; default 3.
    pub priority: Option<i64>,
    /// 1–200 characters.
    pub title: Option<String>,
    /// Up to 10 000 characters.
    pub body: Option<String>,
    /// A JSON object up to 16 KiB.
    pub data: Option<Value>,
    /// Must be in the future; the notification disappears then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl CreateNotificationIn {
    fn content(self) -> RawContent {
        let Self { kind, priority, title, body, data, expires_at, .. } = self;
        RawContent { kind, priority, title, body, data, expires_at }
    }
}

/// Exactly one of the four fields.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceIn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ids: Option<Vec<String>>,
}

/// Announcement body: an audience and the notification fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnounceIn {
    pub audience: AudienceIn,
    /// A retry with the same key from the same caller returns the first result.
    pub idempotency_key: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub priority: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub data: Option<Value>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl AnnounceIn {
    fn content(self) -> RawContent {
        let Self { kind, priority, title, body, data, expires_at, .. } = self;
        RawContent { kind, priority, title, body, data, expires_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnnouncedOut {
    pub id: i64,
    pub recipients: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only unread notifications.
    pub unread: Option<bool>,
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Catch up: everything after this per-user cursor, oldest first.
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageOnly {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIn {
    /// true: mark read; false: mark unread.
    pub read: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadAllIn {
    /// Mark read only notifications with a cursor up to this one (what the client has seen).
    pub up_to_cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAllOut {
    pub updated: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypeStats {
    pub total: i64,
    pub unread: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    pub total: i64,
    pub unread: i64,
    pub by_type: BTreeMap<String, TypeStats>,
}

impl From<NotificationError> for ApiError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::Invalid(v) => ApiError::Validation(v),
            NotificationError::UnknownUser { field } => ApiError::field(field, "no such user"),
            NotificationError::UnknownRecipients(ids) => {
                ApiError::field("audience", format!("unknown recipients: {}", ids.join(", ")))
            }
            NotificationError::NotFound => ApiError::NotFound,
            NotificationError::Storage(s) => s.into(),
        }
    }
}

fn parse_key(raw: Option<&str>) -> Result<Option<IdempotencyKey>, ApiError> {
    raw.map(IdempotencyKey::parse).transpose().map_err(|m| ApiError::field("idempotency_key", m))
}

/// Create one notification for one user (admin, sender). 201 when created;
/// 200 with the first result when the idempotency key was used before.
#[utoipa::path(post, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = ["admin", "sender"])),
    request_body = CreateNotificationIn,
    responses((status = 201, body = NotificationOut), (status = 200, body = NotificationOut),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_notification(
    State(state): State<AppState>,
    _auth: Auth,
    ApiJson(body): ApiJson<CreateNotificationIn>,
) -> Result<impl IntoResponse, ApiError> {
    let to = match (body.user_id, &body.external_id) {
        (Some(id), None) => Recipient::UserId(id),
        (None, Some(external)) => Recipient::ExternalId(external.clone()),
        (Some(_), Some(_)) => return Err(ApiError::field("user_id", "give user_id or external_id, not both")),
        (None, None) => return Err(ApiError::field("user_id", "user_id or external_id is required")),
    };
    let key = parse_key(body.idempotency_key.as_deref())?;
    let created = state.notifications.create(to, body.content(), key).await?;
    let status = if created.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(NotificationOut::from(created.value))))
}

/// Send one notification to an audience, all or nothing (admin, sender).
#[utoipa::path(post, path = "/api/v1/announcements", tag = "notifications", security(("bearer" = ["admin", "sender"])),
    request_body = AnnounceIn,
    responses((status = 201, body = AnnouncedOut), (status = 200, body = AnnouncedOut), (status = 422, body = Problem)))]
async fn announce(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<AnnounceIn>,
) -> Result<impl IntoResponse, ApiError> {
    let caller = &auth.0;
    let audience_json = serde_json::to_value(&body.audience).unwrap_or(Value::Null);
    let key = parse_key(body.idempotency_key.as_deref())?;
    let AnnounceIn { audience, .. } = &body;
    let audience = parse_audience(audience)?;
    let sent = state.notifications.announce(caller.user.id, audience, &audience_json, body.content(), key).await?;
    let status = if sent.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(AnnouncedOut { id: sent.value.id, recipients: sent.value.recipients })))
}

fn parse_audience(a: &AudienceIn) -> Result<Audience, ApiError> {
    let given = [a.all.is_some(), a.role.is_some(), a.user_ids.is_some(), a.external_ids.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::field("audience", "give exactly one of all, role, user_ids, external_ids"));
    }
    let too_many = |n: usize| n == 0 || n > MAX_AUDIENCE_LIST;
    match a {
        AudienceIn { all: Some(true), .. } => Ok(Audience::All),
        AudienceIn { all: Some(false), .. } => Err(ApiError::field("audience.all", "must be true")),
        AudienceIn { role: Some(role), .. } => Ok(Audience::Role(*role)),
        AudienceIn { user_ids: Some(ids), .. } if too_many(ids.len()) => {
            Err(ApiError::field("audience.user_ids", format!("must list 1 to {MAX_AUDIENCE_LIST} ids")))
        }
        AudienceIn { user_ids: Some(ids), .. } => Ok(Audience::UserIds(ids.clone())),
        AudienceIn { external_ids: Some(ids), .. } if too_many(ids.len()) => {
            Err(ApiError::field("audience.external_ids", format!("must list 1 to {MAX_AUDIENCE_LIST} ids")))
        }
        AudienceIn { external_ids: Some(ids), .. } => Ok(Audience::ExternalIds(ids.clone())),
        _ => Err(ApiError::field("audience", "give exactly one of all, role, user_ids, external_ids")),
    }
}

/// Page size and position from the query, validated.
fn page(limit: Option<u32>, cursor: Option<&str>, after: Option<i64>) -> Result<(i64, Position), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let position = match (cursor, after) {
        (Some(c), _) => match decode_tagged(c) {
            Some((tag, p)) if tag == "b" => Position::Before(Some(p)),
            Some((tag, p)) if tag == "a" => Position::After(p),
            _ => return Err(ApiError::field("cursor", "is not a cursor this server issued")),
        },
        (None, Some(a)) if a < 0 => return Err(ApiError::field("after", "must be 0 or more")),
        (None, Some(a)) => Position::After(a),
        (None, None) => Position::Before(None),
    };
    Ok((i64::from(limit), position))
}

/// Render a page fetched with one extra row, with the cursor for the next.
fn page_out(mut items: Vec<Notification>, limit: i64, position: Position) -> List<NotificationOut> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = match (more, items.last(), position) {
        (true, Some(last), Position::After(_)) => Some(encode_tagged("a", last.cursor)),
        (true, Some(last), Position::Before(_)) => Some(encode_tagged("b", last.cursor)),
        _ => None,
    };
    List { items: items.into_iter().map(NotificationOut::from).collect(), next_cursor }
}

/// Your inbox: newest first, or with `after` everything since that cursor, oldest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    params(ListParams), responses((status = 200, body = List<NotificationOut>), (status = 422, body = Problem)))]
async fn list_notifications(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<List<NotificationOut>>, ApiError> {
    let (limit, position) = page(params.limit, params.cursor.as_deref(), params.after)?;
    let kind = params.kind.as_deref().map(Kind::parse).transpose().map_err(|m| ApiError::field("type", m))?;
    let filter = Filter { unread_only: params.unread.unwrap_or(false), kind };
    let items = state.notifications.list(auth.0.user.id, &filter, position, limit + 1).await?;
    Ok(Json(page_out(items, limit, position)))
}

/// Your pending notifications (unread, not expired), newest first.
#[utoipa::path(get, path = "/api/v1/notifications/pending", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    params(PageOnly), responses((status = 200, body = List<NotificationOut>)))]
async fn pending(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<PageOnly>,
) -> Result<Json<List<NotificationOut>>, ApiError> {
    let (limit, position) = page(params.limit, params.cursor.as_deref(), None)?;
    let filter = Filter { unread_only: true, kind: None };
    let items = state.notifications.list(auth.0.user.id, &filter, position, limit + 1).await?;
    Ok(Json(page_out(items, limit, position)))
}

/// Counts over your live notifications.
#[utoipa::path(get, path = "/api/v1/notifications/stats", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    responses((status = 200, body = StatsOut)))]
async fn stats(State(state): State<AppState>, auth: Auth) -> Result<Json<StatsOut>, ApiError> {
    let counts = state.notifications.stats(auth.0.user.id).await?;
    let mut out = StatsOut { total: 0, unread: 0, by_type: BTreeMap::new() };
    for TypeCount { kind, total, unread } in counts {
        out.total += total;
        out.unread += unread;
        out.by_type.insert(kind, TypeStats { total, unread });
    }
    Ok(Json(out))
}

/// Mark your notifications read, optionally only up to a cursor. The body is optional.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    request_body(content = ReadAllIn, description = "optional"), responses((status = 200, body = ReadAllOut)))]
async fn read_all(
    State(state): State<AppState>,
    auth: Auth,
    OptionalJson(body): OptionalJson<ReadAllIn>,
) -> Result<Json<ReadAllOut>, ApiError> {
    let body = body.unwrap_or_default();
    if body.up_to_cursor.is_some_and(|c| c < 0) {
        return Err(ApiError::field("up_to_cursor", "must be 0 or more"));
    }
    let changed = state.notifications.read_all(auth.0.user.id, body.up_to_cursor).await?;
    Ok(Json(ReadAllOut { updated: changed.len() as u64 }))
}

/// One of your notifications.
#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    params(("id" = i64, Path)), responses((status = 200, body = NotificationOut), (status = 404, body = Problem)))]
async fn get_notification(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<NotificationOut>, ApiError> {
    Ok(Json(state.notifications.get(auth.0.user.id, id).await?.into()))
}

/// Mark one of your notifications read or unread.
#[utoipa::path(patch, path = "/api/v1/notifications/{id}", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    params(("id" = i64, Path)), request_body = PatchIn,
    responses((status = 200, body = NotificationOut), (status = 404, body = Problem)))]
async fn patch_notification(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PatchIn>,
) -> Result<Json<NotificationOut>, ApiError> {
    Ok(Json(state.notifications.set_read(auth.0.user.id, id, body.read).await?.into()))
}

/// Delete one of your notifications.
#[utoipa::path(delete, path = "/api/v1/notifications/{id}", tag = "notifications", security(("bearer" = ["admin", "operator", "member"])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_notification(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.notifications.delete(auth.0.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
