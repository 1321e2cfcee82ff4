//! `/`: every service with its status, uptime and latency, counts by
//! status, filtered, searched, sorted and paginated on the server.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use crate::monitoring::domain::ShownStatus;
use crate::monitoring::service::OverviewQuery;
use crate::monitoring::store::{ServiceFilter, ServiceOrder};
use crate::state::AppState;
use crate::web::chart::Scale;
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::{self, Chrome};

/// Rows on a page: enough to scan, few enough to paint at once.
const PER_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct OverviewParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<u32>,
}

pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub count: u64,
    pub selected: bool,
}

pub struct Row {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub uptime_24h: String,
    pub uptime_7d: String,
    pub uptime_30d: String,
    pub latency: String,
    pub spark: String,
    pub last_check: String,
    pub last_check_at: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    rows: Vec<Row>,
    statuses: Vec<StatusOption>,
    total: u64,
    matching: u64,
    q: String,
    status: String,
    sort: String,
    page: u32,
    pages: u32,
    prev: Option<String>,
    next: Option<String>,
}

pub fn status_label(s: ShownStatus) -> &'static str {
    match s {
        ShownStatus::Up => "Up",
        ShownStatus::Degraded => "Degraded",
        ShownStatus::Down => "Down",
        ShownStatus::Unknown => "Unknown",
        ShownStatus::Paused => "Paused",
        ShownStatus::Maintenance => "Maintenance",
    }
}

pub fn status_value(s: ShownStatus) -> &'static str {
    match s {
        ShownStatus::Up => "up",
        ShownStatus::Degraded => "degraded",
        ShownStatus::Down => "down",
        ShownStatus::Unknown => "unknown",
        ShownStatus::Paused => "paused",
        ShownStatus::Maintenance => "maintenance",
    }
}

const STATUSES: [ShownStatus; 6] = [
    ShownStatus::Down,
    ShownStatus::Degraded,
    ShownStatus::Up,
    ShownStatus::Unknown,
    ShownStatus::Maintenance,
    ShownStatus::Paused,
];

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<OverviewParams>,
) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let status = STATUSES.into_iter().find(|s| status_value(*s) == params.status);
    let order = match params.sort.as_str() {
        "name" => ServiceOrder::Name,
        "checked" => ServiceOrder::LastChecked,
        _ => ServiceOrder::Worst,
    };
    let search: String = params.q.chars().take(200).collect();
    let query = OverviewQuery {
        filter: ServiceFilter { status, search: search.clone() },
        order,
        page: params.page.unwrap_or(1),
        per_page: PER_PAGE,
    };
    let overview = state.monitoring.overview(&query).await?;
    let now = overview.generated_at;
    let rows = overview
        .rows
        .into_iter()
        .map(|r| {
            let scale = Scale::fit(120.0, 24.0, [r.latency.as_slice()]);
            let s = r.service;
            Row {
                id: s.id,
                name: s.name,
                kind: s.kind.as_str(),
                target: s.target,
                status: status_value(s.status),
                status_label: status_label(s.status),
                uptime_24h: view::percent(r.uptime_24h),
                uptime_7d: view::percent(r.uptime_7d),
                uptime_30d: view::percent(r.uptime_30d),
                latency: view::millis(r.latency_24h_ms),
                spark: scale.line(&r.latency),
                last_check: view::ago(s.last_checked_at, now),
                last_check_at: s.last_checked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            }
        })
        .collect();
    let statuses = STATUSES
        .into_iter()
        .map(|s| StatusOption {
            value: status_value(s),
            label: status_label(s),
            count: overview.counts.of(s),
            selected: Some(s) == status,
        })
        .collect();
    let status_param = status.map(status_value).unwrap_or("");
    let link = |page: u32| {
        let mut query = form_urlencoded(&[("q", &search), ("status", status_param), ("sort", &params.sort)]);
        query.push_str(&format!("&page={page}"));
        format!("/?{query}")
    };
    let page = OverviewPage {
        chrome: Chrome::of(&state, &viewer, "overview", "Overview").await?,
        rows,
        statuses,
        total: overview.counts.total(),
        matching: overview.matching,
        q: search.clone(),
        status: status_param.to_string(),
        sort: params.sort.clone(),
        page: overview.page,
        pages: overview.pages,
        prev: (overview.page > 1).then(|| link(overview.page - 1)),
        next: (overview.page < overview.pages).then(|| link(overview.page + 1)),
    };
    Ok(Html(page.render()?))
}

/// `a=1&b=2`, each value percent-encoded, empty ones left out.
fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, crate::web::QUERY)))
        .collect::<Vec<_>>()
        .join("&")
}
