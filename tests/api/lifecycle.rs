//! Start-up on an empty database, restarts, refusing a newer schema, and
//! graceful shutdown with a request in flight.

use std::time::Duration;

use herald::App;
use herald::on_pool;
use herald::storage::StorageError;
use reqwest::StatusCode;

use crate::harness::{Backend, TestApp, both, test_config};

both!(
    empty_database_bootstraps_one_admin_once,
    newer_schema_is_refused,
    in_flight_request_completes_during_graceful_shutdown
);

async fn empty_database_bootstraps_one_admin_once(backend: Backend) {
    let Some((config, dir)) = test_config(backend) else {
        return;
    };
    let app = TestApp::start(config.clone(), dir).await;
    let me = app.get("/api/v1/me", &app.admin_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["role"], "admin");
    assert_eq!(me.json["email"], "admin@localhost");
    if let herald::storage::Pool::Sqlite(pool) = app.db.pool() {
        assert!(config.data_dir.join("herald.db").exists(), "SQLite file created in the data dir");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
        assert_eq!(mode, "wal");
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(pool).await.unwrap();
        assert_eq!(cache, -1024, "each pooled connection's page cache is capped at pool.sqlite_cache_kib");
        let temp: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(pool).await.unwrap();
        assert_eq!(temp, 2, "temporary files, statement journals among them, stay in memory");
    }
    // A second start on the same database migrates nothing and creates no second admin.
    let again = App::build(config.clone()).await.expect("restart");
    assert!(again.bootstrap.is_none(), "bootstrap must happen only on an empty database");
    again.db().close().await;
    let users = app.get("/api/v1/users", &app.admin_token).await;
    assert_eq!(users.json["items"].as_array().map(Vec::len), Some(1));
    app.stop().await.expect("clean stop");
}

async fn newer_schema_is_refused(backend: Backend) {
    let Some((config, dir)) = test_config(backend) else {
        return;
    };
    let app = TestApp::start(config.clone(), dir).await;
    // Pretend a newer herald migrated this database.
    let db = app.db.clone();
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
               VALUES (99990101000000, 'from the future', TRUE, X'00', 1)";
    let sql_pg = sql.replace("X'00'", "'\\x00'::bytea");
    let text = if db.backend() == "postgres" { sql_pg.as_str() } else { sql };
    let inserted: Result<(), StorageError> = on_pool!(db, |p| async {
        let mut c = db.acquire(p).await?;
        db.observe("test.future_migration", text, sqlx::query(text).execute(&mut *c)).await.map(|_| ())
    }
    .await);
    inserted.expect("insert future migration");
    let ready = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "schema ahead of this build is not ready: {}",
        ready.text
    );
    let error = App::build(config).await.err().expect("a newer database must be refused");
    let message = format!("{error:#}");
    assert!(message.contains("newer"), "clear message, got: {message}");
    assert!(message.contains("99990101000000"), "names the version, got: {message}");
    app.stop().await.expect("clean stop");
}

async fn in_flight_request_completes_during_graceful_shutdown(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.pool.max_connections = Some(2);
        c.pool.min_connections = 1;
        // Only the request below may wait for a connection: background
        // work runs at start-up and then not again within the test.
        c.monitoring.scheduler = false;
        c.alerts.poll_interval_ms = 3_600_000;
        c.alerts.evaluate_interval_seconds = 86_400;
        c.performance.sample_interval_seconds = 86_400;
    })
    .await
    else {
        return;
    };
    // Let the start-up rounds of that background work finish.
    let startup = ["performance_sampler", "alert_outbox", "service_alerts"];
    tokio::time::timeout(Duration::from_secs(10), app.state.workers.succeeded_once(&startup))
        .await
        .expect("the start-up passes finish");
    let db = app.db.clone();
    let url = app.url("/api/v1/me");
    let token = app.admin_token.clone();
    let client = app.client.clone();
    on_pool!(db, |p| {
        // Hold every connection so the request below has to wait: a real slow request.
        let held = vec![db.acquire(p).await.expect("conn 1"), db.acquire(p).await.expect("conn 2")];
        let request = tokio::spawn(async move { client.get(url).bearer_auth(token).send().await });
        wait_until(|| db.figures().waiting >= 1).await;
        app.shutdown.cancel();
        // Once shutdown has begun, new connections are refused.
        let addr = app.addr;
        wait_until_async(|| async move { tokio::net::TcpStream::connect(addr).await.is_err() }).await;
        assert!(!app.handle.is_finished(), "the server waits for the in-flight request");
        drop(held);
        let response = request.await.expect("join").expect("in-flight request answered");
        assert_eq!(response.status(), StatusCode::OK);
    });
    let result = tokio::time::timeout(Duration::from_secs(10), app.handle).await.expect("stops in time");
    result.expect("join").expect("serve returns Ok after a graceful stop");
}

async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

async fn wait_until_async<F: std::future::Future<Output = bool>>(condition: impl Fn() -> F) {
    for _ in 0..500 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}
