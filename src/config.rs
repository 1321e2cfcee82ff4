//! herald's configuration: one struct, loaded once at start-up.
//!
//! Sources, lowest precedence first: built-in defaults < `herald.toml`
//! (path from `--config`, else `<data_dir>/herald.toml` when it exists) <
//! `HERALD_*` environment variables (nested keys with `__`, e.g.
//! `HERALD_POOL__MAX_CONNECTIONS`) < command-line flags. The result is
//! validated once; every error names the key it is about.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Where herald runs; picks pool sizing defaults as the seed sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The complete, validated configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `development` (default) or `production`; production raises the pool max to 20.
    pub env: Environment,
    /// Directory for the SQLite database and an optional `herald.toml`; created when missing.
    pub data_dir: PathBuf,
    /// Address the HTTP server binds to.
    pub listen: SocketAddr,
    /// `postgres://…` selects PostgreSQL; unset means SQLite at `<data_dir>/herald.db`
    /// (`sqlite://path` picks another SQLite file).
    pub database_url: Option<Secret>,
    /// `human` or `json` log lines.
    pub log_format: LogFormat,
    /// A tracing filter directive such as `info` or `herald=debug,info`.
    pub log_level: String,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace_seconds: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Email of the admin created on the first start of an empty database.
    pub bootstrap_admin_email: String,
    /// How long an authenticated token is remembered in memory (0 turns the
    /// cache off). Revocation reaches every instance at once regardless.
    pub auth_cache_seconds: u64,
    /// Connection pool and query instrumentation settings.
    pub pool: PoolConfig,
    /// Inbox cleanup and retention.
    pub notifications: NotificationsConfig,
    /// WebSocket delivery.
    pub realtime: RealtimeConfig,
    pub monitoring: MonitoringConfig,
    pub alerts: AlertsConfig,
    pub performance: PerformanceConfig,
    pub web: WebConfig,
}

/// The web app's sign-in sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// A session unused this long has ended (the browser must sign in again).
    pub session_idle_minutes: u64,
    /// A session ends this long after sign-in, however much it is used.
    pub session_absolute_hours: u64,
    /// Mark the session cookie `Secure` even when the request did not come
    /// over TLS (herald behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// Failed sign-ins allowed per account and per client address within
    /// `sign_in_window_minutes`; more are refused (with `Retry-After`)
    /// until the oldest leaves the window. Each failure is also answered
    /// more slowly than the last.
    pub sign_in_attempts: u32,
    /// The window over which failed sign-ins are counted.
    pub sign_in_window_minutes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        // A working day of leaving the dashboard open; a week at most.
        Self {
            session_idle_minutes: 12 * 60,
            session_absolute_hours: 7 * 24,
            secure_cookies: false,
            sign_in_attempts: 5,
            sign_in_window_minutes: 15,
        }
    }
}

impl WebConfig {
    pub fn session_rules(&self) -> crate::accounts::session::SessionRules {
        // Capped at ten years: time arithmetic past that would overflow.
        const CAP: u64 = 10 * 365 * 24 * 60;
        let minutes = |m: u64| chrono::Duration::minutes(i64::try_from(m.min(CAP)).unwrap_or(0));
        crate::accounts::session::SessionRules {
            idle: minutes(self.session_idle_minutes),
            absolute: minutes(self.session_absolute_hours.saturating_mul(60)),
            sign_in_attempts: self.sign_in_attempts,
            sign_in_window: minutes(self.sign_in_window_minutes),
        }
    }
}

/// The database performance monitor and its alert thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceConfig {
    /// How often a sample is taken.
    pub sample_interval_seconds: u64,
    /// Samples are kept this long.
    pub retention_hours: u64,
    /// The memory limit when no cgroup limit applies (else physical memory).
    pub memory_limit_mb: Option<u64>,
    /// Pool utilization (0..1) above which a warning fires.
    pub pool_utilization_warning: f64,
    /// Average query time over a sample window above which an alert fires
    /// (critical above twice this).
    pub avg_query_ms_alert: f64,
    /// Database error rate (0..1) above which a critical alert fires.
    pub error_rate_critical: f64,
    /// RSS over the memory limit (0..1) above which a warning fires.
    pub memory_warning: f64,
    /// PostgreSQL cache-hit ratio (0..1) below which a warning fires.
    pub cache_hit_warning: f64,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        Self {
            sample_interval_seconds: 15,
            retention_hours: 7 * 24,
            memory_limit_mb: None,
            pool_utilization_warning: 0.8,
            avg_query_ms_alert: 1000.0,
            error_rate_critical: 0.05,
            memory_warning: 0.8,
            cache_hit_warning: 0.95,
        }
    }
}

