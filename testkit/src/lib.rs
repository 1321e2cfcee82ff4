//! Throwaway PostgreSQL clusters for herald's tests and benchmarks.
//!
//! Each cluster lives in its own temporary directory, listens on a free
//! loopback port with `trust` authentication and is tuned for speed over
//! durability (`fsync=off` and friends), because its data is worthless.
//!
//! The one hard requirement is that a cluster can never outlive the process
//! that started it, not even after a panic, an abort or SIGKILL. PostgreSQL is
//! therefore started by a small `sh` launcher whose stdin is a pipe held by
//! this process: the launcher blocks reading that pipe, and when it reaches
//! end-of-file (the [`PgCluster`] was dropped or the process died and the
//! kernel closed the pipe) it shuts PostgreSQL down and deletes the directory.

mod bins;
mod setup;

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a new cluster may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes.
const READY_POLL: Duration = Duration::from_millis(50);
/// Log lines quoted in start-up errors.
const LOG_TAIL_LINES: usize = 30;

/// Settings that give a cluster PostgreSQL's default durability back (every
/// commit flushed to disk), for benchmarks measured as production runs:
/// pass to [`PgCluster::start_with`]. Tests keep the fast default.
pub const DURABLE: &[(&str, &str)] = &[("fsync", "on"), ("synchronous_commit", "on"), ("full_page_writes", "on")];

/// A running throwaway PostgreSQL cluster; dropping it stops the server and
/// deletes its directory.
pub struct PgCluster {
    port: u16,
    /// Temporary directory holding `data/`, `sock/` and `postgres.log`.
    dir: PathBuf,
    psql: PathBuf,
    /// Our end of the launcher's stdin; closing it stops the cluster.
    stdin: Option<ChildStdin>,
    launcher: Child,
}

impl PgCluster {
    /// Start a fresh cluster in a new temporary directory.
    pub fn start() -> Result<PgCluster, String> {
        Self::start_with(&[])
    }

    /// Like [`PgCluster::start`], with extra `-c key=value` server settings
    /// (e.g. `shared_preload_libraries`), applied after the defaults.
    pub fn start_with(settings: &[(&str, &str)]) -> Result<PgCluster, String> {
        let initdb = setup::require_bin("initdb")?;
        let postgres = setup::require_bin("postgres")?;
        let psql = setup::require_bin("psql")?;
        let as_root = bins::running_as_root();

        let dir = setup::make_temp_dir()?;
        let prepared = setup::prepare_data_dir(&dir, &initdb, as_root);
        if let Err(e) = prepared {
            // Best effort: nothing else will remove the directory.
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }

        // Picked just before use to keep the window for another taker small.
        let launched = setup::free_port()
            .and_then(|port| setup::spawn_launcher(&dir, &postgres, port, settings, as_root).map(|c| (port, c)));
        let (port, mut launcher) = match launched {
            Ok(launched) => launched,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let stdin = launcher.stdin.take();
        let mut cluster = PgCluster { port, dir, psql, stdin, launcher };
        // On error `cluster` is dropped here, which stops and removes it.
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Process-wide shared cluster, started on first use.
    ///
    /// Returns `None` when the PostgreSQL binaries are not installed, so the
    /// caller can skip (or fail, see [`postgres_required`]). Panics with the
    /// start-up error if the binaries exist but the cluster does not start:
    /// that is a broken environment, not a reason to skip silently. The
    /// cluster lives in a static that is never dropped; it stops when the
    /// process exits and the kernel closes the launcher's pipe.
    pub fn shared() -> Option<&'static PgCluster> {
        static SHARED: OnceLock<Result<Option<PgCluster>, String>> = OnceLock::new();
        let state = SHARED.get_or_init(|| {
            if ["initdb", "postgres", "psql"].iter().any(|b| Self::bin(b).is_none()) {
                return Ok(None);
            }
            Self::start().map(Some)
        });
        match state {
            Ok(cluster) => cluster.as_ref(),
            Err(e) => panic!("the shared PostgreSQL test cluster failed to start: {e}"),
        }
    }

    /// TCP port the cluster listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Create a new, uniquely named, empty database and return its URL.
    ///
    /// Names combine pid, a counter and the clock so that parallel tests and
    /// parallel test binaries sharing a cluster never collide.
    pub fn create_database(&self) -> Result<String, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{}_{}_{}", std::process::id(), n, setup::nanos());
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(&name))
    }

    /// URL of the admin database `postgres`.
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// Run SQL through `psql` against `database`; returns its stdout (unaligned,
    /// tuples only, one row per line) without the trailing newline.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let output = Command::new(&self.psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args(["-p", &port, "-U", "postgres", "-d", database, "-Atc", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.psql.display()))?;
        if !output.status.success() {
            return Err(format!(
                "psql on database {database} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout.strip_suffix('\n').unwrap_or(&stdout).to_owned())
    }

    /// Path of a PostgreSQL binary (`pgbench`, `psql`, ...): `PATH` first,
    /// else the highest `/usr/lib/postgresql/*/bin`.
    pub fn bin(name: &str) -> Option<PathBuf> {
        bins::find(name)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Probe with `select 1` until it answers, failing early when the
    /// launcher or the server process has already died.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let last_error = match self.psql("postgres", "select 1") {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if let Ok(Some(status)) = self.launcher.try_wait() {
                return Err(self.start_error(&format!("the launcher exited early ({status})")));
            }
            if self.server_exited() {
                return Err(self.start_error("postgres exited during start-up"));
            }
            if Instant::now() >= deadline {
                let why = format!("not ready after {READY_TIMEOUT:?}; last probe: {last_error}");
                return Err(self.start_error(&why));
            }
            thread::sleep(READY_POLL);
        }
    }

    /// True when the server pid recorded by the launcher is gone or a zombie
    /// (the launcher only reaps it after stdin closes).
    fn server_exited(&self) -> bool {
        let Ok(pid) = fs::read_to_string(self.dir.join("launcher.pid")) else {
            return false; // Launcher has not written it yet.
        };
        match fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
            // Format: "pid (comm) STATE ..."; comm may contain spaces.
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => true,
        }
    }

    fn start_error(&self, why: &str) -> String {
        let log = fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        format!("PostgreSQL on port {} failed to start: {why}\n--- postgres.log (tail) ---\n{tail}", self.port)
    }
}

impl Drop for PgCluster {
    /// Closing the pipe tells the launcher to stop the server and delete the
    /// directory; waiting for it means the cluster is really gone afterwards.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.launcher.wait();
    }
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster").field("port", &self.port).field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// True when PostgreSQL tests must run rather than skip: env `CI` is set to
/// a non-empty value other than "0". (Not a `HERALD_*` name: herald reads
/// every `HERALD_*` variable as configuration and refuses unknown keys.)
pub fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod tests;
