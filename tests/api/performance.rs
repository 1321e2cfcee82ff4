//! The performance monitor under real conditions: samples and the report
//! over the API and `herald report`; pool connections held to push
//! utilization over 80 %; slow statements (`pg_sleep` on PostgreSQL, a long
//! recursive count on SQLite); failing queries. Each database alert fires
//! once, is delivered, and resolves.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, after_attempts, both};

/// Sampling is driven by the test: the background sampler's first tick
/// happens at start-up and the next one not within a test.
fn manual(config: &mut herald::config::Config) {
    config.performance.sample_interval_seconds = 3_600;
    config.alerts.hold_seconds = 0;
    config.alerts.poll_interval_ms = 100;
}

async fn sample(app: &TestApp) -> herald::performance::sample::Sample {
    app.state.performance.sample_once().await.expect("sample")
}

async fn firing(app: &TestApp, key: &str) -> Vec<Value> {
    let reply = app.get("/api/v1/alerts?source=database", &app.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|a| a["key"] == key).collect()
}

/// An in-app channel for database alerts: deliveries land in the admin's inbox.
async fn inbox_channel(app: &TestApp) {
    let body = json!({"name": "inbox", "kind": "in_app", "min_severity": "warning", "sources": ["database"]});
    let reply = app.post("/api/v1/alert-channels", &app.admin_token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// Wait until the admin's inbox holds an alert notification whose title
/// contains `text` (it arrives with an in-app delivery).
async fn notified(app: &TestApp, text: &str) {
    after_attempts(&[app], &format!("an alert notification with {text:?}"), async || {
        let inbox = app.get("/api/v1/notifications?type=alert", &app.admin_token).await;
        let items = inbox.json["items"].as_array().cloned().unwrap_or_default();
        items.iter().any(|n| n["title"].as_str().is_some_and(|t| t.contains(text))).then_some(())
    })
    .await;
}

both!(
    samples_and_the_report_describe_the_database,
    holding_the_pool_fires_a_utilization_alert_that_resolves,
    slow_statements_fire_a_query_time_alert,
    failing_queries_fire_a_critical_error_rate_alert,
    memory_over_the_configured_limit_fires_a_warning,
);

async fn samples_and_the_report_describe_the_database(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, manual).await else { return };
    let (_, member) = app.user_with_token("m@example.com", "member").await;
    assert_eq!(app.get("/api/v1/system/performance", &member).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/system/performance/report", &member).await.status, StatusCode::FORBIDDEN);
    for _ in 0..3 {
        sample(&app).await;
    }
    let reply = app.get("/api/v1/system/performance", &app.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let current = &reply.json["current"];
    assert!(reply.json["samples"].as_array().is_some_and(|s| s.len() >= 3), "{}", reply.text);
    assert_eq!(current["pool"]["max"], app.config.max_connections());
    assert!(current["queries"]["count"].as_u64().is_some_and(|n| n > 0), "the sampler's own queries count");
    // Per operation: the sampler's own insert is there with its percentiles.
    let insert = current["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["operation"] == "performance.insert"))
        .unwrap_or_else(|| panic!("performance.insert in {}", current["operations"]));
    assert!(insert["calls"].as_u64().is_some_and(|c| c >= 2), "{insert}");
    assert!(insert["p99_ms"].as_f64() >= insert["p95_ms"].as_f64(), "{insert}");
    assert!(insert["p95_ms"].as_f64().is_some_and(|v| v > 0.0), "{insert}");
    assert!(current["memory"]["rss_bytes"].as_u64().is_some_and(|b| b > 1_000_000));
    assert!(current["memory"]["limit_bytes"].as_u64() > current["memory"]["rss_bytes"].as_u64());
    match backend {
        Backend::Sqlite => {
            assert!(current["postgres"].is_null());
            let na: Vec<&str> =
                current["not_applicable"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
            assert!(na.contains(&"postgres.cache_hit_ratio"), "{na:?}");
        }
        Backend::Postgres => {
            let pg = &current["postgres"];
            assert!(pg["cache_hit_ratio"].as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)), "{pg}");
            assert!(pg["connections"].as_i64().is_some_and(|c| c >= 1));
            assert_eq!(pg["deadlocks"], 0);
            // The throwaway cluster has no pg_stat_statements: the report says so.
            assert!(pg["statements"].is_null());
            assert!(pg["statements_note"].as_str().is_some_and(|n| n.contains("pg_stat_statements")), "{pg}");
        }
    }
    let report = app.get("/api/v1/system/performance/report", &app.admin_token).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let figures: Vec<&str> =
        report.json["trends"].as_array().expect("trends").iter().filter_map(|t| t["figure"].as_str()).collect();
    for f in ["pool.utilization", "queries.avg_ms", "errors.rate", "memory.ratio"] {
        assert!(figures.contains(&f), "{f} in {figures:?}");
    }
    assert_eq!(figures.contains(&"postgres.cache_hit_ratio"), backend == Backend::Postgres);
    assert!(report.json["alerts"].as_array().is_some_and(Vec::is_empty));

    // `herald report` prints the same report from the stored samples.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_")) {
        cmd.env_remove(key);
    }
    cmd.arg("report").arg("--data-dir").arg(&app.config.data_dir);
    if let Some(url) = &app.config.database_url {
        cmd.env("HERALD_DATABASE_URL", url.expose());
    }
    let out = cmd.output().expect("run herald report");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for part in ["herald performance report", "pool", "Trends", "pool.utilization", "Recommendations"] {
        assert!(text.contains(part), "{part} in:\n{text}");
    }
    let json_out = cmd.arg("--json").output().expect("run herald report --json");
    let parsed: Value = serde_json::from_slice(&json_out.stdout).expect("JSON report");
    assert_eq!(parsed["backend"], backend_name(backend));
    assert!(parsed["current"]["pool"]["max"].is_number());
    app.stop().await.expect("stop");
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

async fn holding_the_pool_fires_a_utilization_alert_that_resolves(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        manual(c);
        c.pool.max_connections = Some(10);
    })
    .await
    else {
        return;
    };
    inbox_channel(&app).await;
    sample(&app).await;
    // Hold 9 of 10 connections, as a slow operation would, while sampling.
    herald::on_pool!(app.db, |p| {
        let mut held = Vec::new();
        for _ in 0..9 {
            held.push(p.acquire().await.expect("acquire"));
        }
        while_the_pool_is_held(&app).await;
        drop(held);
    });
    // Released connections go back to the pool in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.db.figures().utilization > 0.5 {
        assert!(Instant::now() < deadline, "connections never came back: {:?}", app.db.figures());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sample(&app).await;
    let all = app.get("/api/v1/alerts?source=database", &app.admin_token).await;
    let alert = all.json["items"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["key"] == "database.pool_utilization").cloned())
        .expect("the alert");
    assert_eq!(alert["state"], "resolved", "{}", all.text);
    notified(&app, "RESOLVED").await;
    app.stop().await.expect("stop");
}

