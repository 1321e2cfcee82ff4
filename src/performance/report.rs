//! The performance report: current figures, each figure's trend over the
//! last hour and day (least-squares slope per hour) and whether it crosses
//! its threshold at that rate, the firing database alerts, and rule-based
//! recommendations that each name the figure behind them. Rendered as JSON
//! for the API and as a table for `herald report`.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::sample::Sample;
use crate::alerts::wire::AlertOut;
use crate::config::PerformanceConfig;
use crate::monitoring::domain::figures::slope;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub backend: String,
    /// The latest sample (`null` before the first).
    pub current: Option<Sample>,
    pub trends: Vec<Trend>,
    /// Firing database alerts.
    pub alerts: Vec<AlertOut>,
    pub recommendations: Vec<Recommendation>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trend {
    /// The figure, as named in the sample (`pool.utilization`).
    pub figure: String,
    pub current: Option<f64>,
    /// Change per hour over the last hour and the last day (`null` with too few samples).
    pub slope_per_hour_1h: Option<f64>,
    pub slope_per_hour_24h: Option<f64>,
    /// `rising`, `falling`, `steady` or `unknown` (last hour).
    pub direction: String,
    /// The alert threshold, when the figure has one.
    pub threshold: Option<f64>,
    /// Hours until the threshold is crossed at the last hour's rate, when it is heading there.
    pub crosses_in_hours: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PerformanceRecommendation)]
