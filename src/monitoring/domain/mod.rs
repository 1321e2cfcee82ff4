//! Monitoring rules as plain values: a service's settings and their limits,
//! its status, and how one check result moves the status along the
//! failure/recovery thresholds, when it is next due; [`figures`] (uptime and
//! latency arithmetic) and [`trends`] (directions and recommendations). No
//! I/O here.

pub mod figures;
pub mod incident;
pub mod trends;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::checks::CheckStatus;
use crate::validation::FieldError;

pub use incident::{IncidentStatus, TimelineKind};

/// Shortest allowed check interval.
pub const MIN_INTERVAL_SECONDS: i64 = 10;
/// Longest allowed check interval (one day).
pub const MAX_INTERVAL_SECONDS: i64 = 86_400;
/// Longest allowed timeout for one check.
pub const MAX_TIMEOUT_SECONDS: i64 = 120;
/// Consecutive results a threshold may require at most.
pub const MAX_THRESHOLD: i64 = 100;
pub const MAX_TAGS: usize = 20;

/// A service's current status as checks established it. Stored as text,
/// decoded at the storage boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not enough results yet.
    Unknown,
    Up,
    /// Answering, but slower than its degraded threshold (or a certificate expiring soon).
    Degraded,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

impl TryFrom<String> for Status {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        [Status::Unknown, Status::Up, Status::Degraded, Status::Down]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown service status {raw:?}"))
    }
}

/// A service's status as readers see it: its checked [`Status`], or why
/// it is not being checked right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ServiceStatus)]
pub enum ShownStatus {
    Unknown,
    Up,
    Degraded,
    Down,
    /// Disabled: not checked.
    Paused,
    /// In a maintenance window: checked, but raises nothing.
    Maintenance,
}

impl From<Status> for ShownStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Unknown => ShownStatus::Unknown,
            Status::Up => ShownStatus::Up,
            Status::Degraded => ShownStatus::Degraded,
            Status::Down => ShownStatus::Down,
        }
    }
}

/// Added to a stored result's status when it ran in a maintenance window.
const IN_MAINTENANCE: i16 = 8;

/// A check result's status as stored in `service_metric.status`: 0 up,
/// 1 degraded, 2 down, plus 8 in a maintenance window (one small column
/// instead of two: see the migration that packed the table).
pub fn result_code(s: CheckStatus, maintenance: bool) -> i16 {
    let status = match s {
        CheckStatus::Up => 0,
        CheckStatus::Degraded => 1,
        CheckStatus::Down => 2,
    };
    if maintenance { status + IN_MAINTENANCE } else { status }
}

/// A stored `service_metric.status` as (status 0/1/2, in maintenance).
pub fn stored_result(code: i16) -> (i16, bool) {
    (code & (IN_MAINTENANCE - 1), code & IN_MAINTENANCE != 0)
}

/// The settings every service has, whatever its kind, as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub name: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub failure_threshold: i64,
    pub recovery_threshold: i64,
    pub degraded_latency_ms: Option<i64>,
    pub enabled: bool,
    pub public: bool,
    pub tags: Vec<String>,
}

/// Settings as a request gives them; `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    pub name: Option<String>,
    pub interval_seconds: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub failure_threshold: Option<i64>,
    pub recovery_threshold: Option<i64>,
    pub degraded_latency_ms: Option<i64>,
    pub enabled: Option<bool>,
    pub public: Option<bool>,
    pub tags: Option<Vec<String>>,
}