async fn while_the_pool_is_held(app: &TestApp) {
    let s = sample(app).await;
    assert!(s.pool.utilization > 0.8, "{:?}", s.pool);
    let fired = firing(app, "database.pool_utilization").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["state"], "firing");
    assert_eq!(fired[0]["severity"], "warning");
    assert_eq!(fired[0]["threshold"], 0.8);
    assert!(fired[0]["value"].as_f64().is_some_and(|v| v > 0.8));
    notified(app, "pool utilization").await;
    // Still held: the same alert, not a second one.
    sample(app).await;
    assert_eq!(firing(app, "database.pool_utilization").await.len(), 1);
    let report = app.get("/api/v1/system/performance/report", &app.admin_token).await;
    assert!(
        report.json["alerts"].as_array().is_some_and(|a| a.iter().any(|a| a["key"] == "database.pool_utilization")),
        "{}",
        report.text
    );
}

async fn slow_statements_fire_a_query_time_alert(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        manual(c);
        c.pool.slow_query_ms = 100;
        c.performance.avg_query_ms_alert = 50.0;
        // The outbox's own polls count as queries: fewer of them keep the
        // window's average about the slow statements.
        c.alerts.poll_interval_ms = 1_000;
    })
    .await
    else {
        return;
    };
    inbox_channel(&app).await;
    sample(&app).await;
    // Real slow statements through herald's instrumented path.
    let slow = match backend {
        Backend::Postgres => "SELECT pg_sleep(0.4)::text",
        // Comparably slow on SQLite: counting to a million.
        Backend::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
             SELECT CAST(count(*) AS TEXT) FROM c"
        }
    };
    for _ in 0..3 {
        let db = &app.db;
        herald::on_pool!(db, |p| {
            let mut c = p.acquire().await.expect("acquire");
            db.observe("test.slow", slow, sqlx::query_scalar::<_, String>(slow).fetch_one(&mut *c))
                .await
                .expect("slow statement");
        });
    }
    let s = sample(&app).await;
    assert!(s.slow_queries.count >= 3, "{:?}", s.slow_queries);
    assert!(
        s.slow_queries.top.iter().any(|t| t.sql.contains("pg_sleep(?)") || t.sql.contains("RECURSIVE")),
        "{:?}",
        s.slow_queries
    );
    assert!(s.queries.avg_ms > 50.0, "{:?}", s.queries);
    let fired = firing(&app, "database.query_time").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["threshold"], 50.0);
    notified(&app, "average query time").await;
    let report = app.get("/api/v1/system/performance/report", &app.admin_token).await;
    let recs = report.json["recommendations"].as_array().cloned().unwrap_or_default();
    assert!(recs.iter().any(|r| r["figure"] == "slow_queries.count"), "{recs:?}");
    // A quiet window: resolved.
    sample(&app).await;
    assert!(firing(&app, "database.query_time").await.iter().all(|a| a["state"] == "resolved"));
    app.stop().await.expect("stop");
}

