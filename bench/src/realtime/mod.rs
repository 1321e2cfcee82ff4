//! Scenario `realtime`: herald's WebSocket push, on PostgreSQL and SQLite.
//!
//! 1. idle sockets: 10 000 members, each with one authenticated, subscribed
//!    socket; herald's RSS before and after (bytes per idle socket), then
//!    herald's CPU over an idle window (% of one core).
//! 2. latency: 1 000 subscribed members; notifications created through the
//!    API at a steady rate for random ones of them; create→receive p50/p99,
//!    and every one must arrive exactly once, on its member's socket.
//! 3. announcement: one announcement to role member while the 10 000 of
//!    part 1 are subscribed; time until the last socket has it.
//!
//! The figures are set against a reference measured on the same machine
//! kind: a minimal socket.io server on Node that persists nothing (the
//! issue's numbers; not re-measured here). Members and their `bench-<id>`
//! tokens are seeded by SQL while herald is stopped ([`Rig`]), so herald's
//! RSS "before" already holds a fully seeded database and nothing else.

mod client;
mod latency;
mod phases;
mod results;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::PgCluster;

use crate::Options;
use crate::cluster;
use crate::herald;
use crate::notifications::{Backend, Rig, Seed, sqlite};
use crate::proc::TempDir;
use results::Results;

pub const DEFAULT_SOCKETS: u64 = 10_000;
pub const DEFAULT_LATENCY_SOCKETS: u64 = 1_000;
pub const DEFAULT_RATE: u64 = 200;
pub const DEFAULT_SECONDS: u64 = 30;
/// Announcements per backend; the figure is their median.
pub const DEFAULT_RUNS: usize = 3;
/// File descriptors besides the sockets: herald's database files and pool,
/// bench's HTTP clients, the runtime's own.
const FD_HEADROOM: u64 = 256;

/// Scenario sizes; all overridable for a quick smoke run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Idle sockets (part 1) and announcement recipients (part 3).
    pub sockets: u64,
    /// Subscribed members in the latency part.
    pub latency_sockets: u64,
    /// Notifications per second in the latency part.
    pub rate: u64,
    /// Length of the latency part's sending and of the idle CPU window.
    pub duration: Duration,
    pub runs: usize,
    /// herald's `realtime.ping_interval_seconds`, read from the binary:
    /// idle CPU is mostly pings, so windows are sized in whole periods.
    pub ping: Duration,
}

impl Sizes {
    fn from(options: &Options, ping: Duration) -> Sizes {
        Sizes {
            sockets: options.sockets.unwrap_or(DEFAULT_SOCKETS),
            latency_sockets: options.latency_sockets.unwrap_or(DEFAULT_LATENCY_SOCKETS),
            rate: options.rate.unwrap_or(DEFAULT_RATE),
            duration: Duration::from_secs(options.seconds.unwrap_or(DEFAULT_SECONDS)),
            runs: options.runs.unwrap_or(DEFAULT_RUNS),
            ping,
        }
    }
}

pub fn run(options: &Options) -> Result<(), String> {
    let binary = herald::locate(options.herald.as_deref())?;
    let sizes = Sizes::from(options, ping_interval(&binary)?);
    check_fd_limit(sizes.sockets.max(sizes.latency_sockets))?;
    let mut results = Results::new(sizes);
    results.context.push(format!(
        "- herald: `{}` (HERALD_ENV=production: pool max 20; realtime settings at their defaults: ping every {} s, \
         16 sockets per user)",
        binary.display(),
        sizes.ping.as_secs()
    ));
    results.context.push(
        "- client: bench itself, one tokio runtime with 2 worker threads (tokio-tungstenite), one task per socket, \
         64 handshakes in flight at a time; notifications are created over keep-alive HTTP/1.1 from 4 paced \
         sender threads; send and receive instants come from the same monotonic clock"
            .to_owned(),
    );
    if ["initdb", "postgres", "psql"].iter().all(|b| PgCluster::bin(b).is_some()) {
        let started = cluster::start(options)?;
        let cluster = started.pg;
        results.context.push(format!(
            "- postgres: {}; events reach sockets on other instances through LISTEN/NOTIFY",
            started.described
        ));
        all_parts(&binary, Backend::Postgres(&cluster), &sizes, &mut results)?;
    } else {
        results.context.push("- postgres: SKIPPED, initdb/postgres/psql not all found".to_owned());
    }
    if sqlite::available() {
        results.context.push("- sqlite: herald's WAL file; events go to sockets in-process".to_owned());
        all_parts(&binary, Backend::Sqlite, &sizes, &mut results)?;
    } else {
        results.context.push("- sqlite: SKIPPED, python3 with sqlite3 not found (needed to seed)".to_owned());
    }
    println!("{}", results.render());
    Ok(())
}