/// The alert pipeline and its delivery outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// A firing alert resolves once its condition has been clear this long
    /// (a condition that flaps does not send a storm of resolutions).
    pub hold_seconds: u64,
    /// How often the conditions of services are evaluated (a status change
    /// is evaluated at once as well).
    pub evaluate_interval_seconds: u64,
    /// Delivery attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled per attempt, with jitter.
    pub retry_initial_ms: u64,
    /// Longest wait between attempts.
    pub retry_max_ms: u64,
    /// How often the outbox is polled for due deliveries: for retries, and
    /// for deliveries an instance enqueued and died before sending. What
    /// an instance enqueues itself it sends at once.
    pub poll_interval_ms: u64,
    /// A claimed delivery is held this long; a sender that dies gives it up then.
    pub lease_seconds: u64,
    /// Deliveries claimed at once.
    pub batch: usize,
    /// TLS services: warn this many days before the certificate expires.
    pub tls_expiry_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            hold_seconds: 60,
            evaluate_interval_seconds: 15,
            max_attempts: 8,
            retry_initial_ms: 5_000,
            retry_max_ms: 600_000,
            poll_interval_ms: 5_000,
            lease_seconds: 60,
            batch: 20,
            tls_expiry_days: 14,
        }
    }
}

/// Service checks on this instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Run checks on this instance. Off, it still serves the API and heartbeats.
    pub scheduler: bool,
    /// Checks running at once on this instance.
    pub max_concurrent_checks: usize,
    /// How often services due before the next claim are claimed.
    pub claim_interval_ms: u64,
    /// Due times fall on multiples of this (it divides a second), and so do
    /// claims and result writes: checks due close together start together,
    /// and a lightly loaded instance wakes once per quantum, not per check.
    pub start_quantum_ms: u64,
    /// Results stored per transaction at most.
    pub result_batch: usize,
    /// How long a result writer gathers results before a transaction.
    pub result_linger_ms: u64,
    /// At low rates claims and result writes are stretched from
    /// `claim_interval_ms` and `result_linger_ms` up to this, until each
    /// holds a couple of hundred checks (each costs its round trips and a
    /// commit whatever it holds). 0: never stretched.
    pub max_cadence_ms: u64,
    /// Result writers: while one gathers, the others write, so storing is
    /// not one round trip after another (a single writer capped one
    /// instance below the rate its CPU allowed).
    pub result_writers: usize,
    /// Threads that run checks, apart from the API's. Checks are many short
    /// tasks that each wake on a timer and a socket; on the shared
    /// work-stealing runtime every such wake-up could rouse a second worker
    /// to look for work, which cost more CPU than the check. One thread
    /// (the default) runs thousands of checks a second.
    pub check_threads: usize,
    /// A claimed service is leased for its timeout plus this; an instance
    /// that dies mid-check gives its services up when the lease ends.
    pub lease_margin_seconds: u64,
    /// Raw check results are kept this long (rollups keep the figures).
    pub raw_retention_days: u32,
    /// Hourly and daily rollups are kept this long.
    pub rollup_retention_days: u32,
    /// Rows deleted per statement by retention.
    pub retention_batch: u32,
    /// How often rollups and retention run.
    pub housekeeping_interval_seconds: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            scheduler: true,
            max_concurrent_checks: 512,
            claim_interval_ms: 1_000,
            start_quantum_ms: 1_000,
            result_batch: 500,
            result_linger_ms: 1_000,
            max_cadence_ms: 5_000,
            result_writers: 2,
            check_threads: 1,
            lease_margin_seconds: 10,
            raw_retention_days: 14,
            rollup_retention_days: 400,
            retention_batch: 10_000,
            housekeeping_interval_seconds: 60,
        }
    }
}