pub struct Recommendation {
    /// The figure that triggered it.
    pub figure: String,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

/// A figure the report follows: name, how to read it, its threshold and
/// whether crossing means going above (`true`) or below.
struct Figure {
    name: &'static str,
    read: fn(&Sample) -> Option<f64>,
    threshold: Option<f64>,
    above: bool,
}

fn figures(c: &PerformanceConfig) -> Vec<Figure> {
    vec![
        Figure {
            name: "pool.utilization",
            read: |s| Some(s.pool.utilization),
            threshold: Some(c.pool_utilization_warning),
            above: true,
        },
        Figure { name: "acquire_wait.p99_ms", read: |s| Some(s.acquire_wait.p99_ms), threshold: None, above: true },
        Figure {
            name: "queries.avg_ms",
            read: |s| (s.queries.count > 0).then_some(s.queries.avg_ms),
            threshold: Some(c.avg_query_ms_alert),
            above: true,
        },
        Figure { name: "queries.p95_ms", read: |s| Some(s.queries.p95_ms), threshold: None, above: true },
        Figure { name: "queries.per_second", read: |s| Some(s.queries.per_second), threshold: None, above: true },
        Figure {
            name: "errors.rate",
            read: |s| (s.queries.count > 0).then_some(s.errors.rate),
            threshold: Some(c.error_rate_critical),
            above: true,
        },
        Figure { name: "memory.ratio", read: |s| Some(s.memory.ratio), threshold: Some(c.memory_warning), above: true },
        Figure {
            name: "postgres.cache_hit_ratio",
            read: |s| s.postgres.as_ref().and_then(|p| p.cache_hit_ratio),
            threshold: Some(c.cache_hit_warning),
            above: false,
        },
    ]
}

/// Build the report from samples (oldest first, the last day's worth).
pub fn build(
    now: DateTime<Utc>,
    backend: &str,
    samples: &[Sample],
    alerts: Vec<AlertOut>,
    c: &PerformanceConfig,
) -> Report {
    let current = samples.last().cloned();
    let hour_ago = now - chrono::Duration::hours(1);
    let mut trends = Vec::new();
    for f in figures(c) {
        let points = |since: DateTime<Utc>| -> Vec<(f64, f64)> {
            samples
                .iter()
                .filter(|s| s.taken_at >= since)
                .filter_map(|s| Some(((s.taken_at - now).num_seconds() as f64 / 3600.0, (f.read)(s)?)))
                .collect()
        };
        let value = current.as_ref().and_then(|s| (f.read)(s));
        if value.is_none() && f.name.starts_with("postgres.") && backend != "postgres" {
            continue;
        }
        let hour = slope(&points(hour_ago));
        let day = slope(&points(now - chrono::Duration::hours(24)));
        let direction = match hour {
            None => "unknown",
            Some(s) if s.abs() < f64::EPSILON => "steady",
            Some(s) if s > 0.0 => "rising",
            Some(_) => "falling",
        };
        let crosses_in_hours = match (value, hour, f.threshold) {
            (Some(v), Some(rate), Some(t)) if f.above && rate > 0.0 && v < t => Some((t - v) / rate),
            (Some(v), Some(rate), Some(t)) if !f.above && rate < 0.0 && v > t => Some((v - t) / -rate),
            _ => None,
        };
        trends.push(Trend {
            figure: f.name.into(),
            current: value,
            slope_per_hour_1h: hour,
            slope_per_hour_24h: day,
            direction: direction.into(),
            threshold: f.threshold,
            crosses_in_hours,
        });
    }
    let recommendations = recommend(samples, &trends, c);
    Report { generated_at: now, backend: backend.into(), current, trends, alerts, recommendations }
}

/// The rules (documented in docs/performance.md); each names its figure.
fn recommend(samples: &[Sample], trends: &[Trend], c: &PerformanceConfig) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let recent: Vec<&Sample> = samples.iter().rev().take(4).collect();
    // Sustained: every one of the last four samples (a minute at the default interval).
    let sustained = |read: fn(&Sample) -> f64, over: f64| recent.len() == 4 && recent.iter().all(|s| read(s) > over);
    if sustained(|s| s.pool.utilization, 0.7) {
        let v = recent[0].pool.utilization;
        out.push(Recommendation {
            figure: "pool.utilization".into(),
            value: v,
            threshold: 0.7,
            message: format!(
                "pool utilization has stayed above 70 % ({:.0} % now): raise pool.max_connections, or find the slow \
                 operation holding connections (see the slowest operations in /api/v1/system/database)",
                v * 100.0
            ),
        });
    }
    if let Some(s) = recent.first() {
        if s.queries.count > 0 && s.queries.avg_ms > 100.0 {
            out.push(Recommendation {
                figure: "queries.avg_ms".into(),
                value: s.queries.avg_ms,
                threshold: 100.0,
                message: format!(
                    "average query time is {:.0} ms, above the 100 ms target: look at the slow statements listed in \
                     the report and the indexes they need",
                    s.queries.avg_ms
                ),
            });
        }
        if s.queries.count >= super::rules::MIN_QUERIES_FOR_RATE && s.errors.rate > 0.01 {
            out.push(Recommendation {
                figure: "errors.rate".into(),
                value: s.errors.rate,
                threshold: 0.01,
                message: format!(
                    "{:.1} % of queries fail (acceptable: under 1 %): the server log names each failing operation",
                    s.errors.rate * 100.0
                ),
            });
        }
        if let Some(ratio) = s.postgres.as_ref().and_then(|p| p.cache_hit_ratio)
            && ratio < c.cache_hit_warning
        {
            out.push(Recommendation {
                figure: "postgres.cache_hit_ratio".into(),
                value: ratio,
                threshold: c.cache_hit_warning,
                message: format!(
                    "PostgreSQL serves {:.1} % of reads from its cache: raise shared_buffers, or add the index a \
                     sequential scan is missing",
                    ratio * 100.0
                ),
            });
        }
        if s.memory.ratio > c.memory_warning {
            out.push(Recommendation {
                figure: "memory.ratio".into(),
                value: s.memory.ratio,
                threshold: c.memory_warning,
                message: "herald is close to its memory limit: raise the limit, or lower pool.sqlite_cache_kib and \
                          realtime.send_queue"
                    .into(),
            });
        }
        if !s.slow_queries.top.is_empty() && s.slow_queries.count > 0 {
            let worst = &s.slow_queries.top[0];
            out.push(Recommendation {
                figure: "slow_queries.count".into(),
                value: s.slow_queries.count as f64,
                threshold: 0.0,
                message: format!(
                    "{} slow queries in the last window; the worst ({:.0} ms) was: {}",
                    s.slow_queries.count, worst.worst_ms, worst.sql
                ),
            });
        }
    }
    if let Some(t) = trends.iter().find(|t| t.figure == "queries.p95_ms")
        && let (Some(hour), Some(day)) = (t.slope_per_hour_1h, t.slope_per_hour_24h)
        && hour > 0.0
        && day > 0.0
        && t.current.is_some_and(|v| v > 10.0)
    {
        out.push(Recommendation {
            figure: "queries.p95_ms".into(),
            value: t.current.unwrap_or_default(),
            threshold: 0.0,
            message: format!(
                "query p95 keeps rising ({hour:+.1} ms per hour over the last hour, {day:+.1} over the day): a table \
                 is growing past its indexes, or load is rising"
            ),
        });
    }
    for t in trends.iter().filter(|t| t.crosses_in_hours.is_some_and(|h| h < 24.0)) {
        out.push(Recommendation {
            figure: t.figure.clone(),
            value: t.current.unwrap_or_default(),
            threshold: t.threshold.unwrap_or_default(),
            message: format!(
                "{} crosses its threshold in about {:.1} hours at the current rate",
                t.figure,
                t.crosses_in_hours.unwrap_or_default()
            ),
        });
    }
    out
}

