//! Scenario `monitoring`: herald checking HTTP services against a local
//! target, on PostgreSQL and SQLite, every result persisted.
//!
//! 1. steady load: N HTTP services (1 000, then 10 000, each on a fresh
//!    database) at a 30 s interval; after a warm-up of one interval, over a
//!    window (180 s): checks per second achieved vs scheduled, schedule lag
//!    p99 (herald's `herald_check_lag_seconds`), herald CPU per check (and
//!    the PostgreSQL cluster's), RSS per service, database bytes per stored
//!    check (growth of `service_metric` with its indexes over the window).
//! 2. ceiling: services at herald's shortest interval (10 s) added in steps
//!    until the achieved rate falls short of the scheduled one or lag p99
//!    passes 1 s; the highest sustained rate is the ceiling.
//!
//! 0. from the first minute (`--first-minutes`, [`first_minutes`]): 1 000,
//!    2 000 and 10 000 services at 10 s created on a fresh herald, herald's
//!    CPU per check read every 10 s from then on, periodic jobs running.
//!
//! The target is a minimal keep-alive HTTP/1.1 server inside this process
//! (its CPU is in the "bench" column), and for part 0 also nginx. The
//! reference figures are those given with the issue (Uptime Kuma 2.5.3,
//! Vigil 1.29), not re-measured.

mod first_minutes;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use testkit::PgCluster;

use crate::Options;
use crate::cluster;
use crate::cpu::{self, Usage};
use crate::herald::{self, Herald, Launch};
use crate::http::Client;
use crate::proc::{self, TempDir};
use crate::report::{Table, fmt0, mark};

const INTERVAL: u64 = 30;
const CEILING_INTERVAL: u64 = 10;
pub const DEFAULT_WINDOW: u64 = 180;
const STEADY_SIZES: [u64; 2] = [1_000, 10_000];
/// Services at a 10 s interval per ceiling step: 1 000 to 8 000 checks/s.
const CEILING_STEPS: [u64; 6] = [10_000, 20_000, 40_000, 50_000, 60_000, 80_000];
const CEILING_WINDOW: u64 = 60;
const READY: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);

/// One measured window.
#[derive(Debug, Clone)]
struct Window {
    services: u64,
    interval: u64,
    seconds: f64,
    checks: f64,
    lag_p99: Option<f64>,
    cpu: Usage,
    rss_kib: u64,
    rss_empty_kib: u64,
    bytes: Option<f64>,
    write_failures: f64,
}

impl Window {
    fn scheduled(&self) -> f64 {
        self.services as f64 / self.interval as f64
    }
    fn achieved(&self) -> f64 {
        self.checks / self.seconds
    }
    fn cpu_us_per_check(&self, percent: f64) -> f64 {
        percent / 100.0 * self.seconds / self.checks.max(1.0) * 1e6
    }
    fn sustained(&self) -> bool {
        self.achieved() >= 0.97 * self.scheduled()
            && self.lag_p99.is_some_and(|l| l < 1.0)
            && self.write_failures == 0.0
    }
}

/// Service counts of part 0 (the durability issue's sizes).
const FIRST_MINUTES_SIZES: [u64; 3] = [1_000, 2_000, 10_000];
/// Minutes read per run in part 0.
pub const DEFAULT_MINUTES: u64 = 3;