async fn failing_queries_fire_a_critical_error_rate_alert(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, manual).await else { return };
    inbox_channel(&app).await;
    sample(&app).await;
    // Real database errors: a statement on a table that does not exist.
    const BAD: &str = "SELECT count(*) FROM no_such_table";
    for _ in 0..20 {
        let db = &app.db;
        let failed = herald::on_pool!(db, |p| {
            let mut c = p.acquire().await.expect("acquire");
            db.observe("test.bad", BAD, sqlx::query_scalar::<_, i64>(BAD).fetch_one(&mut *c)).await.is_err()
        });
        assert!(failed);
    }
    let s = sample(&app).await;
    assert!(s.errors.count >= 20 && s.errors.rate > 0.05, "{:?} {:?}", s.errors, s.queries);
    let fired = firing(&app, "database.error_rate").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["severity"], "critical");
    notified(&app, "error rate").await;
    // A clean window with enough queries: resolved.
    for _ in 0..12 {
        app.get("/api/v1/me", &app.admin_token).await;
    }
    sample(&app).await;
    let all = app.get("/api/v1/alerts?source=database&state=resolved", &app.admin_token).await;
    assert!(
        all.json["items"].as_array().is_some_and(|a| a.iter().any(|a| a["key"] == "database.error_rate")),
        "{}",
        all.text
    );
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert!(metrics.text.contains("herald_db_errors_total"), "errors counted in /metrics too");
    app.stop().await.expect("stop");
}

async fn memory_over_the_configured_limit_fires_a_warning(backend: Backend) {
    // The configured limit applies only where no cgroup limit does.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        manual(c);
        c.performance.memory_limit_mb = Some(16);
    })
    .await
    else {
        return;
    };
    inbox_channel(&app).await;
    sample(&app).await;
    let s = sample(&app).await;
    if s.memory.limit_source != "configured" {
        eprintln!("SKIPPING the memory alert: a {} limit applies here", s.memory.limit_source);
        app.stop().await.expect("stop");
        return;
    }
    assert_eq!(s.memory.limit_bytes, 16 * 1024 * 1024);
    // This test process holds far more than 80 % of 16 MiB.
    assert!(s.memory.ratio > 0.8, "{:?}", s.memory);
    let fired = firing(&app, "database.memory").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["severity"], "warning");
    assert_eq!(fired[0]["threshold"], 0.8);
    notified(&app, "memory limit").await;
    sample(&app).await;
    assert_eq!(firing(&app, "database.memory").await.len(), 1, "fires once while it lasts");
    app.stop().await.expect("stop");
}
