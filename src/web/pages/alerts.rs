//! `/alerts`: firing and resolved alerts; `/alerts/{id}`: one alert with
//! each delivery to each channel (state, attempts, the last error).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::PageId;
use crate::alerts::lifecycle::AlertState;
use crate::alerts::store::{AlertFilter, AlertRow};
use crate::state::AppState;
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::{self, Chrome};

pub struct AlertItem {
    pub id: i64,
    pub severity: &'static str,
    pub state: &'static str,
    pub source: String,
    pub message: String,
    pub fired: String,
    pub resolved: String,
}

fn item(a: AlertRow, now: chrono::DateTime<chrono::Utc>) -> AlertItem {
    AlertItem {
        id: a.id,
        severity: a.severity.as_str(),
        state: a.state.as_str(),
        source: a.source,
        message: a.message,
        fired: view::ago(Some(a.fired_at), now),
        resolved: a.resolved_at.map(|t| view::ago(Some(t), now)).unwrap_or_default(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AlertParams {
    #[serde(default)]
    state: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct ListPage {
    chrome: Chrome,
    items: Vec<AlertItem>,
    state: String,
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<AlertParams>,
) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let chosen = match params.state.as_str() {
        "firing" => Some(AlertState::Firing),
        "resolved" => Some(AlertState::Resolved),
        _ => None,
    };
    let now = state.monitoring.now();
    let filter = AlertFilter { state: chosen, ..AlertFilter::default() };
    let items = state.alerts.alerts(&filter, 100).await?.into_iter().map(|a| item(a, now)).collect();
    let chrome = Chrome::of(&state, &viewer, "alerts", "Alerts").await?;
    Ok(Html(ListPage { chrome, items, state: chosen.map(|s| s.as_str().to_string()).unwrap_or_default() }.render()?))
}

pub struct DeliveryItem {
    pub channel: String,
    pub event: String,
    pub state: &'static str,
    pub attempts: i32,
    pub when: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    chrome: Chrome,
    alert: AlertItem,
    key: String,
    value: String,
    deliveries: Vec<DeliveryItem>,
}

pub async fn page(State(state): State<AppState>, viewer: Viewer, PageId(id): PageId) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let now = state.monitoring.now();
    let (alert, deliveries) = state.alerts.alert(id).await?;
    let channels: HashMap<i64, String> = state.alerts.channels().await?.into_iter().map(|c| (c.id, c.name)).collect();
    let value = match (alert.value, alert.threshold) {
        (Some(v), Some(t)) => format!("{v:.3} (threshold {t:.3})"),
        (Some(v), None) => format!("{v:.3}"),
        _ => String::new(),
    };
    let key = alert.key.clone();
    let deliveries = deliveries
        .into_iter()
        .map(|d| DeliveryItem {
            channel: channels.get(&d.channel_id).cloned().unwrap_or_else(|| format!("channel {}", d.channel_id)),
            event: d.event,
            state: d.state.as_str(),
            attempts: d.attempts,
            when: match d.delivered_at {
                Some(at) => format!("delivered {}", view::ago(Some(at), now)),
                None => format!("next attempt {}", d.next_attempt_at.format("%H:%M:%S UTC")),
            },
            error: d.last_error.unwrap_or_default(),
        })
        .collect();
    let chrome = Chrome::of(&state, &viewer, "alerts", format!("Alert {id}")).await?;
    Ok(Html(AlertPage { chrome, alert: item(alert, now), key, value, deliveries }.render()?))
}
