//! `/api/v1/incidents…`: the incident workflow over HTTP (open →
//! acknowledged → resolved, notes), thin handlers over the
//! [`MonitoringService`](crate::monitoring::MonitoringService).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::IdPath;
use super::wire::IncidentOut;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth, OptionalJson};
use crate::http::pagination::{List, PageParams};
use crate::monitoring::domain::IncidentStatus;
use crate::monitoring::store::{Action, IncidentFilter};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_incidents))
        .routes(routes!(get_incident))
        .routes(routes!(acknowledge_incident))
        .routes(routes!(resolve_incident))
        .routes(routes!(note_incident))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    pub status: Option<IncidentStatus>,
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
