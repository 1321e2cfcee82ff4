//! Starting herald for a test: [`TestApp::spawn`] gives a running server on
//! port 0 with its own database and the bootstrap admin's token.
//!
//! PostgreSQL: one cluster per test run (started on first use by `testkit`,
//! gone when the process exits), a fresh database per test. When the
//! binaries are missing the PostgreSQL variants skip loudly, unless `CI` is
//! set, in which case they fail.

pub mod browser;
pub mod process;
pub mod receiver;
pub mod target;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use herald::App;
use herald::clock::Clock;
use herald::config::Config;
use herald::monitoring::workers::Scheduler;
use herald::secret::Secret;
use herald::storage::Db;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Run `async fn $name(backend: Backend)` once per backend.
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::harness::Backend::Postgres).await
            }
        }
    )+};
}
pub(crate) use both;

/// A configuration for `backend` with its own data dir (and PostgreSQL
/// database). `None` means PostgreSQL is unavailable here and not required.
pub fn test_config(backend: Backend) -> Option<(Config, TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace_seconds: 10,
        ..Config::default()
    };
    config.pool.min_connections = 1;
    // Checks run only in the tests about them: elsewhere the scheduler's
    // connections would blur pool figures and timings.
    config.monitoring.scheduler = false;
    if backend == Backend::Postgres {
        config.database_url = Some(Secret::new(postgres_database()?));
    }
    Some((config, dir))
}

/// URL of a fresh database in the shared cluster, or `None` to skip.
pub fn postgres_database() -> Option<String> {
    match testkit::PgCluster::shared() {
        Some(cluster) => Some(cluster.create_database().expect("create test database")),
        None if testkit::postgres_required() => {
            panic!("PostgreSQL binaries (initdb, postgres, psql) not found, and CI requires the PostgreSQL tests")
        }
        None => {
            eprintln!(
                "\n*** SKIPPING PostgreSQL test: initdb/postgres not found on PATH or under /usr/lib/postgresql ***\n"
            );
            None
        }
    }
}

/// herald's clock in a test: the system's, moved forward on demand, so
/// time arithmetic (an alert's hold, a token's or a notification's expiry)
/// is tested without waiting it out. Timers, the database's own clock and
/// the scheduler's boundaries keep real time.
#[derive(Clone, Default)]
pub struct Shift(Arc<AtomicI64>);

impl Shift {
    pub fn clock(&self) -> Clock {
        let offset = self.0.clone();
        Clock::from_fn(move || chrono::Utc::now() + chrono::Duration::milliseconds(offset.load(Ordering::SeqCst)))
    }

    /// Move herald's time forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(i64::try_from(by.as_millis()).expect("a short step"), Ordering::SeqCst);
    }
}

/// A running herald.
pub struct TestApp {
    pub addr: SocketAddr,
    pub admin_token: String,
    pub db: Db,
    /// The server's own services, for driving background work step by step.
    pub state: herald::state::AppState,
    pub config: Config,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
    /// herald's clock; its peers and restarts share it.
    pub shift: Shift,
    /// This instance's check scheduler, for [`TestApp::step_scheduler`]
    /// (the harness turns the running one off).
    scheduler: Scheduler,
    /// Keeps the data directory alive as long as the app.
    _dir: TempDir,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawn with the test's configuration changes applied.
    pub async fn spawn_with(backend: Backend, change: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let (mut config, dir) = test_config(backend)?;
        change(&mut config);
        Some(Self::start(config, dir).await)
    }

    /// Build and serve `config` (its database must be empty: the admin
    /// token comes from the first-start bootstrap).
    pub async fn start(config: Config, dir: TempDir) -> TestApp {
        // TEST_LOG=debug shows the server's logs for a failing test.
        if let Ok(level) = std::env::var("TEST_LOG") {
            herald::telemetry::init(herald::config::LogFormat::Human, &level);
        }
        let shift = Shift::default();
        let (bootstrap, running) = launch(&config, &shift).await;
        let admin_token = bootstrap.expect("an empty database bootstraps an admin");
        let Running { addr, db, state, shutdown, handle, scheduler } = running;
        let client = reqwest::Client::builder().no_proxy().build().expect("http client");
        TestApp { addr, admin_token, db, state, config, client, shutdown, handle, shift, scheduler, _dir: dir }
    }