/// WebSocket limits and liveness.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeConfig {
    /// The server pings each socket this often.
    pub ping_interval_seconds: u64,
    /// A socket silent (no frame, not even a pong) for this long is dropped.
    pub idle_timeout_seconds: u64,
    /// A socket without a token must send an `auth` message within this time.
    pub auth_timeout_seconds: u64,
    /// Messages queued for one socket; past this the socket is closed as a slow consumer.
    pub send_queue: usize,
    /// A write to a socket that takes longer than this closes it.
    pub write_timeout_seconds: u64,
    /// Largest client message answered normally; larger ones get an `error`.
    pub max_message_bytes: usize,
    /// Open sockets allowed per user.
    pub max_sockets_per_user: usize,
    /// PostgreSQL: events committed here are gathered for up to this long
    /// before one NOTIFY tells the other instances (0: only while the
    /// previous batch is being sent).
    pub announce_batch_ms: u64,
    /// PostgreSQL: how often each instance compares its sockets' users with
    /// the database, so that a notification whose announcement was lost
    /// (its writer crashed between commit and batch) still arrives.
    pub sweep_interval_seconds: u64,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            // Under the 60 s idle timeout of common proxies and load
            // balancers; each ping costs every idle socket a wake-up.
            ping_interval_seconds: 30,
            idle_timeout_seconds: 75,
            auth_timeout_seconds: 5,
            send_queue: 256,
            write_timeout_seconds: 10,
            max_message_bytes: 64 * 1024,
            max_sockets_per_user: 16,
            // A few milliseconds of gathering turn a burst of commits into
            // one NOTIFY, and cost a cross-instance push no more than that.
            announce_batch_ms: 2,
            sweep_interval_seconds: 5,
        }
    }
}

/// Inbox housekeeping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// How often expired and old read notifications are deleted.
    pub cleanup_interval_seconds: u64,
    /// Read notifications older than this many days are purged.
    pub read_retention_days: u32,
    /// Rows deleted per statement, so cleanup never holds locks for long.
    pub cleanup_batch: u32,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self { cleanup_interval_seconds: 60, read_retention_days: 90, cleanup_batch: 1000 }
    }
}

/// Pool numbers from the seed; every one configurable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Upper bound of open connections; unset means 20 in production, 10 in development.
    pub max_connections: Option<u32>,
    /// Connections kept open even when idle.
    pub min_connections: u32,
    /// How long a caller waits for a free connection before failing.
    pub acquire_timeout_ms: u64,
    /// Server-side statement timeout (PostgreSQL `statement_timeout`).
    pub statement_timeout_ms: u64,
    /// SQLite busy timeout: how long a writer waits for the database lock.
    pub sqlite_busy_timeout_ms: u64,
    /// SQLite page cache per pooled connection, in KiB. Each connection has
    /// its own cache on top of the operating system's (which already holds
    /// the file), so the total is this × the pool size: SQLite's default of
    /// about 2 MiB would reach 40 MiB with a production pool of 20.
    pub sqlite_cache_kib: u64,
    /// How often idle connections are pinged and bad ones dropped.
    pub health_check_interval_seconds: u64,
    /// First delay between connection attempts at start-up; doubles each time.
    pub connect_retry_initial_ms: u64,
    /// Cap of that delay.
    pub connect_retry_max_ms: u64,
    /// Give up connecting at start-up after this long.
    pub connect_give_up_seconds: u64,
    /// Idle connections above the minimum are closed after this long.
    pub idle_timeout_seconds: u64,
    /// Connections are recycled after this long.
    pub max_lifetime_seconds: u64,
    /// A query slower than this is logged at WARN with its normalized SQL.
    pub slow_query_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            data_dir: PathBuf::from("herald-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            shutdown_grace_seconds: 30,
            max_body_bytes: 256 * 1024,
            bootstrap_admin_email: "admin@localhost".into(),
            auth_cache_seconds: 30,
            pool: PoolConfig::default(),
            notifications: NotificationsConfig::default(),
            realtime: RealtimeConfig::default(),
            monitoring: MonitoringConfig::default(),
            alerts: AlertsConfig::default(),
            performance: PerformanceConfig::default(),
            web: WebConfig::default(),
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: None,
            min_connections: 5,
            acquire_timeout_ms: 10_000,
            statement_timeout_ms: 15_000,
            sqlite_busy_timeout_ms: 5_000,
            sqlite_cache_kib: 1_024,
            health_check_interval_seconds: 30,
            connect_retry_initial_ms: 250,
            connect_retry_max_ms: 10_000,
            connect_give_up_seconds: 60,
            idle_timeout_seconds: 600,
            max_lifetime_seconds: 1_800,
            slow_query_ms: 1_000,
        }
    }
}

/// Values given on the command line; only the ones present override.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// A configuration problem, always about one key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// Which database the URL (or its absence) selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(Secret),
}