pub fn run(options: &Options) -> Result<(), String> {
    if options.first_minutes {
        return run_first_minutes(options);
    }
    let binary = herald::locate(options.herald.as_deref())?;
    let window = options.seconds.unwrap_or(DEFAULT_WINDOW);
    let sizes: Vec<u64> = match options.users {
        _ if options.ceiling_only => Vec::new(),
        Some(n) => vec![n],
        None => STEADY_SIZES.to_vec(),
    };
    let target = Target::start()?;
    // main prints the header (date, machine, command).
    let mut out = vec![format!(
        "- herald: `{}` (HERALD_ENV=production: pool max 20; monitoring at its defaults: 512 checks in flight, \
         due times on a 1 s grid, claims every 1–5 s for what falls due up to the next, results gathered for 1–5 s (stretched at low rates) and stored up to 500 per transaction)\n- target: a keep-alive HTTP/1.1 server in \
         the bench process answering `200 ok` at http://{}/ (every service checks it; its CPU is in \"bench\")\n\
         - window: {window} s per steady size after a {INTERVAL} s warm-up; ceiling steps {CEILING_WINDOW} s each at a \
         {CEILING_INTERVAL} s interval\n- reference: Uptime Kuma 2.5.3 ≈ 4–5.6 ms CPU per check, ≈ 80 KB per \
         monitor, ≈ 135–140 B per stored check, one core saturated at ≈ 220 checks/s; Vigil 1.29 (persists \
         nothing) ≈ 44–61 µs per check, ≈ 9 KB per monitor (figures given with the issue)\n",
        binary.display(),
        target.addr
    )];
    let mut steady = Table::new(&[
        "backend",
        "services",
        "checks/s achieved / scheduled",
        "lag p99",
        "herald CPU per check",
        "database CPU per check",
        "RSS (per service)",
        "DB bytes per check",
        "goals",
    ]);
    let mut ceiling = Table::new(&[
        "backend",
        "services at 10 s",
        "checks/s achieved / scheduled",
        "lag p99",
        "herald CPU",
        "database CPU",
        "bench CPU",
        "sustained",
    ]);
    let mut verdicts = Vec::new();
    let cluster = start_cluster(options, &mut out[0])?;
    let backends = backends(options, cluster.as_ref())?;
    for pg in backends {
        let name = if pg.is_some() { "postgres" } else { "sqlite" };
        for &n in &sizes {
            eprintln!("{name} / steady {n} services:");
            let w = steady_run(&binary, pg, &target, n, window)?;
            let rss_per = (w.rss_kib.saturating_sub(w.rss_empty_kib)) as f64 * 1024.0 / n as f64;
            let herald_us = w.cpu_us_per_check(w.cpu.herald);
            let bytes = w.bytes.unwrap_or(f64::NAN);
            let mut goals = vec![
                format!("CPU ≤ 100 µs {}", mark(herald_us <= 100.0)),
                format!("≤ 10 KB/service {}", mark(rss_per <= 10_000.0)),
                format!("≤ 100 B/check {}", mark(bytes <= 100.0)),
            ];
            if n >= 10_000 {
                goals.push(format!("lag p99 < 1 s {}", mark(w.lag_p99.is_some_and(|l| l < 1.0))));
                goals.push(format!("RSS < 150 MiB {}", mark(w.rss_kib < 150 * 1024)));
            }
            steady.row(vec![
                name.into(),
                n.to_string(),
                format!("{:.1} / {:.1}", w.achieved(), w.scheduled()),
                lag(w.lag_p99),
                format!("{herald_us:.0} µs"),
                if pg.is_some() {
                    format!("{:.0} µs", w.cpu_us_per_check(w.cpu.database))
                } else {
                    "(in herald)".into()
                },
                format!("{:.1} MiB ({})", w.rss_kib as f64 / 1024.0, bytes_fmt(rss_per)),
                format!("{bytes:.0} B"),
                goals.join(", "),
            ]);
        }
        if options.users.is_some() {
            // A single chosen size is a smoke run: no ceiling.
            continue;
        }
        eprintln!("{name} / ceiling:");
        let steps = ceiling_run(&binary, pg, &target, options.ceiling_from.unwrap_or(0))?;
        let mut best = None;
        for w in &steps {
            ceiling.row(vec![
                name.into(),
                w.services.to_string(),
                format!("{:.0} / {:.0}", w.achieved(), w.scheduled()),
                lag(w.lag_p99),
                format!("{:.0} %", w.cpu.herald),
                if pg.is_some() { format!("{:.0} %", w.cpu.database) } else { "(in herald)".into() },
                format!("{:.0} %", w.cpu.load),
                mark(w.sustained()),
            ]);
            if w.sustained() {
                best = Some(w.achieved());
            }
        }
        let best = best.unwrap_or(0.0);
        verdicts.push(format!(
            "- ceiling on {name}: {} persisted checks/s sustained (goal ≥ 5 000: {})",
            fmt0(best),
            mark(best >= 5_000.0)
        ));
    }
    out.push(steady.render());
    out.push(format!("\nCeiling (CPU in % of one core; the machine has nproc × 100 %):\n\n{}", ceiling.render()));
    out.push(verdicts.join("\n"));
    println!("{}", out.join("\n"));
    Ok(())
}

