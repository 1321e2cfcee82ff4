//! Figures and maintenance over HTTP: `/api/v1/services/{id}/uptime`,
//! `…/metrics`, `…/trends`, the public `/api/v1/status`, and
//! `/api/v1/maintenance`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::history::TrendsOut;
use super::http::IdPath;
use super::store::WindowRow;
use super::views::{MAX_BUCKETS, MAX_RAW_RANGE_HOURS, MetricBucketOut, StatusPage, UptimeWindows};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(uptime))
        .routes(routes!(metrics))
        .routes(routes!(trends))
        .routes(routes!(status))
        .routes(routes!(list_windows, create_window))
        .routes(routes!(delete_window))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start (inclusive), RFC 3339.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), RFC 3339; default now.
    pub to: Option<DateTime<Utc>>,
    /// Metrics only: bucket size in seconds (60 to 86 400); by default chosen from the range.
    pub bucket: Option<i64>,
}

fn range(q: &RangeQuery, now: DateTime<Utc>, default: Duration) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - default);
    if from >= to {
        return Err(ApiError::field("from", "must be before to"));
    }
    if to - from > Duration::days(400) {
        return Err(ApiError::field("from", "a range spans at most 400 days"));
    }
    Ok((from, to))
}

/// Uptime over 24 h, 7 d and 30 d — and `from`/`to` when given — with the checks each rests on.
#[utoipa::path(get, path = "/api/v1/services/{id}/uptime", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath, RangeQuery),
    responses((status = 200, body = UptimeWindows), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn uptime(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<UptimeWindows>, ApiError> {
    let custom = if q.from.is_some() || q.to.is_some() {
        Some(range(&q, state.monitoring.now(), Duration::days(1))?)
    } else {
        None
    };
    Ok(Json(state.monitoring.uptime(id, custom).await?))
}

/// Latency (avg, p95, min, max) and status counts per bucket.
#[utoipa::path(get, path = "/api/v1/services/{id}/metrics", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath, RangeQuery),
    responses((status = 200, body = Vec<MetricBucketOut>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn metrics(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<Vec<MetricBucketOut>>, ApiError> {
    let (from, to) = range(&q, state.monitoring.now(), Duration::days(1))?;
    let span = (to - from).num_seconds();
    let bucket = q.bucket.unwrap_or(match span {
        s if s <= 6 * 3600 => 60,
        s if s <= 14 * 86_400 => 3600,
        _ => 86_400,
    });
    if !(60..=86_400).contains(&bucket) {
        return Err(ApiError::field("bucket", "must be 60 to 86400 seconds"));
    }
    if span / bucket > MAX_BUCKETS {
        return Err(ApiError::field("bucket", format!("the range would have more than {MAX_BUCKETS} buckets")));
    }
    if bucket % 3600 != 0 && span > MAX_RAW_RANGE_HOURS * 3600 {
        return Err(ApiError::field(
            "bucket",
            format!("buckets under an hour read raw results: at most {MAX_RAW_RANGE_HOURS} h; use 3600 or more"),
        ));
    }
    Ok(Json(state.monitoring.metrics(id, from, to, bucket).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Window in hours (6 to 720); default 168 (7 days).
    pub hours: Option<i64>,
}

/// Direction of latency and availability, flapping, and recommendations naming their figure.
#[utoipa::path(get, path = "/api/v1/services/{id}/trends", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath, TrendQuery),
    responses((status = 200, body = TrendsOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn trends(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> Result<Json<TrendsOut>, ApiError> {
    let hours = q.hours.unwrap_or(168);
    if !(6..=720).contains(&hours) {
        return Err(ApiError::field("hours", "must be 6 to 720"));
    }
    Ok(Json(state.monitoring.trends(id, hours).await?))
}

/// The public status page: every public service, its status and 90 days of daily uptime. No token.
#[utoipa::path(get, path = "/api/v1/status", tag = "monitoring", responses((status = 200, body = StatusPage)))]
async fn status(State(state): State<AppState>) -> Result<Json<StatusPage>, ApiError> {
    Ok(Json(state.monitoring.status_page().await?))
}

/// A maintenance window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowOut {
    pub id: i64,
    /// Null: every service.
    pub service_id: Option<i64>,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<WindowRow> for WindowOut {
    fn from(w: WindowRow) -> Self {
        Self {
            id: w.id,
            service_id: w.service_id,
            title: w.title,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            created_by: w.created_by,
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowIn {
    /// Omit for a window over every service.
    pub service_id: Option<i64>,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most 31 days later.
    pub ends_at: DateTime<Utc>,
}

/// Current and upcoming maintenance windows, soonest first.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    responses((status = 200, body = Vec<WindowOut>)))]
async fn list_windows(State(state): State<AppState>, _auth: Auth) -> Result<Json<Vec<WindowOut>>, ApiError> {
    Ok(Json(state.monitoring.windows().await?.into_iter().map(WindowOut::from).collect()))
}

/// Schedule maintenance (operator, admin): checks still run and are stored,
/// but open no incident and do not count as downtime.
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    request_body = WindowIn,
    responses((status = 201, body = WindowOut), (status = 422, body = Problem)))]
async fn create_window(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<WindowIn>,
) -> Result<impl IntoResponse, ApiError> {
    let by = auth.0.user.id;
    let w = state.monitoring.add_window(body.service_id, body.title, body.starts_at, body.ends_at, by).await?;
    Ok((StatusCode::CREATED, Json(WindowOut::from(w))))
}

/// Remove a maintenance window (operator, admin).
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "monitoring", security(("bearer" = ["admin", "operator"])),
    params(IdPath), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_window(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<StatusCode, ApiError> {
    state.monitoring.delete_window(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
