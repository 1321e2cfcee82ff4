//! Figures over HTTP: `/api/v1/services/{id}/uptime`, `…/metrics`,
//! `…/trends`, and the public `/api/v1/status`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::IdPath;
use super::wire::{MetricBucketOut, StatusPage, UptimeWindows};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiPath, ApiQuery, Auth};
use crate::monitoring::domain::trends::TrendsOut;
use crate::monitoring::service::{MAX_BUCKETS, MAX_RAW_RANGE_HOURS};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(uptime))
        .routes(routes!(metrics))
        .routes(routes!(trends))
        .routes(routes!(status))
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
