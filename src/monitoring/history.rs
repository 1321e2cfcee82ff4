//! Figures over time for one service: a range's aggregate and a series of
//! buckets, read from daily rollups, hourly rollups and raw results — each
//! part of the range from the coarsest source that covers it exactly — and
//! the trends and recommendations derived from them.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{Aggregate, slope};
use super::store::{DAY, HOUR, MonitoringStore, ServiceRow};
use crate::storage::StorageError;

/// Where one piece of a range is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Days,
    Hours,
    Raw,
}

/// Split `[from, to)` into pieces each read from one source: whole days
/// rolled up (when `days_ok`), then whole hours rolled up (when
/// `hours_ok`), raw results for the rest.
fn pieces(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    hours_to: Option<DateTime<Utc>>,
    days_to: Option<DateTime<Utc>>,
    hours_ok: bool,
    days_ok: bool,
) -> Vec<(Source, DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    if days_ok && let Some(rolled) = days_to {
        let a = ceil(from, DAY);
        let b = floor(to, DAY).min(rolled);
        if a < b {
            out.extend(pieces(from, a, hours_to, None, hours_ok, false));
            out.push((Source::Days, a, b));
            out.extend(pieces(b, to, hours_to, None, hours_ok, false));
            return out;
        }
    }
    if hours_ok && let Some(rolled) = hours_to {
        let a = ceil(from, HOUR);
        let b = floor(to, HOUR).min(rolled);
        if a < b {
            if from < a {
                out.push((Source::Raw, from, a));
            }
            out.push((Source::Hours, a, b));
            if b < to {
                out.push((Source::Raw, b, to));
            }
            return out;
        }
    }
    out.push((Source::Raw, from, to));
    out
}

fn floor(t: DateTime<Utc>, period: i32) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(period.into())).unwrap_or(t)
}

fn ceil(t: DateTime<Utc>, period: i32) -> DateTime<Utc> {
    let f = floor(t, period);
    if f == t { f } else { f + Duration::seconds(period.into()) }
}

/// One bucket of a series.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub figures: Aggregate,
}

impl MonitoringStore {
    /// `[from, to)` in buckets of `bucket_seconds`, aligned to multiples of
    /// the bucket size; every bucket is present, empty or not.
    pub async fn series(
        &self,
        service_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
    ) -> Result<Vec<Bucket>, StorageError> {
        let size = Duration::seconds(bucket_seconds.max(1));
        let start = from.duration_trunc(size).unwrap_or(from);
        let mut buckets = Vec::new();
        let mut at = start;
        while at < to {
            buckets.push(Bucket { start: at, figures: Aggregate::default() });
            at += size;
        }
        let index = |t: DateTime<Utc>| ((t - start).num_seconds() / bucket_seconds.max(1)) as usize;
        let hours_ok = bucket_seconds % i64::from(HOUR) == 0;
        let days_ok = bucket_seconds % i64::from(DAY) == 0;
        let (hours_to, days_to) = (self.rolled_to(HOUR).await?, self.rolled_to(DAY).await?);
        for (source, a, b) in pieces(from, to, hours_to, days_to, hours_ok, days_ok) {
            match source {
                Source::Days | Source::Hours => {
                    let period = if source == Source::Days { DAY } else { HOUR };
                    for row in self.rollups(service_id, period, a, b).await? {
                        if let Some(bucket) = buckets.get_mut(index(row.bucket)) {
                            bucket.figures.merge(&row.aggregate());
                        }
                    }
                }
                Source::Raw => {
                    for (t, status, maintenance, latency) in self.raw(service_id, a, b).await? {
                        if let Some(bucket) = buckets.get_mut(index(t)) {
                            bucket.figures.add(status, maintenance, latency.into());
                        }
                    }
                }
            }
        }
        Ok(buckets)
    }

    /// The aggregate of `[from, to)`.
    pub async fn aggregate(
        &self,
        service_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Aggregate, StorageError> {
        let hours_to = self.rolled_to(HOUR).await?;
        let mut total = Aggregate::default();
        for (source, a, b) in pieces(from, to, hours_to, None, true, false) {
            match source {
                Source::Hours | Source::Days => {
                    for row in self.rollups(service_id, HOUR, a, b).await? {
                        total.merge(&row.aggregate());
                    }
                }
                Source::Raw => {
                    for (_, status, maintenance, latency) in self.raw(service_id, a, b).await? {
                        total.add(status, maintenance, latency.into());
                    }
                }
            }
        }
        Ok(total)
    }
}

/// Uptime over one window, and what it rests on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UptimeOut {
    /// `(up + degraded) / (up + degraded + down)` outside maintenance; null without checks.
    pub ratio: Option<f64>,
    /// Checks the ratio rests on (outside maintenance).
    pub checks: u64,
    /// Checks during maintenance windows, not counted.
    pub maintenance_checks: u64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl UptimeOut {
    pub fn new(a: &Aggregate, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self { ratio: a.uptime(), checks: a.counted(), maintenance_checks: a.maintenance, from, to }
    }
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
    service: &ServiceRow,
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
    if service.kind == "tls"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ranges_use_the_coarsest_source_that_covers_them() {
        let from = t("2026-01-01T10:30:00Z");
        let to = t("2026-01-04T05:15:00Z");
        let hours = Some(t("2026-01-04T03:00:00Z"));
        let days = Some(t("2026-01-03T00:00:00Z"));
        let p = pieces(from, to, hours, days, true, true);
        assert_eq!(
            p,
            [
                (Source::Raw, from, t("2026-01-01T11:00:00Z")),
                (Source::Hours, t("2026-01-01T11:00:00Z"), t("2026-01-02T00:00:00Z")),
                (Source::Days, t("2026-01-02T00:00:00Z"), t("2026-01-03T00:00:00Z")),
                (Source::Hours, t("2026-01-03T00:00:00Z"), t("2026-01-04T03:00:00Z")),
                (Source::Raw, t("2026-01-04T03:00:00Z"), to),
            ]
        );
        // Nothing rolled up yet: all raw.
        assert_eq!(pieces(from, to, None, None, true, true), [(Source::Raw, from, to)]);
        // Minute buckets never read rollups.
        assert_eq!(pieces(from, to, hours, days, false, false), [(Source::Raw, from, to)]);
    }
}
