//! `bench web`: the web app at 10 000 services.
//!
//! Each backend gets 10 000 services with 30 days of hourly and daily
//! rollups and 1 000 000 raw checks (the last 100 minutes at one a minute),
//! seeded with SQL while herald is stopped, as a month-old installation
//! would hold them. herald then serves with its check scheduler off, so
//! what is measured is the pages alone:
//!
//! 1. server time of `/` and `/services/{id}` (a random service each
//!    request) at 4 clients on keep-alive connections: p50, p99, req/s;
//! 2. the bytes of each page;
//! 3. in headless Chromium (Debian's, over ChromeDriver's W3C protocol, spoken
//!    here over plain HTTP), the first contentful paint and the load event
//!    of each page from the Navigation and Paint Timing APIs: the first
//!    visit (nothing cached) and the median of the next ones.
//!
//! Goals (the web-app issue): `/` painted < 500 ms, the service page
//! < 300 ms, `/` HTML p99 < 50 ms at 4 clients, no page over 300 KB.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::PgCluster;

use crate::herald::{self, Herald, Launch};
use crate::http::Client;
use crate::load::{self, Plan, Request};
use crate::proc::{self, TempDir};
use crate::report::{Table, mark};
use crate::stats::Summary;
use crate::{Options, cluster};

const SERVICES: u64 = 10_000;
const DAYS: u64 = 30;
/// Raw checks per service: the last 100 minutes at one a minute (1 000 000 in all).
const RAW_PER_SERVICE: u64 = 100;
const READY: Duration = Duration::from_secs(120);
const PASSWORD: &str = "bench web password";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn run(options: &Options) -> Result<(), String> {
    let binary = herald::locate(options.herald.as_deref())?;
    let seconds = options.seconds.unwrap_or(10);
    let visits = options.runs.unwrap_or(10).max(2);
    let mut context = format!(
        "- herald: `{}` (HERALD_ENV=production: pool max 20; HERALD_MONITORING__SCHEDULER=false, so only pages run)\n\
         - data: {SERVICES} services, {DAYS} days of hourly and daily rollups, {} raw checks, seeded with SQL while \
         herald was stopped\n- load: 4 clients on keep-alive connections, {seconds} s per page after 2 s of warm-up; \
         `/services/{{id}}` picks a random service per request\n- browser: Debian Chromium over ChromeDriver, \
         1280 × 900, {visits} visits per page: the first (nothing cached) and the median of the rest\n",
        binary.display(),
        SERVICES * RAW_PER_SERVICE
    );
    let want_pg = options.backend.as_deref() != Some("sqlite");
    let pg = if want_pg && ["initdb", "postgres", "psql"].iter().all(|b| PgCluster::bin(b).is_some()) {
        let c = cluster::start(options)?;
        context.push_str(&format!("- postgres: {}\n", c.described));
        Some(c.pg)
    } else {
        None
    };
    let mut backends: Vec<Option<&PgCluster>> = Vec::new();
    if options.backend.as_deref() != Some("postgres") {
        backends.push(None);
    }
    if let Some(pg) = &pg {
        backends.push(Some(pg));
    }
    let mut table = Table::new(&[
        "backend",
        "page",
        "server p50",
        "server p99",
        "req/s",
        "bytes",
        "first paint, first visit",
        "first paint, median",
        "load event, median",
        "goals",
    ]);
    let mut seeding = Vec::new();
    for backend in backends {
        let name = if backend.is_some() { "postgres" } else { "sqlite" };
        eprintln!("== {name}");
        let measured = measure(&binary, backend, seconds, visits)?;
        seeding.push(format!("{name}: seeded in {:.1} s", measured.seed_seconds));
        for page in measured.pages {
            let goal_paint = if page.name == "/" { 500.0 } else { 300.0 };
            let mut goals = vec![
                format!(
                    "paint < {goal_paint:.0} ms {}",
                    mark(page.paint_median < goal_paint && page.paint_first < goal_paint)
                ),
                format!("≤ 300 KB {}", mark(page.bytes <= 300 * 1000)),
            ];
            if page.name == "/" {
                goals.push(format!("p99 < 50 ms {}", mark(page.server_p99 < 50.0)));
            }
            table.row(vec![
                name.into(),
                format!("`{}`", page.name),
                format!("{:.1} ms", page.server_p50),
                format!("{:.1} ms", page.server_p99),
                format!("{:.0}", page.per_second),
                format!("{} B", page.bytes),
                format!("{:.0} ms", page.paint_first),
                format!("{:.0} ms", page.paint_median),
                format!("{:.0} ms", page.load_median),
                goals.join(", "),
            ]);
        }
    }
    println!("{context}- {}\n\n{}", seeding.join("; "), table.render());
    Ok(())
}

