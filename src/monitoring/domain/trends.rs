//! Trends and recommendations of one service over a window, from its
//! hourly series and its last day of results: plain arithmetic on plain
//! values, unit-tested through the API's trends test and here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{Aggregate, Bucket, slope};
use crate::monitoring::checks::Kind;

/// What the trends need to know of the service.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    pub kind: Kind,
    pub timeout_seconds: i32,
    /// TLS services: the certificate's expiry as last seen.
    pub cert_expires_at: Option<DateTime<Utc>>,
}

/// A recommendation and the figure behind it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendation {
    /// Stable code: `rising_p95`, `falling_availability`, `flapping`, `timeout_close`, `tls_renewal`.
    pub code: &'static str,
    pub message: String,
    /// The figure that triggered it, by name (as in the trends response).
    pub figure: &'static str,
    pub value: f64,
    pub threshold: f64,
}

/// The trends of a service over a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendsOut {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Hourly points the slopes rest on (hours with checks).
    pub points: usize,
    /// Mean of the hourly p95 latencies, ms.
    pub p95_mean_ms: Option<f64>,
    /// Least-squares slope of hourly p95 latency, ms per day.
    pub p95_slope_ms_per_day: Option<f64>,
    /// `rising`, `falling` or `steady` (a change under 10 % of the mean over the window is steady).
    pub latency_direction: &'static str,
    /// Least-squares slope of hourly availability, ratio per day.
    pub availability_slope_per_day: Option<f64>,
    pub availability_direction: &'static str,
    /// Changes between passing and failing results in the last 24 h.
    pub status_changes_24h: u64,
    pub flaps_per_hour: f64,
    pub recommendations: Vec<Recommendation>,
}

/// Status changes per hour at or above which a service is flapping.
pub const FLAPPING_PER_HOUR: f64 = 1.0;
/// A p95 at or above this share of the timeout is too close to it.
pub const TIMEOUT_SHARE: f64 = 0.8;
/// A rise (over the window) beyond this share of the mean is a trend, not noise.
pub const TREND_SHARE: f64 = 0.1;
/// Certificates expiring in fewer days than this should have been renewed.
pub const TLS_RENEWAL_DAYS: f64 = 30.0;

/// Work out trends over `[from, to)` (`to` is now) from an hourly series
/// and the last 24 h of raw results.
pub fn trends(
    service: Subject,
    hourly: &[Bucket],
    last_day: &[(DateTime<Utc>, i16, bool, i32)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> TrendsOut {
    let day = |t: DateTime<Utc>| (t - from).num_seconds() as f64 / 86_400.0;
    let p95: Vec<(f64, f64)> =
        hourly.iter().filter_map(|b| b.figures.latency_p95_ms().map(|v| (day(b.start), v))).collect();
    let avail: Vec<(f64, f64)> = hourly.iter().filter_map(|b| b.figures.uptime().map(|v| (day(b.start), v))).collect();
    let p95_mean = (!p95.is_empty()).then(|| p95.iter().map(|p| p.1).sum::<f64>() / p95.len() as f64);
    let p95_slope = slope(&p95);
    let avail_slope = slope(&avail);
    let span_days = (to - from).num_seconds() as f64 / 86_400.0;
    let latency_direction = match (p95_slope, p95_mean) {
        (Some(s), Some(m)) if s * span_days > TREND_SHARE * m => "rising",
        (Some(s), Some(m)) if -s * span_days > TREND_SHARE * m => "falling",
        _ => "steady",
    };
    let availability_direction = match avail_slope {
        Some(s) if s * span_days > 0.01 => "rising",
        Some(s) if -s * span_days > 0.01 => "falling",
        _ => "steady",
    };
    let changes = last_day
        .iter()
        .filter(|r| !r.2)
        .map(|r| r.1 == 2)
        .collect::<Vec<bool>>()
        .windows(2)
        .filter(|w| w[0] != w[1])
        .count() as u64;
    let flaps_per_hour = changes as f64 / 24.0;

    let mut recommendations = Vec::new();
    if latency_direction == "rising"
        && let (Some(s), Some(m)) = (p95_slope, p95_mean)
    {
        recommendations.push(Recommendation {
            code: "rising_p95",
            message: format!(
                "p95 latency is rising by {s:.1} ms per day (mean p95 {m:.1} ms over the window); look for a slow \
                 dependency or growing load before it reaches the degraded threshold"
            ),
            figure: "p95_slope_ms_per_day",
            value: s,
            threshold: TREND_SHARE * m / span_days.max(1e-9),
        });
    }
    if availability_direction == "falling"
        && let Some(s) = avail_slope
    {
        recommendations.push(Recommendation {
            code: "falling_availability",
            message: format!("availability is falling by {:.2} percentage points per day", -s * 100.0),
            figure: "availability_slope_per_day",
            value: s,
            threshold: -0.01 / span_days.max(1e-9),
        });
    }
    if flaps_per_hour >= FLAPPING_PER_HOUR {
        recommendations.push(Recommendation {
            code: "flapping",
            message: format!(
                "{changes} changes between passing and failing in the last 24 h ({flaps_per_hour:.1} per hour): the \
                 target is unstable, or raise failure_threshold / recovery_threshold to stop alert noise"
            ),
            figure: "flaps_per_hour",
            value: flaps_per_hour,
            threshold: FLAPPING_PER_HOUR,
        });
    }
    let timeout_ms = f64::from(service.timeout_seconds) * 1000.0;
    let window_p95 = {
        let mut all = Aggregate::default();
        hourly.iter().for_each(|b| all.merge(&b.figures));
        all.latency_p95_ms()
    };
    if let Some(p) = window_p95
        && p >= TIMEOUT_SHARE * timeout_ms
    {
        recommendations.push(Recommendation {
            code: "timeout_close",
            message: format!(
                "p95 latency {p:.0} ms is {:.0} % of the {} s timeout: checks will start failing on timeouts; raise \
                 timeout_seconds or find the slowness",
                p / timeout_ms * 100.0,
                service.timeout_seconds
            ),
            figure: "window_p95_ms",
            value: p,
            threshold: TIMEOUT_SHARE * timeout_ms,
        });
    }
    if service.kind == Kind::Tls
        && let Some(expires) = service.cert_expires_at
    {
        let days = (expires - to).num_seconds() as f64 / 86_400.0;
        if days < TLS_RENEWAL_DAYS {
            recommendations.push(Recommendation {
                code: "tls_renewal",
                message: format!(
                    "the certificate expires in {days:.1} days ({}); automated renewal usually happens 30 days \
                     before expiry, so renewal looks late or broken",
                    expires.to_rfc3339()
                ),
                figure: "certificate_days_left",
                value: days,
                threshold: TLS_RENEWAL_DAYS,
            });
        }
    }
    TrendsOut {
        from,
        to,
        points: p95.len(),
        p95_mean_ms: p95_mean,
        p95_slope_ms_per_day: p95_slope,
        latency_direction,
        availability_slope_per_day: avail_slope,
        availability_direction,
        status_changes_24h: changes,
        flaps_per_hour,
        recommendations,
    }
}
