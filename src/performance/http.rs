//! `/api/v1/system/performance` and `/api/v1/system/performance/report`
//! (operators and admins).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::report::Report;
use super::sample::Sample;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Auth;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(performance)).routes(routes!(report))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PerformanceOut {
    /// The latest sample of this instance (`null` before the first).
    pub current: Option<Sample>,
    /// This instance's samples over the last hour, oldest first.
    pub samples: Vec<Sample>,
}

/// Current database figures and the last hour of samples (operators, admins).
#[utoipa::path(get, path = "/api/v1/system/performance", tag = "system", security(("bearer" = ["admin", "operator"])),
    responses((status = 200, body = PerformanceOut), (status = 403, body = Problem)))]
async fn performance(State(state): State<AppState>, _auth: Auth) -> Result<Json<PerformanceOut>, ApiError> {
    let since = state.monitoring.now() - chrono::Duration::hours(1);
    let samples = state.performance.samples(since).await?;
    Ok(Json(PerformanceOut { current: samples.last().cloned(), samples }))
}

/// The performance report: figures, trends, firing alerts, recommendations (operators, admins).
#[utoipa::path(get, path = "/api/v1/system/performance/report", tag = "system", security(("bearer" = ["admin", "operator"])),
    responses((status = 200, body = Report), (status = 403, body = Problem)))]
async fn report(State(state): State<AppState>, _auth: Auth) -> Result<Json<Report>, ApiError> {
    Ok(Json(state.performance.report().await?))
}