impl Settings {
    /// Validate, filling defaults from `base` (the stored settings on an
    /// update, or [`Settings::defaults`] on a create). Every violation is
    /// reported, not only the first.
    pub fn parse(raw: RawSettings, base: &Settings) -> Result<Self, Vec<FieldError>> {
        let mut v: Vec<FieldError> = Vec::new();
        let mut bad = |field: &str, message: String| v.push(FieldError::new(field, message));
        let name = raw.name.map(|n| n.trim().to_string()).unwrap_or_else(|| base.name.clone());
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            bad("name", "must be 1–200 characters without control characters".into());
        }
        let interval_seconds = raw.interval_seconds.unwrap_or(base.interval_seconds);
        if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&interval_seconds) {
            bad("interval_seconds", format!("must be {MIN_INTERVAL_SECONDS}–{MAX_INTERVAL_SECONDS}"));
        }
        // A timeout defaults to 10 s, or less when the interval is shorter.
        let timeout_seconds = raw.timeout_seconds.unwrap_or(base.timeout_seconds.min(interval_seconds));
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&timeout_seconds) {
            bad("timeout_seconds", format!("must be 1–{MAX_TIMEOUT_SECONDS}"));
        } else if timeout_seconds > interval_seconds {
            bad("timeout_seconds", "must not exceed interval_seconds".into());
        }
        let failure_threshold = raw.failure_threshold.unwrap_or(base.failure_threshold);
        if !(1..=MAX_THRESHOLD).contains(&failure_threshold) {
            bad("failure_threshold", format!("must be 1–{MAX_THRESHOLD}"));
        }
        let recovery_threshold = raw.recovery_threshold.unwrap_or(base.recovery_threshold);
        if !(1..=MAX_THRESHOLD).contains(&recovery_threshold) {
            bad("recovery_threshold", format!("must be 1–{MAX_THRESHOLD}"));
        }
        let degraded_latency_ms = raw.degraded_latency_ms.or(base.degraded_latency_ms);
        if let Some(ms) = degraded_latency_ms
            && !(1..=MAX_TIMEOUT_SECONDS * 1000).contains(&ms)
        {
            bad("degraded_latency_ms", format!("must be 1–{}", MAX_TIMEOUT_SECONDS * 1000));
        }
        let tags = raw.tags.unwrap_or_else(|| base.tags.clone());
        if tags.len() > MAX_TAGS {
            bad("tags", format!("at most {MAX_TAGS} tags"));
        }
        for (i, tag) in tags.iter().enumerate() {
            let ok = !tag.is_empty()
                && tag.len() <= 64
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
            if !ok {
                bad(&format!("tags[{i}]"), "1–64 characters of a-z, A-Z, 0-9, - _ . : /".into());
            }
        }
        if !v.is_empty() {
            return Err(v);
        }
        Ok(Self {
            name,
            interval_seconds,
            timeout_seconds,
            failure_threshold,
            recovery_threshold,
            degraded_latency_ms,
            enabled: raw.enabled.unwrap_or(base.enabled),
            public: raw.public.unwrap_or(base.public),
            tags,
        })
    }

    /// Defaults for a new service (the name must still be given).
    pub fn defaults() -> Self {
        Self {
            name: String::new(),
            interval_seconds: 60,
            timeout_seconds: 10,
            failure_threshold: 3,
            recovery_threshold: 2,
            degraded_latency_ms: None,
            enabled: true,
            public: false,
            tags: Vec::new(),
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_seconds.unsigned_abs())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.unsigned_abs())
    }
}

/// Where a service stands between checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    /// Consecutive failed results.
    pub failures: i64,
    /// Consecutive passing results.
    pub successes: i64,
}

impl State {
    pub const NEW: State = State { status: Status::Unknown, failures: 0, successes: 0 };
}

/// What one result did to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub state: State,
    /// The status changed.
    pub changed: bool,
    /// It became *down*: an incident opens (outside maintenance).
    pub went_down: bool,
    /// It left *down*: the open incident may resolve.
    pub recovered: bool,
}

/// Apply one check result. A failing result counts towards
/// `failure_threshold` consecutive failures before the service is *down*;
/// a down service needs `recovery_threshold` consecutive passing results
/// to come back. Outside *down*, a passing result sets *up* or *degraded*
/// at once (degradation is not an outage, so it needs no threshold).
pub fn step(state: State, result: CheckStatus, failure_threshold: i64, recovery_threshold: i64) -> Step {
    let (failures, successes) = match result {
        CheckStatus::Down => (state.failures.saturating_add(1), 0),
        CheckStatus::Up | CheckStatus::Degraded => (0, state.successes.saturating_add(1)),
    };
    let passing = match result {
        CheckStatus::Up => Status::Up,
        CheckStatus::Degraded => Status::Degraded,
        CheckStatus::Down => Status::Down,
    };
    let status = match (state.status, result) {
        (_, CheckStatus::Down) if failures >= failure_threshold => Status::Down,
        (s, CheckStatus::Down) => s,
        (Status::Down, _) if successes >= recovery_threshold => passing,
        (Status::Down, _) => Status::Down,
        (_, _) => passing,
    };
    let changed = status != state.status;
    Step {
        state: State { status, failures, successes },
        changed,
        went_down: changed && status == Status::Down,
        recovered: changed && state.status == Status::Down,
    }
}

/// A result's status after the latency threshold: a passing check slower
/// than `degraded_latency_ms` is *degraded*.
pub fn with_latency(status: CheckStatus, latency: Duration, degraded_latency_ms: Option<i64>) -> CheckStatus {
    match (status, degraded_latency_ms) {
        (CheckStatus::Up, Some(ms)) if latency.as_millis() > u128::from(ms.unsigned_abs()) => CheckStatus::Degraded,
        (s, _) => s,
    }
}