impl Config {
    /// Load from every source in precedence order, then validate.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let env = || Env::prefixed("HERALD_").split("__").ignore(&["config"]);
        let flags = || Serialized::defaults(overrides.clone());
        // The file may live in the data dir, so find the data dir first from
        // the sources that outrank the file.
        let data_dir: PathBuf = Figment::from(Serialized::defaults(Config::default()))
            .merge(env())
            .merge(flags())
            .extract_inner("data_dir")
            .map_err(|e| figment_error(&e))?;
        let file = match config_file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::new("config", format!("file {} does not exist", path.display())));
            }
            Some(path) => Some(path.to_path_buf()),
            None => Some(data_dir.join("herald.toml")).filter(|p| p.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let config: Config = figment.merge(env()).merge(flags()).extract().map_err(|e| figment_error(&e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.pool;
        if p.max_connections == Some(0) {
            return Err(ConfigError::new("pool.max_connections", "must be at least 1"));
        }
        if p.min_connections > self.max_connections() {
            return Err(ConfigError::new(
                "pool.min_connections",
                format!("{} is above pool.max_connections ({})", p.min_connections, self.max_connections()),
            ));
        }
        for (key, value) in [
            ("pool.acquire_timeout_ms", p.acquire_timeout_ms),
            ("pool.sqlite_cache_kib", p.sqlite_cache_kib),
            ("pool.health_check_interval_seconds", p.health_check_interval_seconds),
            ("pool.connect_retry_initial_ms", p.connect_retry_initial_ms),
            ("pool.connect_retry_max_ms", p.connect_retry_max_ms),
            ("notifications.cleanup_interval_seconds", self.notifications.cleanup_interval_seconds),
            ("notifications.cleanup_batch", u64::from(self.notifications.cleanup_batch)),
            ("realtime.ping_interval_seconds", self.realtime.ping_interval_seconds),
            ("realtime.idle_timeout_seconds", self.realtime.idle_timeout_seconds),
            ("realtime.auth_timeout_seconds", self.realtime.auth_timeout_seconds),
            ("realtime.send_queue", self.realtime.send_queue as u64),
            ("realtime.write_timeout_seconds", self.realtime.write_timeout_seconds),
            ("realtime.max_message_bytes", self.realtime.max_message_bytes as u64),
            ("realtime.max_sockets_per_user", self.realtime.max_sockets_per_user as u64),
            ("realtime.sweep_interval_seconds", self.realtime.sweep_interval_seconds),
            ("web.session_idle_minutes", self.web.session_idle_minutes),
            ("web.session_absolute_hours", self.web.session_absolute_hours),
            ("web.sign_in_attempts", self.web.sign_in_attempts.into()),
            ("web.sign_in_window_minutes", self.web.sign_in_window_minutes),
            ("monitoring.max_concurrent_checks", self.monitoring.max_concurrent_checks as u64),
            ("monitoring.claim_interval_ms", self.monitoring.claim_interval_ms),
            ("monitoring.start_quantum_ms", self.monitoring.start_quantum_ms),
            ("monitoring.result_batch", self.monitoring.result_batch as u64),
            ("monitoring.result_writers", self.monitoring.result_writers as u64),
            ("monitoring.check_threads", self.monitoring.check_threads as u64),
            ("monitoring.raw_retention_days", self.monitoring.raw_retention_days.into()),
            ("monitoring.rollup_retention_days", self.monitoring.rollup_retention_days.into()),
            ("monitoring.retention_batch", self.monitoring.retention_batch.into()),
            ("monitoring.housekeeping_interval_seconds", self.monitoring.housekeeping_interval_seconds),
            ("alerts.evaluate_interval_seconds", self.alerts.evaluate_interval_seconds),
            ("alerts.max_attempts", self.alerts.max_attempts.into()),
            ("alerts.retry_initial_ms", self.alerts.retry_initial_ms),
            ("alerts.retry_max_ms", self.alerts.retry_max_ms),
            ("alerts.poll_interval_ms", self.alerts.poll_interval_ms),
            ("alerts.lease_seconds", self.alerts.lease_seconds),
            ("alerts.batch", self.alerts.batch as u64),
            ("performance.sample_interval_seconds", self.performance.sample_interval_seconds),
            ("performance.retention_hours", self.performance.retention_hours),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new("max_body_bytes", "must be at least 1024"));
        }
        // Intervals are whole seconds: a quantum that divides a second keeps
        // every due time on the grid (`due + interval` stays on it).
        if 1000 % self.monitoring.start_quantum_ms.max(1) != 0 {
            return Err(ConfigError::new(
                "monitoring.start_quantum_ms",
                format!("{} does not divide 1000 (a second)", self.monitoring.start_quantum_ms),
            ));
        }
        let p = &self.performance;
        for (key, value) in [
            ("performance.pool_utilization_warning", p.pool_utilization_warning),
            ("performance.error_rate_critical", p.error_rate_critical),
            ("performance.memory_warning", p.memory_warning),
            ("performance.cache_hit_warning", p.cache_hit_warning),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(ConfigError::new(key, "must be a ratio above 0 and at most 1"));
            }
        }
        // Upper bounds keep every duration far inside chrono's range.
        let a = &self.alerts;
        for (key, value, max) in [
            ("alerts.hold_seconds", a.hold_seconds, 30 * 86_400),
            ("alerts.evaluate_interval_seconds", a.evaluate_interval_seconds, 86_400),
            ("alerts.retry_initial_ms", a.retry_initial_ms, 86_400_000),
            ("alerts.retry_max_ms", a.retry_max_ms, 7 * 86_400_000),
            ("alerts.lease_seconds", a.lease_seconds, 86_400),
            ("performance.sample_interval_seconds", p.sample_interval_seconds, 86_400),
            ("performance.retention_hours", p.retention_hours, 10 * 365 * 24),
        ] {
            if value > max {
                return Err(ConfigError::new(key, format!("must be at most {max}")));
            }
        }
        if p.avg_query_ms_alert.is_nan() || p.avg_query_ms_alert <= 0.0 {
            return Err(ConfigError::new("performance.avg_query_ms_alert", "must be greater than 0"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(ConfigError::new("log_level", format!("{:?} is not a valid filter", self.log_level)));
        }
        if !self.bootstrap_admin_email.contains('@') {
            return Err(ConfigError::new("bootstrap_admin_email", "must be an email address"));
        }
        self.database()?;
        Ok(())
    }

    /// The effective pool maximum: configured, else by environment (seed numbers).
    pub fn max_connections(&self) -> u32 {
        self.pool.max_connections.unwrap_or(match self.env {
            Environment::Production => 20,
            Environment::Development => 10,
        })
    }

    /// Which backend to use and where it is.
    pub fn database(&self) -> Result<DatabaseTarget, ConfigError> {
        let Some(url) = &self.database_url else {
            return Ok(DatabaseTarget::Sqlite(self.data_dir.join("herald.db")));
        };
        let raw = url.expose();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseTarget::Postgres(url.clone()))
        } else if let Some(path) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(ConfigError::new("database_url", "sqlite URL needs a file path"));
            }
            Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
        } else {
            Err(ConfigError::new("database_url", "must start with postgres://, postgresql:// or sqlite:"))
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    /// The configuration as TOML with secrets replaced, for `herald config`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = self.database_url.as_ref().map(|u| Secret::new(redact_url(u.expose())));
        let mut out = toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# could not render: {e}\n"));
        out.push_str(&format!("# effective pool.max_connections = {}\n", self.max_connections()));
        out
    }
}

