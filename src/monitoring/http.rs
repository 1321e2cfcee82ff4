//! `/api/v1/services…`, `/api/v1/incidents…` and `/api/v1/heartbeat/{secret}`:
//! thin handlers over [`MonitoringService`](super::MonitoringService).
//! Operators and admins read and change them (a member's token is refused:
//! services carry internal targets); the heartbeat URL needs no token (its
//! secret is the credential).

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

use super::domain::RawSettings;
use super::service::{MonitoringError, MonitoringService, ServiceIn};
use super::store::{Action, IncidentFilter};
use super::wire::{IncidentOut, ServiceOut};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth, OptionalJson};
use crate::http::pagination::{List, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, patch_service, delete_service))
        .routes(routes!(check_service))
        .routes(routes!(rotate_heartbeat))
        .routes(routes!(heartbeat_post, heartbeat_get))
        .routes(routes!(list_incidents))
        .routes(routes!(get_incident))
        .routes(routes!(acknowledge_incident))
        .routes(routes!(resolve_incident))
        .routes(routes!(note_incident))
        .merge(super::http_views::router())
}

impl From<MonitoringError> for ApiError {
    fn from(e: MonitoringError) -> Self {
        match e {
            MonitoringError::Invalid(v) => ApiError::Validation(v),
            MonitoringError::NotFound => ApiError::NotFound,
            MonitoringError::State(detail) => ApiError::Conflict { field: "status".into(), detail },
            MonitoringError::Storage(s) => s.into(),
        }
    }
}

/// A service to create, or the fields to change (absent ones stay).
/// Fields are listed out rather than flattened: flatten loses the path a
/// validation error must name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBody {
    /// 1–200 characters. Required on create.
    pub name: Option<String>,
    /// `http`, `tcp`, `dns`, `tls` or `heartbeat`. Required on create; cannot change.
    pub kind: Option<String>,
    /// URL (`http`), `host:port` (`tcp`, `tls`), name (`dns`); empty for `heartbeat`.
    pub target: Option<String>,
    /// 10 s to one day; default 60.
    pub interval_seconds: Option<i64>,
    /// 1–120 s, at most the interval; default 10.
    pub timeout_seconds: Option<i64>,
    /// Consecutive failed checks before the service is down; default 3.
    pub failure_threshold: Option<i64>,
    /// Consecutive passing checks before a down service is up again; default 2.
    pub recovery_threshold: Option<i64>,
    /// A passing check slower than this is `degraded`.
    pub degraded_latency_ms: Option<i64>,
    /// False pauses the checks.
    pub enabled: Option<bool>,
    /// Shown on the public status page.
    pub public: Option<bool>,
    pub tags: Option<Vec<String>>,
    /// Kind-specific settings (see the API docs of each kind).
    pub config: Option<Value>,
}

impl From<ServiceBody> for ServiceIn {
    fn from(b: ServiceBody) -> Self {
        ServiceIn {
            kind: b.kind,
            target: b.target,
            config: b.config,
            settings: RawSettings {
                name: b.name,
                interval_seconds: b.interval_seconds,
                timeout_seconds: b.timeout_seconds,
                failure_threshold: b.failure_threshold,
                recovery_threshold: b.recovery_threshold,
                degraded_latency_ms: b.degraded_latency_ms,
                enabled: b.enabled,
                public: b.public,
                tags: b.tags,
            },
        }
    }
}

/// A created service; heartbeat services carry their secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedServiceOut {
    #[serde(flatten)]
    pub service: ServiceOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_secret: Option<String>,
    /// Where the service sends its beats (POST or GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_path: Option<String>,
}

fn created(service: ServiceOut, secret: Option<String>) -> CreatedServiceOut {
    let heartbeat_path = secret.as_ref().map(|s| format!("/api/v1/heartbeat/{s}"));
    CreatedServiceOut { service, heartbeat_secret: secret, heartbeat_path }
}

/// List services, with their check configuration (secrets masked).
#[utoipa::path(get, path = "/api/v1/services", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(PageParams),
    responses((status = 200, body = List<ServiceOut>), (status = 403, body = Problem)))]