/// The next due time after a check that was due at `due`, on the service's
/// own grid (`due + k × interval`), so checks do not drift; after a long
/// pause (more than one interval behind) the next time is placed at the
/// service's own offset within the coming interval instead, so a restart
/// after an outage does not run every overdue check at once.
///
/// Due times fall on multiples of `quantum_ms` (the start quantum, which
/// divides a second, as every interval is whole seconds): a due time off
/// that grid is moved up onto it once and stays there. Checks start on the
/// grid, so a check due on it starts when due rather than up to a quantum
/// late.
pub fn next_due(
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    interval_seconds: i64,
    service_id: i64,
    quantum_ms: i64,
) -> DateTime<Utc> {
    let interval = chrono::Duration::seconds(interval_seconds.max(1));
    let next = due + interval;
    let next = if next > now {
        next
    } else if now - due > interval * 2 {
        now + spread(service_id, interval_seconds)
    } else {
        // Behind by less than two intervals: stay on the grid.
        let behind = (now - due).num_milliseconds() / interval.num_milliseconds().max(1);
        due + interval * (behind as i32 + 1)
    };
    round_up(next, quantum_ms)
}

/// `at` rounded up to a multiple of `quantum_ms` since the epoch.
pub fn round_up(at: DateTime<Utc>, quantum_ms: i64) -> DateTime<Utc> {
    let q = quantum_ms.max(1);
    let ms = at.timestamp_millis();
    let rounded = ms.div_euclid(q) * q + if ms.rem_euclid(q) == 0 { 0 } else { q };
    DateTime::from_timestamp_millis(rounded).unwrap_or(at)
}

