//! `/api/v1/alerts…` (operators and admins read) and
//! `/api/v1/alert-channels…` (admins manage): thin handlers over
//! [`AlertService`](super::AlertService). Channel secrets are accepted on
//! write and never returned.

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

use super::channels::Severity;
use super::lifecycle::AlertState;
use super::service::{AlertError, ChannelIn};
use super::store::AlertFilter;
use super::wire::{AlertDetailOut, AlertOut, ChannelOut};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::http::pagination::{List, PageParams};
use crate::state::AppState;

/// Who may read alerts.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(get_alert))
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, patch_channel, delete_channel))
        .routes(routes!(test_channel))
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Invalid(v) => ApiError::Validation(v),
            AlertError::NotFound => ApiError::NotFound,
            AlertError::Delivery(detail) => {
                ApiError::BadGateway(format!("the test message was not delivered: {detail}"))
            }
            AlertError::Storage(s) => s.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    pub state: Option<AlertState>,
    pub severity: Option<Severity>,
    /// `database` or `service`.
    pub source: Option<String>,
    /// Fired at or after.
    pub from: Option<DateTime<Utc>>,
    /// Fired before.
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn one_of(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => {
            Err(ApiError::field(field, format!("one of {}", allowed.join(", "))))
        }
        _ => Ok(()),
    }
}

/// Alerts, newest first (operators, admins).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = ["admin", "operator"])), params(AlertQuery),
    responses((status = 200, body = List<AlertOut>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_alerts(
    State(state): State<AppState>,
    _auth: Auth,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<List<AlertOut>>, ApiError> {
    one_of("source", &q.source, &super::SOURCES)?;
    let page = PageParams { limit: q.limit, cursor: q.cursor }.parse()?;
    let before_id = page.before();
    let filter =
        AlertFilter { state: q.state, severity: q.severity, source: q.source, from: q.from, to: q.to, before_id };
    let items: Vec<AlertOut> =
        state.alerts.alerts(&filter, i64::from(page.limit) + 1).await?.into_iter().map(AlertOut::from).collect();
    Ok(Json(List::from_overfetch(items, page, |a| a.id)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// The resource's id.
    pub id: i64,
}

/// One alert with its deliveries (state, attempts, last error).
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", security(("bearer" = ["admin", "operator"])), params(IdPath),
    responses((status = 200, body = AlertDetailOut), (status = 404, body = Problem)))]
async fn get_alert(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<AlertDetailOut>, ApiError> {
    let (alert, deliveries) = state.alerts.alert(id).await?;
    Ok(Json(AlertDetailOut { alert: alert.into(), deliveries: deliveries.into_iter().map(Into::into).collect() }))
}

/// A channel to create, or the fields to change (absent ones stay; an
/// absent secret keeps the stored one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// 1–200 characters. Required on create.
    pub name: Option<String>,
    /// `in_app`, `webhook`, `slack`, `discord`, `email` or `ntfy`. Required on create; cannot change.
    pub kind: Option<String>,
    /// Kind-specific settings; secrets are write-only.
    #[schema(value_type = Object)]
    pub config: Option<Value>,
    /// `info`, `warning` (default) or `critical`.
    pub min_severity: Option<String>,
    /// Sources this channel takes: `database`, `service` (default both).
    pub sources: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

impl From<ChannelBody> for ChannelIn {
    fn from(b: ChannelBody) -> Self {
        ChannelIn {
            name: b.name,
            kind: b.kind,
            config: b.config,
            min_severity: b.min_severity,
            sources: b.sources,
            enabled: b.enabled,
        }
    }
}

/// Alert channels (admins).
#[utoipa::path(get, path = "/api/v1/alert-channels", tag = "alerts", security(("bearer" = ["admin"])),
    responses((status = 200, body = List<ChannelOut>), (status = 403, body = Problem)))]
async fn list_channels(State(state): State<AppState>, _auth: Auth) -> Result<Json<List<ChannelOut>>, ApiError> {
    let items = state.alerts.channels().await?.into_iter().map(ChannelOut::from).collect();
    Ok(Json(List { items, next_cursor: None }))
}

/// Add an alert channel (admins).
#[utoipa::path(post, path = "/api/v1/alert-channels", tag = "alerts", security(("bearer" = ["admin"])),
    request_body = ChannelBody,
    responses((status = 201, body = ChannelOut), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_channel(
    State(state): State<AppState>,
    _auth: Auth,
    ApiJson(body): ApiJson<ChannelBody>,
) -> Result<impl IntoResponse, ApiError> {
    let channel = state.alerts.create_channel(body.into()).await?;
    Ok((StatusCode::CREATED, Json(ChannelOut::from(channel))))
}

#[utoipa::path(get, path = "/api/v1/alert-channels/{id}", tag = "alerts", security(("bearer" = ["admin"])), params(IdPath),
    responses((status = 200, body = ChannelOut), (status = 404, body = Problem)))]
async fn get_channel(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<ChannelOut>, ApiError> {
    Ok(Json(state.alerts.channel(id).await?.into()))
}

/// Change an alert channel (admins); absent fields and secrets stay.
#[utoipa::path(patch, path = "/api/v1/alert-channels/{id}", tag = "alerts", security(("bearer" = ["admin"])), params(IdPath),
    request_body = ChannelBody,
    responses((status = 200, body = ChannelOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_channel(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> Result<Json<ChannelOut>, ApiError> {
    Ok(Json(state.alerts.update_channel(id, body.into()).await?.into()))
}

/// Delete an alert channel with its deliveries (admins).
#[utoipa::path(delete, path = "/api/v1/alert-channels/{id}", tag = "alerts", security(("bearer" = ["admin"])), params(IdPath),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_channel(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<StatusCode, ApiError> {
    state.alerts.delete_channel(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestOut {
    pub delivered: bool,
}

/// Send a test message through the channel now (admins): 200 when it got
/// through, 502 with the reason when not.
#[utoipa::path(post, path = "/api/v1/alert-channels/{id}/test", tag = "alerts", security(("bearer" = ["admin"])),
    params(IdPath),
    responses((status = 200, body = TestOut), (status = 404, body = Problem), (status = 502, body = Problem)))]
async fn test_channel(
    State(state): State<AppState>,
    _auth: Auth,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<TestOut>, ApiError> {
    state.alerts.test_channel(id).await?;
    Ok(Json(TestOut { delivered: true }))
}