async fn list_services(
    State(state): State<AppState>,
    _auth: Auth,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<ServiceOut>>, ApiError> {
    let page = params.parse()?;
    let rows = state.monitoring.list(page.after, i64::from(page.limit) + 1).await?;
    let list = List::from_overfetch(rows, page, |s| s.id);
    let maintenance = state.monitoring.in_maintenance().await?;
    let items = list.items.into_iter().map(|row| MonitoringService::render(row, &maintenance)).collect();
    Ok(Json(List { items, next_cursor: list.next_cursor }))
}

/// Add a service (operator, admin). Its first check runs within one interval.
#[utoipa::path(post, path = "/api/v1/services", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    request_body = ServiceBody,
    responses((status = 201, body = CreatedServiceOut), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_service(
    State(state): State<AppState>,
    _auth: Auth,
    ApiJson(body): ApiJson<ServiceBody>,
) -> Result<impl IntoResponse, ApiError> {
    let done = state.monitoring.create(body.into()).await?;
    Ok((StatusCode::CREATED, Json(created(done.service.into(), done.heartbeat_secret))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// The resource's id.
    pub id: i64,
}

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(IdPath),
    responses((status = 200, body = ServiceOut), (status = 404, body = Problem)))]
async fn get_service(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<ServiceOut>, ApiError> {
    let maintenance = state.monitoring.in_maintenance().await?;
    Ok(Json(MonitoringService::render(state.monitoring.get(id).await?, &maintenance)))
}

/// Change a service (operator, admin); absent fields stay as they are.
#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(IdPath),
    request_body = ServiceBody,
    responses((status = 200, body = ServiceOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_service(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<ServiceBody>,
) -> Result<Json<ServiceOut>, ApiError> {
    Ok(Json(state.monitoring.update(id, body.into()).await?.into()))
}

/// Delete a service with its results and incidents (operator, admin).
#[utoipa::path(delete, path = "/api/v1/services/{id}", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(IdPath),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_service(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<StatusCode, ApiError> {
    state.monitoring.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A check's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckOut {
    /// `up`, `degraded` or `down` (after the latency threshold).
    pub status: String,
    pub latency_ms: f64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// TLS checks: when the certificate expires.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// The service after this result was applied.
    pub service: ServiceOut,
}

/// Run a service's check now; the result is stored and applied like any other.
#[utoipa::path(post, path = "/api/v1/services/{id}/check", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath), responses((status = 200, body = CheckOut), (status = 404, body = Problem)))]
async fn check_service(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<CheckOut>, ApiError> {
    let done = state.monitoring.check_now(id).await?;
    Ok(Json(CheckOut {
        status: done.status.as_str().to_string(),
        latency_ms: done.outcome.latency.as_secs_f64() * 1000.0,
        status_code: done.outcome.status_code,
        error: done.outcome.error,
        cert_expires_at: done.outcome.cert_expires_at,
        service: done.service.into(),
    }))
}

/// A new heartbeat secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatSecretOut {
    pub heartbeat_secret: String,
    pub heartbeat_path: String,
}

/// Replace a heartbeat service's secret (operator, admin); the old one stops working.
#[utoipa::path(post, path = "/api/v1/services/{id}/heartbeat-secret", tag = "monitoring",
    security(("bearer" = ["admin", "operator"])), params(IdPath),
    responses((status = 200, body = HeartbeatSecretOut), (status = 404, body = Problem)))]
async fn rotate_heartbeat(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<HeartbeatSecretOut>, ApiError> {
    let secret = state.monitoring.rotate_heartbeat(id).await?;
    Ok(Json(HeartbeatSecretOut { heartbeat_path: format!("/api/v1/heartbeat/{secret}"), heartbeat_secret: secret }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    pub secret: String,
}

/// Accepted beat.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeatOut {
    pub service_id: i64,
    pub status: String,
}

async fn beat(state: &AppState, secret: &str) -> Result<Json<BeatOut>, ApiError> {
    // Secrets are short; anything long is not one (and is not looked up).
    if secret.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let service = state.monitoring.heartbeat(secret).await?;
    Ok(Json(BeatOut { service_id: service.id, status: ServiceOut::from(service).status }))
}

/// A heartbeat from a pushed service (no bearer token: the secret is the credential).
#[utoipa::path(post, path = "/api/v1/heartbeat/{secret}", tag = "monitoring", params(SecretPath),
    responses((status = 200, body = BeatOut), (status = 404, body = Problem)))]
async fn heartbeat_post(
    State(state): State<AppState>,
    ApiPath(SecretPath { secret }): ApiPath<SecretPath>,
) -> Result<Json<BeatOut>, ApiError> {
    beat(&state, &secret).await
}

/// The same beat as a GET, for cron jobs and tools that can only fetch a URL.
#[utoipa::path(get, path = "/api/v1/heartbeat/{secret}", tag = "monitoring", params(SecretPath),
    responses((status = 200, body = BeatOut), (status = 404, body = Problem)))]
