//! `/healthz`, `/readyz`, `/metrics` and `/api/v1/system/database`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::Auth;
use crate::state::AppState;
use crate::storage::instrument::{OperationFigures, Percentiles};
use crate::storage::{PoolFigures, TableSize, migrations};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(database))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    /// Applied schema version; equals the version this build knows when ready.
    pub schema_version: Option<i64>,
    pub schema_known: i64,
}

/// The process is alive (no dependency is checked).
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready for traffic: the database answers and its schema is current.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> Response {
    let timeout = Duration::from_secs(2);
    let answers = state.db.ping(timeout).await;
    let schema = if answers {
        tokio::time::timeout(timeout, migrations::status(&state.db)).await.ok().and_then(Result::ok)
    } else {
        None
    };
    let current = schema.is_some_and(|s| s.is_current());
    let body = Readiness {
        status: if current { "ready" } else { "not_ready" },
        database: if answers { "ok" } else { "unreachable" },
        schema_version: schema.and_then(|s| s.applied),
        schema_known: schema.map(|s| s.known).unwrap_or_default(),
    };
    let status = if current { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// Live database figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseFigures {
    pub backend: &'static str,
    pub pool: PoolFigures,
    /// Time callers waited for a connection, over recent acquires.
    pub acquire_wait: Percentiles,
    /// Time per database call, over recent calls.
    pub query_time: Percentiles,
    pub queries_total: u64,
    pub errors_total: u64,
    pub slow_queries_total: u64,
    pub slow_query_threshold_ms: u64,
    /// Per repository operation since start-up, busiest first.
    pub operations: Vec<OperationFigures>,
    /// herald's tables with their indexes, largest first.
    pub tables: Vec<TableSize>,
}

/// Live pool and query figures (admin, operator).
#[utoipa::path(get, path = "/api/v1/system/database", tag = "system", security(("bearer" = ["admin", "operator"])),
    responses((status = 200, body = DatabaseFigures), (status = 403, body = Problem)))]
async fn database(State(state): State<AppState>, _auth: Auth) -> Result<Json<DatabaseFigures>, ApiError> {
    let db = &state.db;
    let m = db.metrics();
    Ok(Json(DatabaseFigures {
        backend: db.backend(),
        pool: db.figures(),
        acquire_wait: m.acquire_percentiles(),
        query_time: m.query_percentiles(),
        queries_total: m.queries_total(),
        errors_total: m.errors_total(),
        slow_queries_total: m.slow_queries_total(),
        slow_query_threshold_ms: state.config.pool.slow_query_ms,
        operations: m.operations(),
        tables: db.table_sizes().await?,
    }))
}