/// Replace the password of a URL (`scheme://user:password@host`) with `REDACTED`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:REDACTED@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Turn figment's error into one that names the key and source.
fn figment_error(error: &figment::Error) -> ConfigError {
    let key = if error.path.is_empty() { "config".to_string() } else { error.path.join(".") };
    let source = error
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => format!(" (from {} {source})", m.name),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    // figment's Display repeats the key; use only the kind for the message.
    ConfigError::new(&key, format!("{}{source}", error.kind))
}

#[cfg(test)]
mod doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact_url("postgres://herald:s3cret@db:5432/herald?sslmode=require"),
            "postgres://herald:REDACTED@db:5432/herald?sslmode=require"
        );
        assert_eq!(redact_url("postgres://db/herald"), "postgres://db/herald");
    }

    #[test]
    fn pool_max_follows_environment() {
        let mut c = Config::default();
        assert_eq!(c.max_connections(), 10);
        c.env = Environment::Production;
        assert_eq!(c.max_connections(), 20);
        c.pool.max_connections = Some(7);
        assert_eq!(c.max_connections(), 7);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("postgres://u:pw@h/db");
        assert!(!format!("{s:?}").contains("pw"));
    }

    #[test]
    fn unknown_database_scheme_names_the_key() {
        let c = Config { database_url: Some(Secret::new("mysql://x")), ..Config::default() };
        assert_eq!(c.validate().unwrap_err().key, "database_url");
    }

    #[test]
    fn a_start_quantum_must_divide_a_second() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        for ok in [1, 250, 500, 1000] {
            c.monitoring.start_quantum_ms = ok;
            assert!(c.validate().is_ok(), "{ok} ms");
        }
        for bad in [300, 1500, 7] {
            c.monitoring.start_quantum_ms = bad;
            assert_eq!(c.validate().unwrap_err().key, "monitoring.start_quantum_ms", "{bad} ms");
        }
    }
}
