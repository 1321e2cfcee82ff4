//! `/system/database`: the database as the performance monitor sees it —
//! live pool and query figures, the last hour's trends, slow statements,
//! firing alerts and the report's recommendations.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use chrono::Duration;

use crate::state::AppState;
use crate::web::chart::LineChart;
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::{self, Chrome};

pub struct Gauge {
    pub label: &'static str,
    pub value: String,
    pub detail: String,
    /// `ok`, `warn` or `bad`, for its colour.
    pub level: &'static str,
}

pub struct Titled {
    pub title: &'static str,
    pub chart: LineChart,
}

pub struct Line {
    pub text: String,
    pub detail: String,
}

pub struct Operation {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub avg: String,
    pub max: String,
}

#[derive(Template)]
#[template(path = "database.html")]
struct DatabasePage {
    chrome: Chrome,
    backend: &'static str,
    gauges: Vec<Gauge>,
    charts: Vec<Titled>,
    alerts: Vec<Line>,
    recommendations: Vec<Line>,
    slow: Vec<Line>,
    operations: Vec<Operation>,
    tables: Vec<Line>,
    sampled: String,
}

fn level(value: f64, warn: f64, bad: f64) -> &'static str {
    if value >= bad {
        "bad"
    } else if value >= warn {
        "warn"
    } else {
        "ok"
    }
}

fn bytes(b: f64) -> String {
    let mib = b / (1024.0 * 1024.0);
    if mib >= 1024.0 { format!("{:.1} GiB", mib / 1024.0) } else { format!("{mib:.1} MiB") }
}

fn ratio(r: f64) -> String {
    format!("{:.1} %", r * 100.0)
}

pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Html<String>, WebError> {
    viewer.require_staff()?;
    let db = &state.db;
    let m = db.metrics();
    let pool = db.figures();
    let queries = m.query_percentiles();
    let waits = m.acquire_percentiles();
    let report = state.performance.report().await?;
    let now = state.monitoring.now();
    let samples = state.performance.samples(now - Duration::hours(1)).await?;
    let thresholds = state.performance.config();
    let mut gauges = vec![
        Gauge {
            label: "Pool in use",
            value: format!("{} of {}", pool.in_use, pool.max),
            detail: format!("{} open, {} idle, {} waiting", pool.size, pool.idle, pool.waiting),
            level: level(pool.utilization, thresholds.pool_utilization_warning, 0.95),
        },
        Gauge {
            label: "Query time p95",
            value: view::millis(Some(queries.p95_ms)),
            detail: format!("p50 {} · p99 {}", view::millis(Some(queries.p50_ms)), view::millis(Some(queries.p99_ms))),
            level: level(queries.p95_ms, thresholds.avg_query_ms_alert, thresholds.avg_query_ms_alert * 4.0),
        },
        Gauge {
            label: "Connection wait p99",
            value: view::millis(Some(waits.p99_ms)),
            detail: format!("p50 {} · p95 {}", view::millis(Some(waits.p50_ms)), view::millis(Some(waits.p95_ms))),
            level: level(waits.p99_ms, 50.0, 500.0),
        },
        Gauge {
            label: "Queries",
            value: m.queries_total().to_string(),
            detail: format!(
                "{} slow (over {} ms) since start",
                m.slow_queries_total(),
                state.config.pool.slow_query_ms
            ),
            level: "ok",
        },
    ];
    if let Some(s) = &report.current {
        gauges.push(Gauge {
            label: "Error rate",
            value: ratio(s.errors.rate),
            detail: format!(
                "{} errors in the last {:.0} s; {} since start",
                s.errors.count,
                s.window_seconds,
                m.errors_total()
            ),
            level: level(s.errors.rate, 0.001, 0.01),
        });
        gauges.push(Gauge {
            label: "Memory",
            value: bytes(s.memory.rss_bytes as f64),
            detail: format!(
                "{} of the {} limit ({})",
                ratio(s.memory.ratio),
                bytes(s.memory.limit_bytes as f64),
                s.memory.limit_source
            ),
            level: level(s.memory.ratio, 0.8, 0.95),
        });
        if let Some(hit) = s.postgres.as_ref().and_then(|p| p.cache_hit_ratio) {
            gauges.push(Gauge {
                label: "Cache hit",
                value: ratio(hit),
                detail: "of blocks read, from PostgreSQL's buffers".into(),
                level: if hit >= 0.99 {
                    "ok"
                } else if hit >= 0.95 {
                    "warn"
                } else {
                    "bad"
                },
            });
        }
    }
    let labels: Vec<String> = samples.iter().map(|s| s.taken_at.format("%H:%M").to_string()).collect();
    let charts = vec![
        Titled {
            title: "Query time, ms",
            chart: LineChart::new(
                360.0,
                120.0,
                &labels,
                vec![
                    ("p95", "p95", samples.iter().map(|s| Some(s.queries.p95_ms)).collect()),
                    (
                        "avg",
                        "average",
                        samples.iter().map(|s| (s.queries.count > 0).then_some(s.queries.avg_ms)).collect(),
                    ),
                ],
            ),
        },
        Titled {
            title: "Pool in use",
            chart: LineChart::with_unit(
                360.0,
                120.0,
                &labels,
                vec![("avg", "utilization", samples.iter().map(|s| Some(s.pool.utilization)).collect())],
                ratio,
            ),
        },
        Titled {
            title: "Memory",
            chart: LineChart::with_unit(
                360.0,
                120.0,
                &labels,
                vec![("avg", "resident", samples.iter().map(|s| Some(s.memory.rss_bytes as f64)).collect())],
                bytes,
            ),
        },
    ];
    let alerts = report
        .alerts
        .iter()
        .map(|a| Line {
            text: a.message.clone(),
            detail: format!("{} · since {}", a.key, view::ago(Some(a.fired_at), now)),
        })
        .collect();
    let recommendations = report
        .recommendations
        .iter()
        .map(|r| Line {
            text: r.message.clone(),
            detail: format!("{} = {:.3} (threshold {:.3})", r.figure, r.value, r.threshold),
        })
        .collect();
    let slow = report
        .current
        .as_ref()
        .map(|s| {
            s.slow_queries
                .top
                .iter()
                .map(|q| Line {
                    text: q.sql.clone(),
                    detail: format!("{}× · worst {}", q.count, view::millis(Some(q.worst_ms))),
                })
                .collect()
        })
        .unwrap_or_default();
    let operations = m
        .operations()
        .into_iter()
        .take(12)
        .map(|o| Operation {
            name: o.operation.clone(),
            calls: o.calls,
            errors: o.errors,
            avg: view::millis(Some(o.avg_ms)),
            max: view::millis(Some(o.max_ms)),
        })
        .collect();
    let tables = db
        .table_sizes()
        .await?
        .into_iter()
        .take(12)
        .map(|t| Line { text: t.name, detail: bytes(t.bytes as f64) })
        .collect();
    let page = DatabasePage {
        chrome: Chrome::of(&state, &viewer, "database", "Database").await?,
        backend: db.backend(),
        gauges,
        charts,
        alerts,
        recommendations,
        slow,
        operations,
        tables,
        sampled: report.current.as_ref().map(|s| view::ago(Some(s.taken_at), now)).unwrap_or_else(|| "not yet".into()),
    };
    Ok(Html(page.render()?))
}
