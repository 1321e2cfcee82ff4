//! Scenario `startup`: how fast herald becomes ready and how much memory it
//! holds when idle, on SQLite and PostgreSQL, from an empty database (runs
//! migrations and the first-admin bootstrap) and from an existing one (a
//! plain restart).
//!
//! Each run makes a fresh data directory (and, for PostgreSQL, a fresh
//! database), starts herald on it once ("empty database"), stops it, and
//! starts it again on the same, now migrated, data ("existing database").

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::thread;
use std::time::{Duration, Instant};

use testkit::PgCluster;

use crate::Options;
use crate::cluster;
use crate::herald::{self, Herald, Launch};
use crate::proc::{self, TempDir};
use crate::report::Table;
use crate::stats::Summary;

/// Give up on a start that takes this long.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle time before reading RSS, so lazy start-up work has settled.
const IDLE_BEFORE_RSS: Duration = Duration::from_secs(2);
/// Goals from the project brief; a row PASSes when both medians meet them.
const GOAL_READY_MS: f64 = 1000.0;
const GOAL_RSS_MIB: f64 = 30.0;

/// Starts per case unless `--runs` says otherwise.
pub const DEFAULT_RUNS: usize = 5;

const CASES: [&str; 2] = ["empty database", "existing database"];

/// Samples of one backend × case.
struct Series {
    backend: &'static str,
    case: &'static str,
    ready_ms: Vec<f64>,
    rss_mib: Vec<f64>,
    /// Runs whose herald did not exit 0 after SIGTERM.
    unclean_exits: usize,
}

/// One measured start.
struct Sample {
    ready: Duration,
    rss_kib: u64,
    exit: ExitStatus,
}

pub fn run(options: &Options) -> Result<(), String> {
    let binary = herald::locate(options.herald.as_deref())?;
    let mut context = vec![format!("- herald: `{}`", binary.display())];
    let mut notes = Vec::new();
    let runs = options.runs.unwrap_or(DEFAULT_RUNS);
    let mut series = measure(&binary, "sqlite", runs, &mut notes, || Ok(None))?;

    let have_pg = ["initdb", "postgres", "psql"].iter().all(|b| PgCluster::bin(b).is_some());
    if have_pg {
        let started = cluster::start(options)?;
        let cluster = started.pg;
        context.push(format!("- postgres: {}, TCP on 127.0.0.1", started.described));
        let create = || cluster.create_database().map(Some);
        series.extend(measure(&binary, "postgres", runs, &mut notes, create)?);
    } else {
        let line = "- postgres: SKIPPED, PostgreSQL binaries (initdb, postgres, psql) not found";
        eprintln!("{line}");
        context.push(line.to_owned());
    }

    println!("{}\n\n{}", context.join("\n"), table(&series).render());
    if notes.is_empty() {
        return Ok(());
    }
    println!("Notes:\n");
    for note in &notes {
        println!("- {note}");
    }
    Err(format!("{} run(s) did not shut down cleanly", notes.len()))
}

/// Runs both cases `runs` times on one backend; `database` yields the URL of
/// a fresh database per run (`None` for SQLite in the data directory).
fn measure(
    binary: &Path,
    backend: &'static str,
    runs: usize,
    notes: &mut Vec<String>,
    database: impl Fn() -> Result<Option<String>, String>,
) -> Result<Vec<Series>, String> {
    let mut all: Vec<Series> = CASES
        .iter()
        .map(|case| Series { backend, case, ready_ms: Vec::new(), rss_mib: Vec::new(), unclean_exits: 0 })
        .collect();
    for run in 1..=runs {
        let scratch = TempDir::new("herald-bench")?;
        let data_dir = scratch.path().join("data");
        fs::create_dir(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let log = scratch.path().join("herald.log");
        let url = database()?;
        let launch = Launch {
            binary,
            data_dir: &data_dir,
            database_url: url.as_deref(),
            log: &log,
            production: false,
            settings: &[],
        };
        for series in &mut all {
            let sample = start_once(&launch)?;
            let rss_mib = sample.rss_kib as f64 / 1024.0;
            let ready_ms = sample.ready.as_secs_f64() * 1000.0;
            eprintln!(
                "{backend} / {} run {run}/{runs}: ready {ready_ms:.1} ms, idle RSS {rss_mib:.1} MiB, {}",
                series.case, sample.exit
            );
            if !sample.exit.success() {
                series.unclean_exits += 1;
                notes.push(format!(
                    "{backend} / {} run {run}: herald ended with {} after SIGTERM (expected exit code 0)",
                    series.case,
                    describe_exit(sample.exit)
                ));
                eprintln!("--- {} (tail) ---\n{}", log.display(), herald::log_tail(&log));
            }
            series.ready_ms.push(ready_ms);
            series.rss_mib.push(rss_mib);
        }
    }
    Ok(all)
}

/// Spawn, time until ready, idle, read RSS, stop. The clock starts just
/// before spawning so process creation counts, as it would for a user.
fn start_once(launch: &Launch<'_>) -> Result<Sample, String> {
    let started = Instant::now();
    let mut herald = Herald::spawn(launch)?;
    herald.wait_ready(READY_TIMEOUT)?;
    let ready = started.elapsed();
    thread::sleep(IDLE_BEFORE_RSS);
    let rss_kib = proc::rss_kib(herald.pid()).map_err(|e| herald.failure(&e))?;
    let exit = herald.stop()?;
    Ok(Sample { ready, rss_kib, exit })
}

/// "exit code 3" or "signal 9", for notes readers can act on.
fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

fn table(all: &[Series]) -> Table {
    let mut table =
        Table::new(&["backend", "case", "runs", "ready median ms", "ready min–max ms", "idle RSS median MiB", "goal"]);
    for series in all {
        let (Some(ready), Some(rss)) = (Summary::of(&series.ready_ms), Summary::of(&series.rss_mib)) else {
            continue;
        };
        let pass = ready.median < GOAL_READY_MS && rss.median < GOAL_RSS_MIB && series.unclean_exits == 0;
        let mark = if pass { "PASS" } else { "MISS" };
        table.row(vec![
            series.backend.to_owned(),
            series.case.to_owned(),
            series.ready_ms.len().to_string(),
            format!("{:.1}", ready.median),
            format!("{:.1}–{:.1}", ready.min, ready.max),
            format!("{:.1}", rss.median),
            format!("ready < {GOAL_READY_MS:.0} ms, RSS < {GOAL_RSS_MIB:.0} MiB: {mark}"),
        ]);
    }
    table
}
