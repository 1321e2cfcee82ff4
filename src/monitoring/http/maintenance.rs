//! `/api/v1/maintenance`: windows during which a service's checks run and
//! are stored but open no incident and count as no downtime.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::IdPath;
use super::wire::WindowOut;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, Auth};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_windows, create_window)).routes(routes!(delete_window))
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