/// The report as a table for a terminal.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "herald performance report — {} ({})", r.generated_at.format("%Y-%m-%d %H:%M:%S UTC"), r.backend);
    let Some(s) = &r.current else {
        let _ = writeln!(out, "\nNo samples yet: a running herald samples every performance.sample_interval_seconds.");
        return out;
    };
    let _ = writeln!(out, "\nCurrent (sample at {}, window {:.0} s)", s.taken_at.format("%H:%M:%S"), s.window_seconds);
    let rows: Vec<(String, String)> = vec![
        (
            "pool".into(),
            format!(
                "{}/{} in use, {} idle, {} waiting ({:.0} %)",
                s.pool.in_use,
                s.pool.max,
                s.pool.idle,
                s.pool.waiting,
                s.pool.utilization * 100.0
            ),
        ),
        ("acquire wait".into(), format!("p50 {:.2} ms, p99 {:.2} ms", s.acquire_wait.p50_ms, s.acquire_wait.p99_ms)),
        (
            "queries".into(),
            format!(
                "{} ({:.1}/s), avg {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
                s.queries.count, s.queries.per_second, s.queries.avg_ms, s.queries.p95_ms, s.queries.p99_ms
            ),
        ),
        ("slow queries".into(), format!("{} over {} ms", s.slow_queries.count, s.slow_queries.threshold_ms)),
        ("errors".into(), format!("{} ({:.2} %)", s.errors.count, s.errors.rate * 100.0)),
        (
            "memory".into(),
            format!(
                "{:.1} MiB of {:.0} MiB ({}), {:.1} %",
                s.memory.rss_bytes as f64 / 1048576.0,
                s.memory.limit_bytes as f64 / 1048576.0,
                s.memory.limit_source,
                s.memory.ratio * 100.0
            ),
        ),
    ];
    let mut rows = rows;
    match &s.postgres {
        Some(p) => {
            rows.push(("cache hit".into(), p.cache_hit_ratio.map_or("n/a".into(), |r| format!("{:.2} %", r * 100.0))));
            rows.push(("connections".into(), p.connections.map_or("n/a".into(), |c| c.to_string())));
            rows.push(("deadlocks".into(), p.deadlocks.map_or("n/a".into(), |d| d.to_string())));
            if let Some(note) = &p.statements_note {
                rows.push(("statements".into(), note.clone()));
            }
        }
        None => rows.push(("postgres figures".into(), format!("not applicable ({})", s.not_applicable.join(", ")))),
    }
    table(&mut out, &["figure", "value"], rows.into_iter().map(|(a, b)| vec![a, b]).collect());
    let _ = writeln!(out, "\nTrends (change per hour)");
    let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4}"));
    table(
        &mut out,
        &["figure", "now", "last hour", "last day", "direction", "threshold", "crosses in"],
        r.trends
            .iter()
            .map(|t| {
                vec![
                    t.figure.clone(),
                    opt(t.current),
                    opt(t.slope_per_hour_1h),
                    opt(t.slope_per_hour_24h),
                    t.direction.clone(),
                    opt(t.threshold),
                    t.crosses_in_hours.map_or("—".into(), |h| format!("{h:.1} h")),
                ]
            })
            .collect(),
    );
    let _ = writeln!(out, "\nFiring alerts: {}", if r.alerts.is_empty() { "none" } else { "" });
    for a in &r.alerts {
        let _ = writeln!(out, "  [{}] {} — {}", a.severity, a.key, a.message);
    }
    let _ = writeln!(out, "\nRecommendations: {}", if r.recommendations.is_empty() { "none" } else { "" });
    for rec in &r.recommendations {
        let _ = writeln!(out, "  - ({}) {}", rec.figure, rec.message);
    }
    out
}

fn table(out: &mut String, header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect::<Vec<_>>().join("  ")
    };
    let _ = writeln!(out, "{}", line(header.iter().map(|h| h.to_string()).collect()).trim_end());
    let _ = writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    for row in rows {
        let _ = writeln!(out, "{}", line(row).trim_end());
    }
}
