//! `/services/{id}`: one service — its figures over a chosen range, 90
//! daily uptime bars, recent checks, incidents and maintenance — and the
//! actions on it (pause, resume, check now, new heartbeat URL, delete).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{Duration, DurationRound, Utc};
use serde::Deserialize;

use super::PageId;
use super::overview::{status_label, status_value};
use crate::monitoring::checks::Kind;
use crate::monitoring::domain::RawSettings;
use crate::monitoring::service::ServiceIn;
use crate::monitoring::store::IncidentFilter;
use crate::state::AppState;
use crate::web::chart::{self, Bar, LineChart};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::{self, Chrome};

/// The ranges a chart offers: (parameter, label, hours, bucket seconds).
const RANGES: [(&str, &str, i64, i64); 4] = [
    ("24h", "24 hours", 24, 3600),
    ("7d", "7 days", 168, 4 * 3600),
    ("30d", "30 days", 720, 86_400),
    ("90d", "90 days", 2160, 86_400),
];

#[derive(Debug, Default, Deserialize)]
pub struct ServiceParams {
    #[serde(default)]
    range: String,
    #[serde(default)]
    done: String,
}

pub struct Figure {
    pub label: &'static str,
    pub value: String,
}

pub struct CheckRow {
    pub at: String,
    pub ago: String,
    pub status: &'static str,
    pub label: &'static str,
    pub latency: String,
    pub code: String,
    pub error: String,
}

pub struct IncidentLine {
    pub id: i64,
    pub status: &'static str,
    pub started: String,
    pub resolved: String,
    pub cause: String,
}

pub struct WindowLine {
    pub title: String,
    pub starts: String,
    pub ends: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    chrome: Chrome,
    id: i64,
    name: String,
    kind: &'static str,
    target: String,
    status: &'static str,
    status_label: &'static str,
    enabled: bool,
    heartbeat: bool,
    facts: Vec<Figure>,
    done: Option<&'static str>,
    uptime: Vec<Figure>,
    range: &'static str,
    ranges: Vec<(&'static str, &'static str, bool)>,
    chart: LineChart,
    bars: Vec<Bar>,
    checks: Vec<CheckRow>,
    incidents: Vec<IncidentLine>,
    windows: Vec<WindowLine>,
}

/// What an action's redirect says when the page comes back.
fn done_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "Service added. Its first check runs within one interval.",
        "saved" => "Changes saved.",
        "paused" => "Paused: no checks run until you resume.",
        "resumed" => "Resumed: checks run again.",
        "checked" => "Checked just now: the newest result is at the top of Recent checks.",
        _ => return None,
    })
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    Query(params): Query<ServiceParams>,
) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let m = &state.monitoring;
    let s = m.shown(id).await?;
    let now = m.now();
    let (range, _, hours, bucket) = RANGES.iter().copied().find(|r| r.0 == params.range).unwrap_or(RANGES[0]);
    let windows = m.uptime(id, Some((now - Duration::days(90), now))).await?;
    let uptime = vec![
        Figure { label: "24 hours", value: view::percent(windows.day.ratio) },
        Figure { label: "7 days", value: view::percent(windows.week.ratio) },
        Figure { label: "30 days", value: view::percent(windows.month.ratio) },
        Figure { label: "90 days", value: view::percent(windows.range.as_ref().and_then(|r| r.ratio)) },
    ];
    let series = m.metrics(id, now - Duration::hours(hours), now, bucket).await?;
    let label_format = if hours <= 24 { "%H:%M" } else { "%b %d" };
    let labels: Vec<String> = series.iter().map(|b| b.start.format(label_format).to_string()).collect();
    let chart = LineChart::new(
        720.0,
        200.0,
        &labels,
        vec![
            ("p95", "95th percentile", series.iter().map(|b| b.latency_p95_ms).collect()),
            ("avg", "average", series.iter().map(|b| b.latency_avg_ms).collect()),
        ],
    );
    let today = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let days = m.metrics(id, today - Duration::days(89), now, 86_400).await?;
    let days: Vec<(String, Option<f64>)> =
        days.iter().map(|b| (b.start.format("%Y-%m-%d").to_string(), b.uptime)).collect();
    let checks = m
        .recent_checks(id, 20)
        .await?
        .into_iter()
        .map(|r| {
            let (status, label) = match (r.maintenance, r.status) {
                (true, _) => ("maintenance", "Maintenance"),
                (false, 0) => ("up", "Up"),
                (false, 1) => ("degraded", "Degraded"),
                _ => ("down", "Down"),
            };
            CheckRow {
                at: r.checked_at.to_rfc3339(),
                ago: view::ago(Some(r.checked_at), now),
                status,
                label,
                latency: view::millis(Some(f64::from(r.latency_us) / 1000.0)),
                code: r.status_code.map(|c| c.to_string()).unwrap_or_default(),
                error: r.error.unwrap_or_default(),
            }
        })
        .collect();
    let filter = IncidentFilter { service_id: Some(id), ..IncidentFilter::default() };
    let incidents = m
        .incidents(&filter, 10)
        .await?
        .into_iter()
        .map(|i| IncidentLine {
            id: i.id,
            status: super::incidents::status_value(i.status),
            started: view::ago(Some(i.started_at), now),
            resolved: i.resolved_at.map(|t| view::ago(Some(t), now)).unwrap_or_default(),
            cause: i.cause,
        })
        .collect();
    let windows = m
        .windows()
        .await?
        .into_iter()
        .filter(|w| w.service_id.is_none_or(|s| s == id))
        .map(|w| WindowLine {
            title: w.title,
            starts: w.starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ends: w.ends_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            active: w.starts_at <= now,
        })
        .collect();
    let mut facts = vec![
        Figure { label: "Checked every", value: format!("{} s (timeout {} s)", s.interval_seconds, s.timeout_seconds) },
        Figure {
            label: "Down after",
            value: format!("{} failed checks; up after {} good ones", s.failure_threshold, s.recovery_threshold),
        },
        Figure { label: "Last check", value: view::ago(s.last_checked_at, now) },
    ];
    if let Some(ms) = s.degraded_latency_ms {
        facts.push(Figure { label: "Degraded above", value: format!("{ms} ms") });
    }
    if let Some(at) = s.last_beat_at {
        facts.push(Figure { label: "Last heartbeat", value: view::ago(Some(at), now) });
    }
    if let Some(at) = s.cert_expires_at {
        let days = (at - Utc::now()).num_days();
        facts.push(Figure {
            label: "Certificate expires",
            value: format!("{} (in {days} days)", at.format("%Y-%m-%d")),
        });
    }
    if !s.tags.is_empty() {
        facts.push(Figure { label: "Tags", value: s.tags.join(", ") });
    }
    facts.push(Figure { label: "Status page", value: if s.public { "shown".into() } else { "not shown".into() } });
    let page = ServicePage {
        chrome: Chrome::of(&state, &viewer, "overview", s.name.clone()).await?,
        id,
        name: s.name,
        kind: s.kind.as_str(),
        target: s.target,
        status: status_value(s.status),
        status_label: status_label(s.status),
        enabled: s.enabled,
        heartbeat: s.kind == Kind::Heartbeat,
        facts,
        done: done_text(&params.done),
        uptime,
        range,
        ranges: RANGES.iter().map(|r| (r.0, r.1, r.0 == range)).collect(),
        chart,
        bars: chart::bars(&days, 720.0, 6.0),
        checks,
        incidents,
        windows,
    };
    Ok(Html(page.render()?))
}