/// The latency part on its own herald, then idle sockets and announcements
/// on a second one: the announcements go to the sockets part 1 measured.
fn all_parts(binary: &Path, backend: Backend<'_>, sizes: &Sizes, results: &mut Results) -> Result<(), String> {
    let name = backend.name();
    eprintln!("{name} / 2 latency:");
    let rig = Rig::new(binary, backend, &Seed { users: sizes.latency_sockets, per_user: 0, tokens: true })?;
    let latency = latency::run(&rig, sizes, rig.herald.addr())?;
    results.latency(name, "same instance", &latency);
    rig.finish()?;
    if let Backend::Postgres(_) = backend {
        eprintln!("{name} / 2b latency across instances (sockets on a second herald):");
        let rig = Rig::new(binary, backend, &Seed { users: sizes.latency_sockets, per_user: 0, tokens: true })?;
        let peer = rig.peer()?;
        let latency = latency::run(&rig, sizes, peer.addr())?;
        results.latency(name, "across instances", &latency);
        let status = peer.stop()?;
        if !status.success() {
            return Err(format!("the peer herald ended with {status} after SIGTERM"));
        }
        rig.finish()?;
    }

    eprintln!("{name} / 1 idle sockets, 3 announcement:");
    let rig = Rig::new(binary, backend, &Seed { users: sizes.sockets, per_user: 0, tokens: true })?;
    let (idle, fleet) = phases::idle(&rig, sizes)?;
    results.idle(name, &idle);
    let announcements = phases::announce(&rig, &fleet, sizes)?;
    results.announce(name, fleet.count, &announcements);
    // herald closes every socket with 1001 on SIGTERM and must still exit 0.
    let stopped = rig.finish();
    drop(fleet);
    stopped
}

/// herald's effective `realtime.ping_interval_seconds`, from `herald config`
/// run with the environment the scenario starts it with (no `HERALD_*`
/// besides these), so the figure follows herald's defaults as they change.
fn ping_interval(binary: &Path) -> Result<Duration, String> {
    let scratch = TempDir::new("herald-bench-config")?;
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HERALD_") {
            command.env_remove(&key);
        }
    }
    let output = command
        .arg("config")
        .env("HERALD_DATA_DIR", scratch.path())
        .env("HERALD_ENV", "production")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {} config: {e}", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    realtime_setting(&text, "ping_interval_seconds").map(Duration::from_secs).ok_or_else(|| {
        format!(
            "`{} config` printed no realtime.ping_interval_seconds ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// `key = N` inside the `[realtime]` table of herald's TOML config dump.
fn realtime_setting(toml: &str, key: &str) -> Option<u64> {
    let mut in_realtime = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_realtime = line == "[realtime]";
        } else if let Some((name, value)) = line.split_once('=')
            && in_realtime
            && name.trim() == key
        {
            return value.trim().parse().ok();
        }
    }
    None
}

/// Both ends of every socket live on this machine, and herald inherits this
/// process's limit: fail at once rather than after a long ramp-up.
fn check_fd_limit(sockets: u64) -> Result<(), String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    match soft {
        Some(soft) if soft < sockets + FD_HEADROOM => Err(format!(
            "the open-file limit is {soft}; {sockets} sockets need at least {} (raise it with `ulimit -n`)",
            sockets + FD_HEADROOM
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::realtime_setting;

    #[test]
    fn reads_the_realtime_table() {
        let dump = "[pool]\nping_interval_seconds = 1\n\n[realtime]\nping_interval_seconds = 30\nsend_queue = 256\n";
        assert_eq!(realtime_setting(dump, "ping_interval_seconds"), Some(30));
        assert_eq!(realtime_setting(dump, "send_queue"), Some(256));
        assert_eq!(realtime_setting("[realtime]\n", "ping_interval_seconds"), None);
    }
}