/// Part 0 alone: every size on each backend, against nginx, and at 2 000
/// services also against the bench's own target.
fn run_first_minutes(options: &Options) -> Result<(), String> {
    let binary = herald::locate(options.herald.as_deref())?;
    let minutes = options.minutes.unwrap_or(DEFAULT_MINUTES);
    let sizes: Vec<u64> = options.users.map(|n| vec![n]).unwrap_or_else(|| FIRST_MINUTES_SIZES.to_vec());
    let own = Target::start()?;
    let nginx = crate::nginx::Nginx::start()?;
    let mut out = vec![format!(
        "- herald: `{}` (HERALD_ENV=production: pool max 20; everything at its defaults, periodic jobs included)\n\
         - services: HTTP, interval {} s, timeout 5 s, created through the API on a fresh database and herald; the \
         readings start when the last one is created\n\
         - targets: nginx (Debian nginx-light, one worker, keep-alive, `return 200 \"ok\"`, its CPU in neither \
         column) at http://{}/, and the bench's own keep-alive server at http://{}/\n\
         - readings: every {} s, herald's CPU (utime + stime from /proc) and the database cluster's, over the check \
         results stored in that time (rows added to `service_metric`, counted in the database); a minute's figure \
         is its six readings' CPU over their stored checks\n",
        binary.display(),
        first_minutes::INTERVAL,
        nginx.addr,
        own.addr,
        first_minutes::WINDOW.as_secs()
    )];
    let cluster = start_cluster(options, &mut out[0])?;
    let backends = backends(options, cluster.as_ref())?;
    let mut minutes_table = Table::new(&[
        "backend",
        "services",
        "target",
        "checks run / stored",
        "herald µs per stored check, minute by minute",
        "each 10 s reading (µs)",
        "database µs per stored check, minute by minute",
        "RSS at the end",
        "goal ≤ 100 µs every minute",
    ]);
    for pg in backends {
        let name = if pg.is_some() { "postgres" } else { "sqlite" };
        for &n in &sizes {
            let mut targets = vec![("nginx", nginx.addr)];
            if n == 2_000 || options.users.is_some() {
                targets.push(("bench target", own.addr));
            }
            for (target_name, addr) in targets {
                eprintln!("{name} / first minutes, {n} services against {target_name}:");
                let r = first_minutes::run(&binary, pg, addr, n, minutes)?;
                let per_minute = r.minutes();
                let db_minutes: Vec<String> = r
                    .readings
                    .chunks(6)
                    .filter(|c| c.len() == 6)
                    .map(|c| {
                        let checks: f64 = c.iter().map(|x| x.checks).sum();
                        let us: f64 = c.iter().map(|x| x.database_us.unwrap_or(0.0) * x.checks).sum();
                        format!("{:.0}", us / checks.max(1.0))
                    })
                    .collect();
                let pass = !per_minute.is_empty() && per_minute.iter().all(|&us| us <= first_minutes::GOAL_US);
                minutes_table.row(vec![
                    name.into(),
                    format!("{} (created in {:.1} s)", fmt0(n as f64), r.created_in.as_secs_f64()),
                    target_name.into(),
                    format!(
                        "{} / {}",
                        fmt0(r.readings.iter().map(|x| x.ran).sum()),
                        fmt0(r.readings.iter().map(|x| x.checks).sum())
                    ),
                    per_minute.iter().map(|us| format!("{us:.0}")).collect::<Vec<_>>().join(", "),
                    r.readings.iter().map(|x| format!("{:.0}", x.herald_us)).collect::<Vec<_>>().join(" "),
                    if pg.is_some() { db_minutes.join(", ") } else { "(in herald)".into() },
                    format!("{:.1} MiB", r.rss_kib as f64 / 1024.0),
                    mark(pass),
                ]);
            }
        }
    }
    out.push(minutes_table.render());
    println!("{}", out.join("\n"));
    Ok(())
}