async fn heartbeat_get(
    State(state): State<AppState>,
    ApiPath(SecretPath { secret }): ApiPath<SecretPath>,
) -> Result<Json<BeatOut>, ApiError> {
    beat(&state, &secret).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// `open`, `acknowledged` or `resolved`.
    pub status: Option<String>,
    pub service_id: Option<i64>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(IncidentQuery),
    responses((status = 200, body = List<IncidentOut>), (status = 422, body = Problem)))]
async fn list_incidents(
    State(state): State<AppState>,
    _auth: Auth,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> Result<Json<List<IncidentOut>>, ApiError> {
    if let Some(s) = &q.status
        && !["open", "acknowledged", "resolved"].contains(&s.as_str())
    {
        return Err(ApiError::field("status", "must be open, acknowledged or resolved"));
    }
    let page = PageParams { limit: q.limit, cursor: q.cursor }.parse()?;
    let before_id = page.before();
    let filter = IncidentFilter { status: q.status, service_id: q.service_id, from: q.from, to: q.to, before_id };
    let items = state.monitoring.incidents(&filter, i64::from(page.limit) + 1).await?;
    Ok(Json(List::from_overfetch(items, page, |i| i.id)))
}

/// One incident with its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(IdPath),
    responses((status = 200, body = IncidentOut), (status = 404, body = Problem)))]
async fn get_incident(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<IncidentOut>, ApiError> {
    Ok(Json(state.monitoring.incident(id).await?))
}

/// An operator's optional comment, or a note's text.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentActionIn {
    /// 1–2000 characters; required for a note.
    pub message: Option<String>,
}

async fn act(
    state: &AppState,
    auth: &Auth,
    id: i64,
    action: Action,
    body: Option<IncidentActionIn>,
) -> Result<Json<IncidentOut>, ApiError> {
    let who = auth.0.user.id;
    let message = body.and_then(|b| b.message);
    Ok(Json(state.monitoring.act(id, action, who, message).await?))
}

/// Take an open incident (operator, admin): it no longer resolves by itself on recovery.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath), request_body(content = Option<IncidentActionIn>),
    responses((status = 200, body = IncidentOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn acknowledge_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    OptionalJson(body): OptionalJson<IncidentActionIn>,
) -> Result<Json<IncidentOut>, ApiError> {
    act(&state, &auth, id, Action::Acknowledge, body).await
}

/// Resolve an incident (operator, admin).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath), request_body(content = Option<IncidentActionIn>),
    responses((status = 200, body = IncidentOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn resolve_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    OptionalJson(body): OptionalJson<IncidentActionIn>,
) -> Result<Json<IncidentOut>, ApiError> {
    act(&state, &auth, id, Action::Resolve, body).await
}

/// Add a note to an incident's timeline (operator, admin).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath), request_body = IncidentActionIn,
    responses((status = 200, body = IncidentOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn note_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<IncidentActionIn>,
) -> Result<Json<IncidentOut>, ApiError> {
    act(&state, &auth, id, Action::Note, Some(body)).await
}
