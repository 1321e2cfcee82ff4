//! Finding, starting and stopping the herald binary under test.
//!
//! Every scenario measures a real `herald serve` process, so this is the one
//! place that knows its command line, its environment and how it is shut
//! down.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::http;
use crate::proc;

/// Pause between readiness probes; small next to the times being measured.
const READY_POLL: Duration = Duration::from_millis(5);
/// Per-probe connect/read bound.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long herald gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines quoted in errors.
const LOG_TAIL_LINES: usize = 40;

/// The herald binary: `--herald PATH` if given, else `herald` next to this
/// executable, which is where `cargo build --release` puts both.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find the bench executable's directory: {e}"))?
            .with_file_name("herald"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "herald binary not found at {}; build it first: cargo build --release \
             (or pass --herald PATH)",
            path.display()
        ))
    }
}

/// Where and against what database one herald process runs.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    /// `None` selects SQLite inside `data_dir`.
    pub database_url: Option<&'a str>,
    /// stdout and stderr are appended here and quoted on failure; stdout
    /// carries the admin token on a first start (see [`Herald::admin_token`]).
    pub log: &'a Path,
    /// `HERALD_ENV=production`: the pool herald would run with when deployed
    /// (max 20 connections instead of 10), for load scenarios.
    pub production: bool,
    /// More `HERALD_*` settings of the scenario (e.g. no check scheduler).
    pub settings: &'a [(&'a str, &'a str)],
}

/// A running `herald serve`; killed on drop if it was not stopped cleanly,
/// so a failing scenario leaves no server behind.
pub struct Herald {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Herald {
    /// Spawns `herald serve` on a free loopback port with a clean `HERALD_*`
    /// environment (inherited settings would make runs incomparable).
    pub fn spawn(launch: &Launch<'_>) -> Result<Herald, String> {
        let port = proc::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = File::options()
            .create(true)
            .append(true)
            .open(launch.log)
            .map_err(|e| format!("cannot open {}: {e}", launch.log.display()))?;
        let log_err = log.try_clone().map_err(|e| format!("cannot duplicate the log handle: {e}"))?;

        let mut command = Command::new(launch.binary);
        command.arg("serve");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HERALD_") {
                command.env_remove(&key);
            }
        }
        command
            .env("HERALD_DATA_DIR", launch.data_dir)
            .env("HERALD_LISTEN", addr.to_string())
            .env("HERALD_LOG_LEVEL", "warn");
        if let Some(url) = launch.database_url {
            command.env("HERALD_DATABASE_URL", url);
        }
        if launch.production {
            command.env("HERALD_ENV", "production");
        }
        for (key, value) in launch.settings {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch.binary.display()))?;
        Ok(Herald { child, addr, log: launch.log.to_owned() })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where herald listens; for scenarios that send it requests.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Polls `GET /readyz` until it answers 200; fails early if herald exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match http::get_status(self.addr, "/readyz", PROBE_TIMEOUT) {
                Ok(200) => return Ok(()),
                Ok(code) => format!("HTTP {code}"),
                Err(e) => e.to_string(),
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!("herald exited before ready ({status})")));
            }
            if Instant::now() >= deadline {
                let why = format!("/readyz not 200 after {timeout:?}; last probe: {last}");
                return Err(self.failure(&why));
            }
            thread::sleep(READY_POLL);
        }
    }

    /// The admin token printed once on stdout (an indented `hld_…` line) when
    /// herald starts on an empty database; herald stores only its hash, so
    /// the log is the one place to get it. Call after [`Herald::wait_ready`]:
    /// herald prints it before it starts serving.
    pub fn admin_token(&self) -> Result<String, String> {
        let text = fs::read_to_string(&self.log).map_err(|e| format!("cannot read {}: {e}", self.log.display()))?;
        text.lines()
            .rev()
            .find_map(|line| line.strip_prefix("    ").filter(|t| t.starts_with("hld_")))
            .map(|token| token.trim().to_owned())
            .ok_or_else(|| self.failure("printed no admin token (was the database not empty?)"))
    }

    /// SIGTERM (herald's graceful shutdown) and wait; returns the exit status
    /// so the caller can flag unclean shutdowns. Kills after [`STOP_TIMEOUT`].
    pub fn stop(mut self) -> Result<ExitStatus, String> {
        proc::send_signal(self.pid(), "TERM")?;
        match proc::wait_timeout(&mut self.child, STOP_TIMEOUT)? {
            Some(status) => Ok(status),
            None => Err(self.failure(&format!("still running {STOP_TIMEOUT:?} after SIGTERM"))),
        }
    }

    /// Error text with the tail of herald's log, for diagnosis.
    pub fn failure(&self, why: &str) -> String {
        format!(
            "herald (pid {}, {}) {why}\n--- {} (tail) ---\n{}",
            self.pid(),
            self.addr,
            self.log.display(),
            log_tail(&self.log)
        )
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Last [`LOG_TAIL_LINES`] lines of a log file (empty if unreadable).
pub fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
