//! `/api/v1/services…` and `/api/v1/heartbeat/{secret}`: thin handlers over
//! the [`MonitoringService`](crate::monitoring::MonitoringService). The
//! heartbeat URL needs no token (its secret is the credential).

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

use super::IdPath;
use super::wire::ServiceOut;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::http::pagination::{List, PageParams};
use crate::monitoring::checks::CheckStatus;
use crate::monitoring::domain::{RawSettings, ShownStatus};
use crate::monitoring::service::ServiceIn;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(service_counts))
        .routes(routes!(get_service, patch_service, delete_service))
        .routes(routes!(check_service))
        .routes(routes!(rotate_heartbeat))
        .routes(routes!(heartbeat_post, heartbeat_get))
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
    let shown = state.monitoring.list_shown(page.after, i64::from(page.limit) + 1).await?;
    Ok(Json(List::from_overfetch(shown, page, |s| s.id)))
}

/// How many services show each status now (what the web overview's
/// counts are kept current with).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCountsOut {
    pub all: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub unknown: u64,
    pub paused: u64,
    pub maintenance: u64,
}

/// Services by the status they show.
#[utoipa::path(get, path = "/api/v1/services/counts", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    responses((status = 200, body = StatusCountsOut), (status = 403, body = Problem)))]
async fn service_counts(State(state): State<AppState>, _auth: Auth) -> Result<Json<StatusCountsOut>, ApiError> {
    let c = state.monitoring.status_counts().await?;
    Ok(Json(StatusCountsOut {
        all: c.total(),
        up: c.up,
        degraded: c.degraded,
        down: c.down,
        unknown: c.unknown,
        paused: c.paused,
        maintenance: c.maintenance,
    }))
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

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "monitoring", security(("bearer" = ["admin", "operator"])), params(IdPath),
    responses((status = 200, body = ServiceOut), (status = 404, body = Problem)))]
async fn get_service(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<ServiceOut>, ApiError> {
    Ok(Json(state.monitoring.shown(id).await?))
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
    /// After the latency threshold.
    pub status: CheckStatus,
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
        status: done.status,
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
    pub status: ShownStatus,
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