struct PageFigures {
    name: &'static str,
    server_p50: f64,
    server_p99: f64,
    per_second: f64,
    bytes: usize,
    paint_first: f64,
    paint_median: f64,
    load_median: f64,
}

struct Measured {
    seed_seconds: f64,
    pages: Vec<PageFigures>,
}

fn measure(binary: &Path, pg: Option<&PgCluster>, seconds: u64, visits: usize) -> Result<Measured, String> {
    let scratch = TempDir::new("herald-bench-web")?;
    let data_dir = scratch.path().join("data");
    std::fs::create_dir(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let log = scratch.path().join("herald.log");
    let url = pg.map(|c| c.create_database()).transpose()?;
    let settings = [("HERALD_MONITORING__SCHEDULER", "false")];
    let launch = Launch {
        binary,
        data_dir: &data_dir,
        database_url: url.as_deref(),
        log: &log,
        production: true,
        settings: &settings,
    };
    // First start: the schema and the admin; then stopped for the seeding.
    let mut first = Herald::spawn(&launch)?;
    first.wait_ready(READY)?;
    first.stop()?;
    let started = Instant::now();
    let sql = seed_sql(pg.is_some(), now_seconds());
    match (pg, &url) {
        (Some(cluster), Some(url)) => {
            let database = url.rsplit('/').next().unwrap_or_default();
            cluster.psql(database, &sql)?;
            cluster.psql(database, "VACUUM ANALYZE")?;
        }
        _ => sqlite_exec(&data_dir.join("herald.db"), &sql)?,
    }
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded in {seed_seconds:.1} s");
    set_password(binary, &data_dir, url.as_deref())?;
    let mut herald = Herald::spawn(&launch)?;
    herald.wait_ready(READY)?;
    let addr = herald.addr();
    let cookie = sign_in(addr)?;
    let mut pages = Vec::new();
    for name in ["/", "/services/{id}"] {
        let path = |id: i64| if name == "/" { "/".to_string() } else { format!("/services/{id}") };
        let mut client = Client::connect(addr, Duration::from_secs(30)).map_err(|e| e.to_string())?;
        let one = client.send_headers("GET", &path(1), &[("Cookie", &cookie)], None).map_err(|e| e.to_string())?;
        if one.status != 200 {
            return Err(herald.failure(&format!("GET {} answered {}: {}", path(1), one.status, one.text())));
        }
        let bytes = one.body.len();
        let plan = Plan {
            addr,
            clients: 4,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(seconds),
            expect: 200,
        };
        let outcome = load::run(&plan, &|rng| Request {
            method: "GET",
            path: path(rng.between(1, SERVICES as i64)),
            token: String::new(),
            body: None,
            cookie: Some(cookie.clone()),
        });
        if outcome.errors > 0 {
            return Err(format!("{name}: {} errors, first: {:?}", outcome.errors, outcome.first_error));
        }
        // Where the time went, by database operation (herald's own figures), for the log.
        if let Ok(r) = client.send_headers("GET", "/api/v1/system/database", &[("Cookie", &cookie)], None) {
            let text = r.text();
            let operations = text.split("\"operations\":").nth(1).unwrap_or_default();
            eprintln!("{name}: operations since start: {}", operations.chars().take(1500).collect::<String>());
        }
        let browser_path = path(1 + (SERVICES as i64) / 2);
        let (paint_first, paint_median, load_median) = browser_timings(addr, &cookie, &browser_path, visits)?;
        pages.push(PageFigures {
            name,
            server_p50: outcome.percentile_ms(0.5),
            server_p99: outcome.percentile_ms(0.99),
            per_second: outcome.per_second(),
            bytes,
            paint_first,
            paint_median,
            load_median,
        });
    }
    herald.stop()?;
    Ok(Measured { seed_seconds, pages })
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The seeding script: services, their rollups (hours and days, and this
/// hour's ten-minute slices: the shapes herald writes), raw checks for the
/// last 100 minutes, and how far each level is rolled up. Service `i` is down if `i % 50 == 0`, degraded
/// if `i % 20 == 0`, else up; one hour in 40 of each service had two
/// failed checks.
fn seed_sql(postgres: bool, now: u64) -> String {
    let hour = now - now % 3600;
    let day = now - now % 86_400;
    let slice = now - now % 600;
    let quarter = now - now % 21_600;
    let hours_from = hour - DAYS * 86_400;
    let days_from = day - DAYS * 86_400;
    let raw_from = now - RAW_PER_SERVICE * 60;
    // 2 ms checks: histogram bucket 18 (herald's log-spaced bounds).
    if postgres {
        let ts = |s: u64| format!("to_timestamp({s})");
        format!(
            "BEGIN;
INSERT INTO service (name, kind, target, config, interval_seconds, timeout_seconds, failure_threshold,
  recovery_threshold, enabled, public, tags, status, failures, successes, last_checked_at, next_check_at,
  created_at, updated_at)
SELECT 'svc-' || lpad(i::text, 5, '0') || '.example.com', 'http', 'http://127.0.0.1:9/health', '{{}}', 60, 10, 3, 2,
  true, false, '[]', CASE WHEN i % 50 = 0 THEN 'down' WHEN i % 20 = 0 THEN 'degraded' ELSE 'up' END, 0, 0,
  {now_ts}, {next_ts}, {created_ts}, {now_ts}
FROM generate_series(1, {SERVICES}) AS i;
INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us,
  latency_min_us, latency_max_us, latency_hist)
SELECT s.id, 3600, to_timestamp(h), 60, CASE WHEN (s.id + h / 3600) % 40 = 0 THEN 58 ELSE 60 END, 0,
  CASE WHEN (s.id + h / 3600) % 40 = 0 THEN 2 ELSE 0 END, 0, 120000, 1500, 4000, '{{\"18\": 60}}'
FROM service s, generate_series({hours_from}::bigint, {last_hour}::bigint, 3600) AS h;
INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us,
  latency_min_us, latency_max_us, latency_hist)
SELECT s.id, 86400, to_timestamp(d), 1440, 1439, 0, 1, 0, 2880000, 1500, 4000, '{{\"18\": 1440}}'
FROM service s, generate_series({days_from}::bigint, {last_day}::bigint, 86400) AS d;
INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us,
  latency_min_us, latency_max_us, latency_hist)
SELECT s.id, 600, to_timestamp(b), 10, CASE WHEN s.id % 50 = 0 THEN 0 ELSE 10 END, 0,
  CASE WHEN s.id % 50 = 0 THEN 10 ELSE 0 END, 0, 20000, 1500, 2500, '{{\"18\": 10}}'
FROM service s, generate_series({hour}::bigint, {last_slice}::bigint, 600) AS b WHERE {hour} < {slice};
INSERT INTO service_metric (checked_at, service_id, instance_id, latency_us, status, status_code, error)
SELECT to_timestamp(t), s.id, 1, 1500 + (s.id * 7 + t) % 1000, CASE WHEN s.id % 50 = 0 THEN 2 ELSE 0 END,
  CASE WHEN s.id % 50 = 0 THEN 503 ELSE 200 END, CASE WHEN s.id % 50 = 0 THEN 'status 503 not in 2xx' END
FROM service s, generate_series({raw_from}::bigint, {raw_to}::bigint, 60) AS t;
INSERT INTO rollup_progress (period, rolled_to) VALUES (600, {slice_ts}), (3600, {hour_ts}), (21600, {quarter_ts}),
  (86400, {day_ts})
ON CONFLICT (period) DO UPDATE SET rolled_to = excluded.rolled_to;
COMMIT;",
            now_ts = ts(now),
            next_ts = ts(now + 86_400),
            created_ts = ts(now - (DAYS + 1) * 86_400),
            last_hour = hour - 3600,
            last_day = day - 86_400,
            raw_to = raw_from + (RAW_PER_SERVICE - 1) * 60,
            last_slice = slice.saturating_sub(600).max(hour),
            slice_ts = ts(slice),
            hour_ts = ts(hour),
            quarter_ts = ts(quarter),
            day_ts = ts(day),
        )
    } else {
        // herald's SQLite times: RFC 3339 text with microseconds (compared as
        // text, so exactly this form), raw check times as integer microseconds.
        let ts = |expr: &str| format!("strftime('%Y-%m-%dT%H:%M:%S.000000Z', {expr}, 'unixepoch')");
        format!(
            "BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SERVICES})
INSERT INTO service (name, kind, target, config, interval_seconds, timeout_seconds, failure_threshold,
  recovery_threshold, enabled, public, tags, status, failures, successes, last_checked_at, next_check_at,
  created_at, updated_at)
SELECT 'svc-' || substr('0000' || i, -5) || '.example.com', 'http', 'http://127.0.0.1:9/health', '{{}}', 60, 10, 3, 2,
  1, 0, '[]', CASE WHEN i % 50 = 0 THEN 'down' WHEN i % 20 = 0 THEN 'degraded' ELSE 'up' END, 0, 0,
  {now_ts}, {next_ts}, {created_ts}, {now_ts}
FROM n;
WITH RECURSIVE h(t) AS (SELECT {hours_from} UNION ALL SELECT t + 3600 FROM h WHERE t + 3600 < {hour})
INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us,
  latency_min_us, latency_max_us, latency_hist)
SELECT s.id, 3600, {h_ts}, 60, CASE WHEN (s.id + h.t / 3600) % 40 = 0 THEN 58 ELSE 60 END, 0,
  CASE WHEN (s.id + h.t / 3600) % 40 = 0 THEN 2 ELSE 0 END, 0, 120000, 1500, 4000, '{{\"18\":60}}'
FROM service s, h;
WITH RECURSIVE d(t) AS (SELECT {days_from} UNION ALL SELECT t + 86400 FROM d WHERE t + 86400 < {day})
INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us,
  latency_min_us, latency_max_us, latency_hist)
SELECT s.id, 86400, {d_ts}, 1440, 1439, 0, 1, 0, 2880000, 1500, 4000, '{{\"18\":1440}}'
FROM service s, d;
WITH RECURSIVE b(t) AS (SELECT {hour} UNION ALL SELECT t + 600 FROM b WHERE t + 600 < {slice})
INSERT INTO service_rollup (service_id, period, bucket, checks, up, degraded, down, maintenance, latency_sum_us,
  latency_min_us, latency_max_us, latency_hist)
SELECT s.id, 600, {b_ts}, 10, CASE WHEN s.id % 50 = 0 THEN 0 ELSE 10 END, 0,
  CASE WHEN s.id % 50 = 0 THEN 10 ELSE 0 END, 0, 20000, 1500, 2500, '{{\"18\":10}}'
FROM service s, b WHERE {hour} < {slice};
WITH RECURSIVE r(t) AS (SELECT {raw_from} UNION ALL SELECT t + 60 FROM r WHERE t + 60 < {raw_end})
INSERT INTO service_metric (service_id, checked_at, status, status_code, instance_id, latency_us, error)
SELECT s.id, r.t * 1000000, CASE WHEN s.id % 50 = 0 THEN 2 ELSE 0 END, CASE WHEN s.id % 50 = 0 THEN 503 ELSE 200 END,
  1, 1500 + (s.id * 7 + r.t) % 1000, CASE WHEN s.id % 50 = 0 THEN 'status 503 not in 2xx' END
FROM service s, r;
INSERT OR REPLACE INTO rollup_progress (period, rolled_to) VALUES (600, {slice_ts}), (3600, {hour_ts}),
  (21600, {quarter_ts}), (86400, {day_ts});
COMMIT;",
            now_ts = ts(&now.to_string()),
            next_ts = ts(&(now + 86_400).to_string()),
            created_ts = ts(&(now - (DAYS + 1) * 86_400).to_string()),
            h_ts = ts("h.t"),
            d_ts = ts("d.t"),
            b_ts = ts("b.t"),
            raw_end = raw_from + RAW_PER_SERVICE * 60,
            slice_ts = ts(&slice.to_string()),
            hour_ts = ts(&hour.to_string()),
            quarter_ts = ts(&quarter.to_string()),
            day_ts = ts(&day.to_string()),
        )
    }
}

