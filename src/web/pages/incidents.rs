//! `/incidents`: open, acknowledged and resolved incidents; `/incidents/{id}`:
//! the whole timeline, and acknowledging, resolving and notes. The lists
//! and the timeline refresh themselves when the `incidents` channel says
//! something changed (the script).

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::PageId;
use crate::monitoring::MonitoringError;
use crate::monitoring::domain::incident::{IncidentStatus, TimelineKind};
use crate::monitoring::http::wire::IncidentOut;
use crate::monitoring::store::{Action, IncidentFilter};
use crate::state::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::{self, Chrome};

pub fn status_value(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Open => "open",
        IncidentStatus::Acknowledged => "acknowledged",
        IncidentStatus::Resolved => "resolved",
    }
}

fn kind_label(k: TimelineKind) -> &'static str {
    match k {
        TimelineKind::Opened => "Opened",
        TimelineKind::Acknowledged => "Acknowledged",
        TimelineKind::Recovered => "Recovered",
        TimelineKind::Resolved => "Resolved",
        TimelineKind::Note => "Note",
    }
}

pub struct IncidentItem {
    pub id: i64,
    pub service: String,
    pub service_id: i64,
    pub status: &'static str,
    pub started: String,
    pub started_at: String,
    pub cause: String,
    pub last: String,
}

pub struct Section {
    pub id: &'static str,
    pub heading: &'static str,
    pub items: Vec<IncidentItem>,
    pub empty: &'static str,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    chrome: Chrome,
    sections: Vec<Section>,
}

/// The names of these services, for the rows that show them.
async fn service_names(state: &AppState, incidents: &[IncidentOut]) -> Result<HashMap<i64, String>, WebError> {
    let mut ids: Vec<i64> = incidents.iter().map(|i| i.service_id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(state.monitoring.names(&ids).await?)
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let now = state.monitoring.now();
    let mut sections = Vec::new();
    let kinds = [
        ("open", "Open", IncidentStatus::Open, 100, "Nothing is down."),
        ("acknowledged", "Acknowledged", IncidentStatus::Acknowledged, 100, "No one is holding an incident."),
        ("resolved", "Resolved recently", IncidentStatus::Resolved, 30, "No incident has been resolved yet."),
    ];
    for (id, heading, status, limit, empty) in kinds {
        let filter = IncidentFilter { status: Some(status), ..IncidentFilter::default() };
        let incidents = state.monitoring.incidents(&filter, limit).await?;
        let names = service_names(&state, &incidents).await?;
        let items = incidents
            .into_iter()
            .map(|i| IncidentItem {
                id: i.id,
                service: names.get(&i.service_id).cloned().unwrap_or_else(|| format!("service {}", i.service_id)),
                service_id: i.service_id,
                status: status_value(i.status),
                started: view::ago(Some(i.started_at), now),
                started_at: i.started_at.to_rfc3339(),
                last: i.timeline.last().map(|t| t.message.clone()).unwrap_or_default(),
                cause: i.cause,
            })
            .collect();
        sections.push(Section { id, heading, items, empty });
    }
    let page = ListPage { chrome: Chrome::of(&state, &viewer, "incidents", "Incidents").await?, sections };
    Ok(Html(page.render()?))
}

pub struct Entry {
    pub kind: &'static str,
    pub label: &'static str,
    pub at: String,
    pub when: String,
    pub who: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    id: i64,
    service: String,
    service_id: i64,
    status: &'static str,
    cause: String,
    started: String,
    timeline: Vec<Entry>,
    can_acknowledge: bool,
    can_resolve: bool,
    error: Option<String>,
    note: String,
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    error: Option<String>,
    note: String,
) -> Result<Response, WebError> {
    let i = state.monitoring.incident(id).await?;
    let now = state.monitoring.now();
    let names = service_names(state, std::slice::from_ref(&i)).await?;
    let mut people: HashMap<i64, String> = HashMap::new();
    for actor in i.timeline.iter().filter_map(|t| t.actor_id) {
        if let std::collections::hash_map::Entry::Vacant(slot) = people.entry(actor) {
            let name = match state.accounts.user_by_id(actor).await {
                Ok(u) => u.display_name.or(u.email.map(|e| e.as_str().to_string())).unwrap_or(format!("user {actor}")),
                Err(_) => format!("user {actor}"),
            };
            slot.insert(name);
        }
    }
    let timeline = i
        .timeline
        .iter()
        .map(|t| Entry {
            kind: match t.kind {
                TimelineKind::Opened => "opened",
                TimelineKind::Acknowledged => "acknowledged",
                TimelineKind::Recovered => "recovered",
                TimelineKind::Resolved => "resolved",
                TimelineKind::Note => "note",
            },
            label: kind_label(t.kind),
            at: t.at.to_rfc3339(),
            when: format!("{} ({})", t.at.format("%Y-%m-%d %H:%M:%S UTC"), view::ago(Some(t.at), now)),
            who: t.actor_id.and_then(|a| people.get(&a).cloned()).unwrap_or_else(|| "herald".into()),
            message: t.message.clone(),
        })
        .collect();
    let status = status_value(i.status);
    let page = IncidentPage {
        chrome: Chrome::of(state, viewer, "incidents", format!("Incident {id}")).await?,
        id,
        service: names.get(&i.service_id).cloned().unwrap_or_else(|| format!("service {}", i.service_id)),
        service_id: i.service_id,
        status,
        cause: i.cause,
        started: format!("{} ({})", i.started_at.format("%Y-%m-%d %H:%M:%S UTC"), view::ago(Some(i.started_at), now)),
        timeline,
        can_acknowledge: i.status == IncidentStatus::Open,
        can_resolve: i.status != IncidentStatus::Resolved,
        error,
        note,
    };
    let code = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((code, Html(page.render()?)).into_response())
}

pub async fn page(State(state): State<AppState>, viewer: Viewer, PageId(id): PageId) -> Result<Response, WebError> {
    viewer.require_staff()?;
    render(&state, &viewer, id, None, String::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    message: String,
}

async fn act(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    action: Action,
    form: ActionForm,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    let message = form.message.trim();
    let note = (!message.is_empty()).then(|| message.to_string());
    match state.monitoring.act(id, action, viewer.user.id, note).await {
        Ok(_) => Ok(Redirect::to(&format!("/incidents/{id}")).into_response()),
        Err(MonitoringError::Invalid(errors)) => {
            let text = errors.iter().map(|e| format!("The note needs {}.", e.message)).collect::<Vec<_>>().join(" ");
            render(state, viewer, id, Some(text), form.message).await
        }
        Err(MonitoringError::State(detail)) => {
            render(state, viewer, id, Some(format!("Not done: {detail}.")), form.message).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn acknowledge(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    act(&state, &viewer, id, Action::Acknowledge, form).await
}

pub async fn resolve(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    act(&state, &viewer, id, Action::Resolve, form).await
}

pub async fn note(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    act(&state, &viewer, id, Action::Note, form).await
}