async fn set_enabled(state: &AppState, id: i64, enabled: bool) -> Result<(), WebError> {
    let input = ServiceIn {
        kind: None,
        target: None,
        config: None,
        settings: RawSettings { enabled: Some(enabled), ..RawSettings::default() },
    };
    state.monitoring.update(id, input).await?;
    Ok(())
}

/// `POST /services/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require_staff()?;
    set_enabled(&state, id, false).await?;
    Ok(Redirect::to(&format!("/services/{id}?done=paused")))
}

/// `POST /services/{id}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require_staff()?;
    set_enabled(&state, id, true).await?;
    Ok(Redirect::to(&format!("/services/{id}?done=resumed")))
}

/// `POST /services/{id}/check`: a check now, stored like any other.
pub async fn check_now(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require_staff()?;
    state.monitoring.check_now(id).await?;
    Ok(Redirect::to(&format!("/services/{id}?done=checked")))
}

#[derive(Template)]
#[template(path = "heartbeat.html")]
struct HeartbeatPage {
    chrome: Chrome,
    id: i64,
    url: String,
}

/// The page that shows a heartbeat URL, the one time it can be shown.
pub async fn heartbeat_shown_once(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    secret: &str,
) -> Result<Response, WebError> {
    let page = HeartbeatPage {
        chrome: Chrome::of(state, viewer, "overview", "Heartbeat URL").await?,
        id,
        url: format!("/api/v1/heartbeat/{secret}"),
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /services/{id}/heartbeat-secret`: a new URL; the old one stops working.
pub async fn rotate_heartbeat(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    let secret = state.monitoring.rotate_heartbeat(id).await?;
    heartbeat_shown_once(&state, &viewer, id, &secret).await
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    heading: String,
    text: String,
    action: String,
    button: &'static str,
    back: String,
}

/// `GET /services/{id}/delete`: asked first, in words, without a script.
pub async fn confirm_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let s = state.monitoring.get(id).await?;
    let page = ConfirmPage {
        chrome: Chrome::of(&state, &viewer, "overview", format!("Delete {}", s.name)).await?,
        heading: format!("Delete {}?", s.name),
        text: "Its checks stop, and its results, figures and incidents are deleted. This cannot be undone.".into(),
        action: format!("/services/{id}/delete"),
        button: "Delete the service",
        back: format!("/services/{id}"),
    };
    Ok(Html(page.render()?))
}

/// `POST /services/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require_staff()?;
    state.monitoring.delete(id).await?;
    tracing::info!(service_id = id, by = viewer.user.id, "service deleted from the web app");
    Ok(Redirect::to("/"))
}