/// The PostgreSQL cluster the options ask for, if its binaries are here;
/// what it is goes into the report's `context`.
fn start_cluster(options: &Options, context: &mut String) -> Result<Option<PgCluster>, String> {
    let want_pg = options.backend.as_deref() != Some("sqlite");
    if !(want_pg && ["initdb", "postgres", "psql"].iter().all(|b| PgCluster::bin(b).is_some())) {
        return Ok(None);
    }
    let c = cluster::start(options)?;
    context.push_str(&format!("- postgres: {}\n", c.described));
    Ok(Some(c.pg))
}

/// The backends to measure, in order: `None` is SQLite.
fn backends<'c>(options: &Options, cluster: Option<&'c PgCluster>) -> Result<Vec<Option<&'c PgCluster>>, String> {
    Ok(match (cluster, options.backend.as_deref()) {
        (Some(c), Some("postgres")) => vec![Some(c)],
        (None, Some("postgres")) => return Err("--backend postgres: no PostgreSQL binaries found".into()),
        (_, Some("sqlite")) => vec![None],
        (Some(c), _) => vec![Some(c), None],
        (None, _) => vec![None],
    })
}

fn lag(l: Option<f64>) -> String {
    match l {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.1} s"),
        None => "over 30 s".into(),
    }
}

fn bytes_fmt(b: f64) -> String {
    if b >= 1024.0 { format!("{:.1} KiB", b / 1024.0) } else { format!("{b:.0} B") }
}

/// A fresh herald on a fresh database.
struct Rig<'c> {
    herald: Herald,
    admin: String,
    postmaster: Option<u32>,
    /// Where its rows are: the cluster and database name, or the SQLite file.
    database: Database<'c>,
    _scratch: TempDir,
}

enum Database<'c> {
    Postgres(&'c PgCluster, String),
    Sqlite(std::path::PathBuf),
}

