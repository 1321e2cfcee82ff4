//! `/maintenance`: current and coming windows, scheduling one, ending one
//! early (the window is removed; checks already stored in it stay
//! maintenance).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::PageId;
use crate::monitoring::MonitoringError;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::Chrome;

pub struct WindowItem {
    pub id: i64,
    pub title: String,
    pub scope: String,
    pub service_id: Option<i64>,
    pub starts: String,
    pub ends: String,
    pub active: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WindowForm {
    title: String,
    service_id: String,
    starts_at: String,
    ends_at: String,
}

#[derive(Template)]
#[template(path = "maintenance.html")]
struct MaintenancePage {
    chrome: Chrome,
    windows: Vec<WindowItem>,
    form: WindowForm,
    errors: Vec<(String, String)>,
}

impl MaintenancePage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MaintenanceParams {
    #[serde(default)]
    service_id: Option<i64>,
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    form: WindowForm,
    errors: Vec<(String, String)>,
) -> Result<Response, WebError> {
    let now = state.monitoring.now();
    let rows = state.monitoring.windows().await?;
    let ids: Vec<i64> = rows.iter().filter_map(|w| w.service_id).collect();
    let names = state.monitoring.names(&ids).await?;
    let windows = rows
        .into_iter()
        .map(|w| WindowItem {
            id: w.id,
            scope: match w.service_id {
                Some(id) => names.get(&id).cloned().unwrap_or_else(|| format!("service {id}")),
                None => "every service".into(),
            },
            service_id: w.service_id,
            title: w.title,
            starts: w.starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ends: w.ends_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            active: w.starts_at <= now,
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let chrome = Chrome::of(state, viewer, "maintenance", "Maintenance").await?;
    Ok((status, Html(MaintenancePage { chrome, windows, form, errors }.render()?)).into_response())
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<MaintenanceParams>,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    let now = Utc::now();
    let form = WindowForm {
        service_id: params.service_id.map(|id| id.to_string()).unwrap_or_default(),
        starts_at: now.format("%Y-%m-%dT%H:%M").to_string(),
        ends_at: (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string(),
        ..WindowForm::default()
    };
    render(&state, &viewer, form, Vec::new()).await
}

/// A `datetime-local` value, read as UTC (the form says so).
fn utc(field: &str, raw: &str, errors: &mut Vec<(String, String)>) -> Option<DateTime<Utc>> {
    let parsed = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S"));
    match parsed {
        Ok(t) => Some(t.and_utc()),
        Err(_) => {
            errors.push((field.into(), "must be a date and time, e.g. 2026-12-24T02:00".into()));
            None
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<WindowForm>,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    let mut errors = Vec::new();
    let service_id = match form.service_id.trim() {
        "" => None,
        raw => match raw.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(("service_id".into(), "must be a service's number, or empty for every service".into()));
                None
            }
        },
    };
    let starts = utc("starts_at", &form.starts_at, &mut errors);
    let ends = utc("ends_at", &form.ends_at, &mut errors);
    let (Some(starts), Some(ends), true) = (starts, ends, errors.is_empty()) else {
        return render(&state, &viewer, form, errors).await;
    };
    let added = state.monitoring.add_window(service_id, form.title.clone(), starts, ends, viewer.user.id).await;
    match added {
        Ok(_) => Ok(Redirect::to("/maintenance").into_response()),
        Err(MonitoringError::Invalid(list)) => {
            let errors = list.into_iter().map(|FieldError { field, message }| (field, message)).collect();
            render(&state, &viewer, form, errors).await
        }
        Err(MonitoringError::NotFound) => {
            let errors = vec![("service_id".to_string(), "no service has this number".to_string())];
            render(&state, &viewer, form, errors).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /maintenance/{id}/end`.
pub async fn end(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require_staff()?;
    state.monitoring.delete_window(id).await?;
    Ok(Redirect::to("/maintenance"))
}