/// A stable offset in `[0, interval)` for a service: where in its interval
/// its checks fall, spreading services evenly instead of all at once.
pub fn spread(service_id: i64, interval_seconds: i64) -> chrono::Duration {
    let millis = interval_seconds.max(1) * 1000;
    // Fibonacci hashing: consecutive ids land far apart.
    let h = (service_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    chrono::Duration::milliseconds((h % millis as u64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_status_text_round_trips() {
        for s in [Status::Unknown, Status::Up, Status::Degraded, Status::Down] {
            assert_eq!(Status::try_from(s.as_str().to_string()), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(serde_json::to_value(ShownStatus::from(s)).unwrap(), s.as_str());
        }
        assert!(Status::try_from("paused".to_string()).is_err(), "paused is shown, never stored");
        assert_eq!(serde_json::to_value(ShownStatus::Maintenance).unwrap(), "maintenance");
    }

    fn run(results: &[CheckStatus], fail: i64, recover: i64) -> Vec<(Status, bool, bool)> {
        let mut s = State::NEW;
        results
            .iter()
            .map(|r| {
                let st = step(s, *r, fail, recover);
                s = st.state;
                (st.state.status, st.went_down, st.recovered)
            })
            .collect()
    }

    use CheckStatus::{Degraded as G, Down as D, Up as U};

    #[test]
    fn down_only_after_the_failure_threshold() {
        let r = run(&[U, D, D, D, D], 3, 2);
        let statuses: Vec<Status> = r.iter().map(|x| x.0).collect();
        assert_eq!(statuses, [Status::Up, Status::Up, Status::Up, Status::Down, Status::Down]);
        assert_eq!(r.iter().filter(|x| x.1).count(), 1, "went down exactly once");
    }

    #[test]
    fn a_failure_streak_broken_by_a_success_starts_over() {
        let r = run(&[U, D, D, U, D, D], 3, 2);
        assert!(r.iter().all(|x| x.0 == Status::Up));
    }

    #[test]
    fn recovery_needs_the_recovery_threshold() {
        let r = run(&[D, D, U, D, U, U, U], 2, 2);
        let statuses: Vec<Status> = r.iter().map(|x| x.0).collect();
        assert_eq!(
            statuses,
            [Status::Unknown, Status::Down, Status::Down, Status::Down, Status::Down, Status::Up, Status::Up]
        );
        assert_eq!(r.iter().filter(|x| x.2).count(), 1, "recovered exactly once");
    }

    #[test]
    fn degraded_is_immediate_and_not_an_outage() {
        let r = run(&[U, G, U], 3, 2);
        let statuses: Vec<Status> = r.iter().map(|x| x.0).collect();
        assert_eq!(statuses, [Status::Up, Status::Degraded, Status::Up]);
        assert!(r.iter().all(|x| !x.1 && !x.2));
    }

    #[test]
    fn slow_passing_checks_are_degraded() {
        assert_eq!(with_latency(U, Duration::from_millis(501), Some(500)), G);
        assert_eq!(with_latency(U, Duration::from_millis(500), Some(500)), U);
        assert_eq!(with_latency(D, Duration::from_millis(900), Some(500)), D);
        assert_eq!(with_latency(U, Duration::from_secs(9), None), U);
    }

    #[test]
    fn due_times_stay_on_the_grid_and_spread_after_a_pause() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let s = chrono::Duration::seconds;
        // On time or a little late: the next slot on the grid, no drift.
        assert_eq!(next_due(t0, t0 + s(1), 30, 7, 1000), t0 + s(30));
        assert_eq!(next_due(t0, t0 + s(31), 30, 7, 1000), t0 + s(60));
        // Long behind: somewhere in the coming interval, by service.
        let later = t0 + s(3600);
        let a = next_due(t0, later, 30, 1, 1000);
        let b = next_due(t0, later, 30, 2, 1000);
        assert!(a >= later && a <= later + s(30) && b >= later && b <= later + s(30));
        assert_ne!(a, b, "services are spread, not stacked");
        for due in [a, b] {
            assert_eq!(due.timestamp_subsec_millis(), 0, "{due} is off the 1 s grid");
        }
    }

    #[test]
    fn times_round_up_to_the_quantum() {
        let at = |ms| DateTime::from_timestamp_millis(ms).expect("time");
        assert_eq!(round_up(at(1_000), 250), at(1_000));
        assert_eq!(round_up(at(1_001), 250), at(1_250));
        assert_eq!(round_up(at(1_249), 250), at(1_250));
        assert_eq!(round_up(at(-1), 250), at(0));
        assert_eq!(round_up(at(7), 1), at(7));
    }

    #[test]
    fn an_off_grid_due_time_moves_onto_the_quantum_grid_once_and_stays() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let ms = chrono::Duration::milliseconds;
        // Due 12.345 s past t0 at a 10 s interval: next on the 1 s grid, up
        // by less than a quantum, then exactly an interval apart.
        let first = next_due(t0 + ms(12_345), t0 + ms(12_400), 10, 1, 1000);
        assert_eq!(first, t0 + ms(23_000));
        assert_eq!(next_due(first, first + ms(5), 10, 1, 1000), t0 + ms(33_000));
        assert_eq!(next_due(t0 + ms(12_345), t0 + ms(12_400), 10, 1, 250), t0 + ms(22_500));
        assert_eq!(round_up(t0 + ms(1), 1000), t0 + ms(1000));
        assert_eq!(round_up(t0, 1000), t0);
    }

    #[test]
    fn spread_covers_the_interval() {
        let offsets: Vec<i64> = (1..=1000).map(|id| spread(id, 30).num_milliseconds()).collect();
        assert!(offsets.iter().all(|o| (0..30_000).contains(o)));
        // Roughly even: each tenth of the interval gets a fair share.
        for decile in 0..10 {
            let n = offsets.iter().filter(|o| **o / 3000 == decile).count();
            assert!((50..=150).contains(&n), "decile {decile} has {n}");
        }
    }

    #[test]
    fn settings_default_and_name_every_bad_field() {
        let ok = Settings::parse(RawSettings { name: Some("api".into()), ..Default::default() }, &Settings::defaults())
            .unwrap();
        assert_eq!(
            (ok.interval_seconds, ok.timeout_seconds, ok.failure_threshold, ok.recovery_threshold),
            (60, 10, 3, 2)
        );
        let raw = RawSettings {
            name: Some(" ".into()),
            interval_seconds: Some(5),
            timeout_seconds: Some(0),
            failure_threshold: Some(0),
            recovery_threshold: Some(1000),
            degraded_latency_ms: Some(0),
            tags: Some(vec!["ok".into(), "bad tag".into()]),
            ..Default::default()
        };
        let fields: Vec<String> =
            Settings::parse(raw, &Settings::defaults()).unwrap_err().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "name",
                "interval_seconds",
                "timeout_seconds",
                "failure_threshold",
                "recovery_threshold",
                "degraded_latency_ms",
                "tags[1]"
            ]
        );
        // A short interval lowers the default timeout with it.
        let short = Settings::parse(
            RawSettings {
                name: Some("x".into()),
                interval_seconds: Some(10),
                timeout_seconds: None,
                ..Default::default()
            },
            &Settings { timeout_seconds: 30, ..Settings::defaults() },
        )
        .unwrap();
        assert_eq!(short.timeout_seconds, 10);
    }
}
