//! The pool follows the configuration: max 10 in development, 20 in
//! production, shown by holding real connections until the pool is full.

use std::time::Duration;

use herald::config::Environment;
use herald::on_pool;
use herald::storage::StorageError;
use reqwest::StatusCode;

use crate::harness::{Backend, TestApp, both};

both!(
    development_pool_holds_ten_connections,
    production_pool_holds_twenty_connections,
    configured_max_overrides_environment
);

async fn development_pool_holds_ten_connections(backend: Backend) {
    fills_at(backend, Environment::Development, None, 10).await;
}

async fn production_pool_holds_twenty_connections(backend: Backend) {
    fills_at(backend, Environment::Production, None, 20).await;
}

async fn configured_max_overrides_environment(backend: Backend) {
    fills_at(backend, Environment::Production, Some(3), 3).await;
}

/// Hold `expected` connections, prove one more cannot be had, watch the
/// figures, and see the API answer 503 (not hang) while the pool is full.
async fn fills_at(backend: Backend, env: Environment, max: Option<u32>, expected: u32) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.env = env;
        c.pool.max_connections = max;
        c.pool.min_connections = 1;
        c.pool.acquire_timeout_ms = 300;
    })
    .await
    else {
        return;
    };
    let db = app.db.clone();
    on_pool!(db, |p| {
        let mut held = Vec::new();
        for i in 0..expected {
            held.push(db.acquire(p).await.unwrap_or_else(|e| panic!("connection {} of {expected}: {e}", i + 1)));
        }
        let f = db.figures();
        assert_eq!((f.max, f.size, f.in_use), (expected, expected, expected), "{f:?}");
        assert!((f.utilization - 1.0).abs() < 1e-9);

        // One more waits, is counted as waiting, and times out.
        let waiter = {
            let db = db.clone();
            let p = p.clone();
            tokio::spawn(async move { db.acquire(&p).await.map(|_| ()) })
        };
        let mut saw_waiting = false;
        for _ in 0..50 {
            if db.figures().waiting >= 1 {
                saw_waiting = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(saw_waiting, "a blocked acquire is counted as waiting");
        let extra = waiter.await.expect("join");
        assert!(matches!(extra, Err(StorageError::Unavailable)), "acquire beyond max times out: {extra:?}");

        // The API reports the exhaustion as 503 problem+json.
        let me = app.get("/api/v1/me", &app.admin_token).await;
        me.problem(StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
    });
    let me = app.get("/api/v1/me", &app.admin_token).await;
    assert_eq!(me.status, StatusCode::OK, "recovers once connections return");
    let figures = app.get("/api/v1/system/database", &app.admin_token).await;
    assert_eq!(figures.json["pool"]["max"], expected);
    assert!(figures.json["errors_total"].as_u64().unwrap() >= 1, "timeouts are counted: {}", figures.text);
    assert!(figures.json["acquire_wait"]["max_ms"].as_f64().unwrap() >= 250.0, "the wait was measured");
    app.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_by_the_server_are_replaced() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let herald::storage::Pool::Postgres(pool) = app.db.pool() else { unreachable!("postgres backend") };
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.unwrap();
    assert_eq!(app.get("/api/v1/me", &app.admin_token).await.status, StatusCode::OK);
    let cluster = testkit::PgCluster::shared().expect("cluster running");
    let killed = cluster
        .psql(
            "postgres",
            &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"),
        )
        .unwrap();
    assert!(killed.trim().parse::<u32>().unwrap() >= 1, "terminated: {killed}");
    // The health pass finds the dead idle connections and drops them...
    let pass = herald::storage::check_idle_once(&app.db).await;
    assert!(pass.closed >= 1, "{pass:?}");
    // ...and the next request gets a fresh connection.
    let me = app.get("/api/v1/me", &app.admin_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn unreachable_postgres_is_retried_with_backoff_then_reported() {
    // A port nothing listens on: connection refused on every attempt.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut config = herald::config::Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(herald::secret::Secret::new(format!("postgres://herald:pw@127.0.0.1:{port}/herald"))),
        ..Default::default()
    };
    config.pool.connect_retry_initial_ms = 50;
    config.pool.connect_retry_max_ms = 200;
    config.pool.connect_give_up_seconds = 1;
    let started = std::time::Instant::now();
    let error = herald::App::build(config).await.err().expect("no database, no start");
    let message = format!("{error:#}");
    assert!(started.elapsed() >= Duration::from_millis(500), "kept retrying for the configured time");
    let attempts: u32 = message
        .split("(attempt ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("attempt count in {message}"));
    assert!(attempts >= 3, "retried with backoff: {message}");
    assert!(!message.contains(":pw@"), "password never in the error: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statement_timeout_applies_and_slow_queries_are_counted() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |c| {
        c.pool.statement_timeout_ms = 250;
        c.pool.slow_query_ms = 100;
    })
    .await
    else {
        return;
    };
    let herald::storage::Pool::Postgres(pool) = app.db.pool() else { unreachable!("postgres backend") };
    let shown: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(pool).await.unwrap();
    assert_eq!(shown, "250ms");
    let mut c = app.db.acquire(pool).await.unwrap();
    let slow =
        app.db.observe("test.sleep", "SELECT pg_sleep(2)", sqlx::query("SELECT pg_sleep(2)").execute(&mut *c)).await;
    assert!(matches!(slow, Err(StorageError::Other { .. })), "cancelled by the server: {slow:?}");
    assert_eq!(app.db.metrics().errors_total(), 1, "the cancelled statement is counted as an error");
    assert_eq!(app.db.metrics().slow_queries_total(), 1, "and, at 250 ms over a 100 ms threshold, as slow");
    drop(c);
    app.stop().await.expect("stop");
}