impl<'c> Rig<'c> {
    fn start(binary: &Path, pg: Option<&'c PgCluster>) -> Result<Rig<'c>, String> {
        let scratch = TempDir::new("herald-bench-monitoring")?;
        let data_dir = scratch.path().join("data");
        std::fs::create_dir(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let log = scratch.path().join("herald.log");
        let url = pg.map(|c| c.create_database()).transpose()?;
        let launch = Launch {
            binary,
            data_dir: &data_dir,
            database_url: url.as_deref(),
            log: &log,
            production: true,
            settings: &[],
        };
        let mut herald = Herald::spawn(&launch)?;
        herald.wait_ready(READY)?;
        let admin = herald.admin_token()?;
        let postmaster = pg.and_then(|c| cpu::postmaster(c.port()));
        let database = match (pg, &url) {
            (Some(c), Some(url)) => Database::Postgres(c, url.rsplit('/').next().unwrap_or_default().to_owned()),
            _ => Database::Sqlite(data_dir.join("herald.db")),
        };
        Ok(Rig { herald, admin, postmaster, database, _scratch: scratch })
    }

    /// Check results stored so far, counted in the database itself
    /// (`service_metric` rows), whatever herald's version reports.
    fn persisted(&self) -> Result<f64, String> {
        const SQL: &str = "SELECT count(*) FROM service_metric";
        let text = match &self.database {
            Database::Postgres(cluster, name) => cluster.psql(name, SQL)?,
            Database::Sqlite(file) => {
                let script = "import sqlite3, sys\n\
                    db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=30)\n\
                    print(db.execute(sys.argv[2]).fetchone()[0])\n";
                let out = std::process::Command::new("python3")
                    .args(["-c", script, &file.display().to_string(), SQL])
                    .output()
                    .map_err(|e| format!("python3: {e}"))?;
                if !out.status.success() {
                    return Err(format!("count stored checks: {}", String::from_utf8_lossy(&out.stderr)));
                }
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        };
        text.trim().parse().map_err(|e| format!("count stored checks: {e}: {text:?}"))
    }

    fn stop(self) -> Result<(), String> {
        let pid = self.herald.pid();
        let status = self.herald.stop()?;
        if status.success() { Ok(()) } else { Err(format!("herald (pid {pid}) ended with {status}")) }
    }

    fn get(&self, path: &str) -> Result<String, String> {
        let mut client = Client::connect(self.herald.addr(), TIMEOUT).map_err(|e| format!("connect: {e}"))?;
        let response = client.send("GET", path, Some(&self.admin), None).map_err(|e| format!("GET {path}: {e}"))?;
        if response.status != 200 {
            return Err(format!("GET {path}: {} {}", response.status, response.text()));
        }
        Ok(response.text())
    }

    /// Create services `from..to` with 4 keep-alive clients in parallel.
    fn create(&self, from: u64, to: u64, interval: u64, target: SocketAddr) -> Result<(), String> {
        let addr = self.herald.addr();
        let next = Arc::new(AtomicU64::new(from));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (next, admin) = (next.clone(), self.admin.clone());
                thread::spawn(move || -> Result<(), String> {
                    let mut client = Client::connect(addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= to {
                            return Ok(());
                        }
                        let body = format!(
                            r#"{{"name":"svc-{i}","kind":"http","target":"http://{target}/","interval_seconds":{interval},"timeout_seconds":5}}"#
                        );
                        let r = client
                            .send("POST", "/api/v1/services", Some(&admin), Some(&body))
                            .map_err(|e| format!("create service: {e}"))?;
                        if r.status != 201 {
                            return Err(format!("create service: {} {}", r.status, r.text()));
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "a creating thread panicked".to_string())??;
        }
        Ok(())
    }

    /// Counters from `/metrics` and `service_metric`'s size.
    fn sample(&self) -> Result<Sample, String> {
        let metrics = self.get("/metrics")?;
        let database = self.get("/api/v1/system/database")?;
        Ok(Sample {
            at: Instant::now(),
            checks: sum(&metrics, "herald_checks_total{"),
            failures: sum(&metrics, "herald_check_write_failures_total"),
            lag: buckets(&metrics, "herald_check_lag_seconds_bucket{le=\""),
            bytes: table_bytes(&database, "service_metric"),
            cpu: cpu::snapshot(Some(self.herald.pid()), self.postmaster),
        })
    }

    fn measure(&self, services: u64, interval: u64, seconds: u64, rss_empty_kib: u64) -> Result<Window, String> {
        let before = self.sample()?;
        thread::sleep(Duration::from_secs(seconds));
        let after = self.sample()?;
        let rss_kib = proc::rss_kib(self.herald.pid())?;
        let lag_buckets: Vec<(f64, f64)> =
            after.lag.iter().zip(&before.lag).map(|((le, a), (_, b))| (*le, a - b)).collect();
        let w = Window {
            services,
            interval,
            seconds: after.at.duration_since(before.at).as_secs_f64(),
            checks: after.checks - before.checks,
            lag_p99: quantile(&lag_buckets, 0.99),
            cpu: Usage::between(&before.cpu, &after.cpu),
            rss_kib,
            rss_empty_kib,
            bytes: match (before.bytes, after.bytes) {
                (Some(a), Some(b)) => Some((b - a) as f64 / (after.checks - before.checks).max(1.0)),
                _ => None,
            },
            write_failures: after.failures - before.failures,
        };
        eprintln!(
            "  {:.1}/{:.1} checks/s, lag p99 {}, herald {:.1} % CPU ({:.0} µs/check), db {:.1} %, RSS {} KiB, {:.0} B/check",
            w.achieved(),
            w.scheduled(),
            lag(w.lag_p99),
            w.cpu.herald,
            w.cpu_us_per_check(w.cpu.herald),
            w.cpu.database,
            w.rss_kib,
            w.bytes.unwrap_or(f64::NAN)
        );
        Ok(w)
    }
}

fn steady_run(binary: &Path, pg: Option<&PgCluster>, target: &Target, n: u64, window: u64) -> Result<Window, String> {
    let rig = Rig::start(binary, pg)?;
    thread::sleep(Duration::from_secs(3));
    let rss_empty = proc::rss_kib(rig.herald.pid())?;
    let started = Instant::now();
    rig.create(0, n, INTERVAL, target.addr)?;
    eprintln!("  {n} services created in {:.1} s; warm-up {INTERVAL} s...", started.elapsed().as_secs_f64());
    thread::sleep(Duration::from_secs(INTERVAL + 5));
    let w = rig.measure(n, INTERVAL, window, rss_empty)?;
    rig.stop()?;
    Ok(w)
}

fn ceiling_run(binary: &Path, pg: Option<&PgCluster>, target: &Target, from: u64) -> Result<Vec<Window>, String> {
    let rig = Rig::start(binary, pg)?;
    thread::sleep(Duration::from_secs(3));
    let rss_empty = proc::rss_kib(rig.herald.pid())?;
    let mut have = 0;
    let mut out = Vec::new();
    for &n in CEILING_STEPS.iter().filter(|&&n| n >= from) {
        rig.create(have, n, CEILING_INTERVAL, target.addr)?;
        have = n;
        eprintln!("  {n} services at {CEILING_INTERVAL} s; settling...");
        thread::sleep(Duration::from_secs(CEILING_INTERVAL * 2));
        let w = rig.measure(n, CEILING_INTERVAL, CEILING_WINDOW, rss_empty)?;
        let sustained = w.sustained();
        out.push(w);
        if !sustained {
            break;
        }
    }
    rig.stop()?;
    Ok(out)
}

struct Sample {
    at: Instant,
    checks: f64,
    failures: f64,
    lag: Vec<(f64, f64)>,
    bytes: Option<i64>,
    cpu: cpu::Snapshot,
}

/// Sum of the values of every metric line starting with `prefix`.
fn sum(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Cumulative histogram buckets `(upper bound, count)`, `+Inf` as infinity.
fn buckets(text: &str, prefix: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(prefix)?;
            let (le, rest) = rest.split_once('"')?;
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((bound, rest.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated within its bucket;
/// `None` when it lies in the open last bucket.
fn quantile(cumulative: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return Some(0.0);
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in cumulative {
        if count >= rank {
            if bound.is_infinite() {
                return None;
            }
            let share = if count > lower.1 { (rank - lower.1) / (count - lower.1) } else { 1.0 };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    None
}

/// `"name":"<table>","bytes":N` from the system/database JSON.
fn table_bytes(json: &str, table: &str) -> Option<i64> {
    let key = format!(r#""name":"{table}","bytes":"#);
    let rest = &json[json.find(&key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The local HTTP target: one thread per connection (herald keeps a few
/// pooled connections open), answering every request `200 ok`.
struct Target {
    addr: SocketAddr,
}

impl Target {
    fn start() -> Result<Target, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind target: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("target address: {e}"))?;
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || serve(stream));
            }
        });
        Ok(Target { addr })
    }
}

fn serve(mut stream: TcpStream) {
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_and_histograms() {
        let text = "herald_checks_total{result=\"up\"} 10\nherald_checks_total{result=\"down\"} 5\n\
                    herald_check_lag_seconds_bucket{le=\"0.1\"} 90\nherald_check_lag_seconds_bucket{le=\"1.0\"} 100\n\
                    herald_check_lag_seconds_bucket{le=\"+Inf\"} 100\n";
        assert_eq!(sum(text, "herald_checks_total{"), 15.0);
        let b = buckets(text, "herald_check_lag_seconds_bucket{le=\"");
        assert_eq!(b.len(), 3);
        let p99 = quantile(&b, 0.99).unwrap();
        assert!((p99 - 0.91).abs() < 1e-9, "{p99}");
        assert_eq!(table_bytes(r#"{"tables":[{"name":"service_metric","bytes":4096}]}"#, "service_metric"), Some(4096));
    }
}