    /// A second herald on the same PostgreSQL database (another instance
    /// behind the same load balancer); it shares this one's admin token.
    pub async fn peer(&self) -> TestApp {
        assert!(self.config.database_url.is_some(), "peers share a PostgreSQL database");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config { data_dir: dir.path().join("data"), ..self.config.clone() };
        let (bootstrap, running) = launch(&config, &self.shift).await;
        assert!(bootstrap.is_none(), "the database already has its admin");
        let Running { addr, db, state, shutdown, handle, scheduler } = running;
        let client = reqwest::Client::builder().no_proxy().build().expect("http client");
        let admin_token = self.admin_token.clone();
        let shift = self.shift.clone();
        TestApp { addr, admin_token, db, state, config, client, shutdown, handle, shift, scheduler, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Send a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Create a user through the API and a token for it (minted through
    /// the CLI's code path would need a process; the service is the same).
    pub async fn user_with_token(&self, email: &str, role: &str) -> (i64, String) {
        let user =
            self.post("/api/v1/users", &self.admin_token, serde_json::json!({"email": email, "role": role})).await;
        assert_eq!(user.status, StatusCode::CREATED, "{}", user.text);
        let id = user.json["id"].as_i64().expect("user id");
        let name = herald::accounts::Label::parse("test").expect("label");
        let (_, raw) = self.state.accounts.create_token(id, &name, None).await.expect("token");
        (id, raw.expose().to_string())
    }

    /// Stop gracefully and start again on the same database and data
    /// directory, as after a restart of the process.
    pub async fn restart(self) -> TestApp {
        self.shutdown.cancel();
        self.handle.await.expect("server task").expect("clean stop");
        let config = self.config.clone();
        let (bootstrap, running) = launch(&config, &self.shift).await;
        assert!(bootstrap.is_none(), "the database already has its admin");
        let Running { addr, db, state, shutdown, handle, scheduler } = running;
        TestApp { addr, db, state, config, shutdown, handle, scheduler, ..self }
    }

    /// One round of the check scheduler on this instance, on the shared
    /// clock: claim what is due now, check it, store the results
    /// (`Scheduler::step`). Returns how many services it claimed.
    pub async fn step_scheduler(&self) -> usize {
        self.scheduler.step().await.expect("a scheduler round")
    }

    /// Graceful stop; returns what `serve` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await.expect("server task")
    }
}

/// A served herald's handles.
struct Running {
    addr: SocketAddr,
    db: Db,
    state: herald::state::AppState,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    scheduler: Scheduler,
}

/// Build herald on `config` with `shift`'s clock and serve it on its own
/// port; the bootstrap admin's token when the database was empty.
async fn launch(config: &Config, shift: &Shift) -> (Option<String>, Running) {
    let app = App::build_with_clock(config.clone(), shift.clock()).await.expect("herald builds");
    let bootstrap = app.bootstrap.as_ref().map(|(_, token)| token.expose().to_string());
    let db = app.db().clone();
    let state = app.state().clone();
    let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.serve(listener, shutdown.clone()));
    let scheduler = Scheduler::new(state.monitoring.clone(), config.monitoring.clone(), state.checks.clone());
    (bootstrap, Running { addr, db, state, shutdown, handle, scheduler })
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, json }
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Assert an RFC 9457 problem with this status; returns the document.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.text);
        assert_eq!(self.json["status"].as_u64(), Some(u64::from(status.as_u16())));
        assert!(self.json["title"].is_string() && self.json["detail"].is_string(), "{}", self.text);
        &self.json
    }

    /// The `field` names in a problem's `errors`.
    pub fn fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// `look` now and again after each delivery attempt the outboxes of
/// `apps` record, until it finds what it looks for (up to 15 s): the
/// outcome of a delivery is awaited, not polled for.
pub async fn after_attempts<T>(apps: &[&TestApp], what: &str, mut look: impl AsyncFnMut() -> Option<T>) -> T {
    let mut attempts: Vec<_> = apps.iter().map(|app| app.state.alerts.attempts()).collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // Seen before looking: an attempt recorded meanwhile still wakes us.
        attempts.iter_mut().for_each(|a| _ = a.borrow_and_update());
        if let Some(found) = look().await {
            return found;
        }
        let next = futures_util::future::select_all(attempts.iter_mut().map(|a| Box::pin(a.changed())));
        assert!(tokio::time::timeout_at(deadline, next).await.is_ok(), "{what} within 15 s");
    }
}