/// Run a script on the SQLite file with Python's sqlite3 (the bench's
/// SQLite client elsewhere too).
fn sqlite_exec(file: &Path, sql: &str) -> Result<(), String> {
    let script = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n\
        db.executescript(sys.stdin.read())\n\
        db.execute('ANALYZE')\n";
    let mut child = Command::new("python3")
        .args(["-c", script, &file.display().to_string()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    child.stdin.take().ok_or("no stdin")?.write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("seeding SQLite: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// `herald user password` for the bootstrap admin, as an operator sets it.
fn set_password(binary: &Path, data_dir: &Path, url: Option<&str>) -> Result<(), String> {
    let mut command = Command::new(binary);
    command.args(["user", "password", "--email", "admin@localhost", "--password-stdin"]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HERALD_") {
            command.env_remove(&key);
        }
    }
    command.env("HERALD_DATA_DIR", data_dir);
    if let Some(url) = url {
        command.env("HERALD_DATABASE_URL", url);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("herald user password: {e}"))?;
    child.stdin.take().ok_or("no stdin")?.write_all(format!("{PASSWORD}\n").as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("herald user password: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// Sign in through the form; the session cookie (`herald_session=…`).
fn sign_in(addr: std::net::SocketAddr) -> Result<String, String> {
    let mut client = Client::connect(addr, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let body = format!("email=admin%40localhost&password={}", PASSWORD.replace(' ', "+"));
    // The client sends `Host: bench`: herald's Origin check compares with it.
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://bench")];
    let response = client.send_headers("POST", "/login", &headers, Some(&body)).map_err(|e| e.to_string())?;
    match (response.status, &response.cookie) {
        (303, Some(cookie)) => Ok(cookie.clone()),
        (status, _) => Err(format!("sign-in answered {status}: {}", response.text())),
    }
}

/// First contentful paint and load event of `path` in Chromium: the first
/// visit, then the medians of the others (ms from navigation start).
fn browser_timings(
    addr: std::net::SocketAddr,
    cookie: &str,
    path: &str,
    visits: usize,
) -> Result<(f64, f64, f64), String> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        return Err(format!("{CHROMIUM} and {CHROMEDRIVER} are needed (scripts/setup installs them)"));
    }
    let port = proc::free_port()?;
    let mut driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("chromedriver: {e}"))?;
    let result = drive(port, addr, cookie, path, visits);
    let _ = driver.kill();
    let _ = driver.wait();
    result
}

fn drive(
    port: u16,
    addr: std::net::SocketAddr,
    cookie: &str,
    path: &str,
    visits: usize,
) -> Result<(f64, f64, f64), String> {
    let driver = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(driver).is_err() {
        if Instant::now() > deadline {
            return Err("chromedriver did not listen within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut wd = Client::connect(driver, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    // ChromeDriver refuses requests whose Host is not its own address.
    let host = driver.to_string();
    let json = [("Content-Type", "application/json"), ("Host", host.as_str())];
    let mut call = |method: &str, url: &str, body: &str| -> Result<String, String> {
        let r = wd.send_headers(method, url, &json, Some(body)).map_err(|e| format!("webdriver {url}: {e}"))?;
        if r.status != 200 {
            return Err(format!("webdriver {method} {url}: {} {}", r.status, r.text()));
        }
        Ok(r.text())
    };
    let capabilities = format!(
        r#"{{"capabilities":{{"alwaysMatch":{{"browserName":"chrome","goog:chromeOptions":{{"binary":"{CHROMIUM}","args":["--headless=new","--no-sandbox","--disable-dev-shm-usage","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync","--no-first-run","--disable-quic","--window-size=1280,900"]}}}}}}}}"#
    );
    let created = call("POST", "/session", &capabilities)?;
    let session = created
        .split("\"sessionId\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or_else(|| format!("no session id in {created}"))?
        .to_string();
    let base = format!("http://{addr}");
    let go = |call: &mut dyn FnMut(&str, &str, &str) -> Result<String, String>, url: &str| {
        call("POST", &format!("/session/{session}/url"), &format!(r#"{{"url":"{url}"}}"#))
    };
    // The cookie is set on the site first (a page without a session: the sign-in form).
    go(&mut call, &format!("{base}/login"))?;
    let (name, value) = cookie.split_once('=').ok_or("a cookie without a value")?;
    call(
        "POST",
        &format!("/session/{session}/cookie"),
        &format!(r#"{{"cookie":{{"name":"{name}","value":"{value}","path":"/"}}}}"#),
    )?;
    const TIMING: &str = r#"{"script":"const n = performance.getEntriesByType('navigation')[0]; const p = performance.getEntriesByName('first-contentful-paint')[0]; return [p ? p.startTime : -1, n.loadEventEnd, location.pathname].join(',');","args":[]}"#;
    let mut paints = Vec::new();
    let mut loads = Vec::new();
    for _ in 0..visits {
        go(&mut call, &format!("{base}{path}"))?;
        // The paint entry can land a moment after the load event.
        let mut text = call("POST", &format!("/session/{session}/execute/sync"), TIMING)?;
        for _ in 0..20 {
            if !text.contains("\"value\":\"-1") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            text = call("POST", &format!("/session/{session}/execute/sync"), TIMING)?;
        }
        let value = text.split("\"value\":\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default();
        let parts: Vec<&str> = value.split(',').collect();
        if parts.get(2) != Some(&path.split('?').next().unwrap_or(path)) {
            return Err(format!("the browser is not on {path}: {value} (signed out?)"));
        }
        let paint: f64 = parts[0].parse().map_err(|_| format!("paint timing: {value}"))?;
        let load: f64 = parts.get(1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("load timing: {value}"))?;
        if paint < 0.0 {
            return Err(format!("no first-contentful-paint entry on {path}"));
        }
        paints.push(paint);
        loads.push(load);
    }
    let _ = call("DELETE", &format!("/session/{session}"), "");
    let median = |v: &[f64]| Summary::of(v).map(|s| s.median).unwrap_or(f64::NAN);
    Ok((paints[0], median(&paints[1..]), median(&loads[1..])))
}
