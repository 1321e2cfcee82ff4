//! `/healthz`, `/readyz`, `/metrics`, `/api/v1/system/database`, OpenAPI and docs.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp, both};

both!(
    health_ready_and_metrics_answer,
    database_figures_for_operators_only,
    readyz_fails_when_database_is_gone,
    openapi_document_and_docs_are_served,
    request_id_is_echoed_or_generated
);

/// A worker's `herald_worker_last_success_timestamp_seconds` in a scrape.
fn last_success(scrape: &str, worker: &str) -> f64 {
    let series = format!(r#"herald_worker_last_success_timestamp_seconds{{worker="{worker}"}} "#);
    scrape.lines().find_map(|l| l.strip_prefix(&series)).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

async fn health_ready_and_metrics_answer(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json["status"], "ok");
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.json["status"], "ready");
    assert_eq!(ready.json["schema_version"], ready.json["schema_known"]);

    // Touch a parameterised route so its template shows up in the metrics.
    app.call(Method::DELETE, "/api/v1/tokens/987654", Some(&app.admin_token), None).await;
    app.get("/api/v1/me", &app.admin_token).await;
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.content_type().starts_with("text/plain"));
    let text = &metrics.text;
    for needle in [
        r#"herald_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1"#,
        r#"route="/api/v1/tokens/{id}",status="404""#,
        r#"herald_http_request_duration_seconds_bucket{le="#,
        "herald_db_pool_max_connections 10",
        "herald_db_pool_connections ",
        "herald_db_pool_idle_connections ",
        "herald_db_pool_in_use_connections ",
        // Background work (outbox, sampler) may be acquiring at the moment of the scrape.
        "herald_db_pool_waiting ",
        "herald_db_pool_utilization_ratio ",
        r#"herald_db_query_duration_seconds_bucket{le="0.001",operation="accounts.principal"}"#,
        "herald_db_errors_total",
        "herald_db_pool_acquire_duration_seconds_count ",
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
    assert!(!text.contains("987654"), "raw paths never become labels");
    // Every worker has its series; the ones that run at start-up have succeeded.
    for worker in [
        "database_health",
        "token_usage",
        "notification_cleanup",
        "monitoring_housekeeping",
        "performance_sampler",
        "alert_outbox",
        "service_alerts",
        "realtime_listener",
    ] {
        let series = format!(r#"herald_worker_last_success_timestamp_seconds{{worker="{worker}"}} "#);
        assert!(text.contains(&series), "metrics lack {series:?}:\n{text}");
        assert!(text.contains(&format!(r#"herald_worker_restarts_total{{worker="{worker}"}} 0"#)), "{worker}");
    }
    // The sampler, the outbox and the service alerts run at start-up.
    let started = ["performance_sampler", "alert_outbox", "service_alerts"];
    let passes = app.state.workers.succeeded_once(&started);
    tokio::time::timeout(std::time::Duration::from_secs(5), passes).await.expect("the start-up passes finish");
    let scrape = app.call(Method::GET, "/metrics", None, None).await.text;
    for worker in started {
        assert!(last_success(&scrape, worker) > 1.7e9, "{worker} has succeeded:\n{scrape}");
    }
    app.stop().await.expect("stop");
}

async fn database_figures_for_operators_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (_, operator) = app.user_with_token("ops@example.com", "operator").await;
    let (_, member) = app.user_with_token("m@example.com", "member").await;
    let figures = app.get("/api/v1/system/database", &operator).await;
    assert_eq!(figures.status, StatusCode::OK, "{}", figures.text);
    let f = &figures.json;
    let expected = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    assert_eq!(f["backend"], expected);
    assert_eq!(f["pool"]["max"], 10);
    for key in ["size", "idle", "in_use", "waiting", "utilization"] {
        assert!(f["pool"][key].is_number(), "pool.{key} missing: {f}");
    }
    for key in ["acquire_wait", "query_time"] {
        assert!(f[key]["samples"].as_u64().unwrap_or(0) > 0, "{key} has samples: {f}");
        assert!(f[key]["p99_ms"].as_f64().unwrap_or(-1.0) >= f[key]["p50_ms"].as_f64().unwrap_or(0.0));
    }
    assert_eq!(f["errors_total"], 0);
    let ops: Vec<&str> = f["operations"].as_array().unwrap().iter().filter_map(|o| o["operation"].as_str()).collect();
    assert!(ops.contains(&"accounts.principal"), "{ops:?}");
    let tables = f["tables"].as_array().expect("tables");
    let size = |name: &str| tables.iter().find(|t| t["name"] == name).and_then(|t| t["bytes"].as_i64());
    assert!(size("user_account").is_some_and(|b| b > 0), "{tables:?}");
    assert!(size("service_metric").is_some(), "{tables:?}");
    assert!(tables.iter().all(|t| !t["name"].as_str().unwrap_or("sqlite_").starts_with("sqlite_")));
    app.get("/api/v1/system/database", &member).await.problem(StatusCode::FORBIDDEN);
    app.stop().await.expect("stop");
}

async fn readyz_fails_when_database_is_gone(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.db.close().await;
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.text);
    assert_eq!(ready.json["database"], "unreachable");
    // Liveness does not depend on the database.
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.status, StatusCode::OK);
    // An API call answers 503 problem+json rather than hanging or leaking driver text.
    let me = app.get("/api/v1/me", &app.admin_token).await;
    me.problem(StatusCode::SERVICE_UNAVAILABLE);
    app.stop().await.expect("stop");
}

async fn openapi_document_and_docs_are_served(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let spec = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.json["openapi"].as_str().unwrap_or("").starts_with("3.1"), "OpenAPI 3.1: {}", spec.json["openapi"]);
    for path in
        ["/api/v1/me", "/api/v1/users", "/api/v1/tokens", "/api/v1/tokens/{id}", "/api/v1/system/database", "/readyz"]
    {
        assert!(spec.json["paths"][path].is_object(), "spec documents {path}");
    }
    assert!(spec.json["components"]["securitySchemes"]["bearer"].is_object());
    // The vocabulary is enums, so generated clients get them.
    let schemas = &spec.json["components"]["schemas"];
    assert_eq!(
        schemas["IncidentStatus"]["enum"],
        json!(["open", "acknowledged", "resolved"]),
        "{}",
        schemas["IncidentStatus"]
    );
    assert_eq!(schemas["IncidentOut"]["properties"]["status"]["$ref"], "#/components/schemas/IncidentStatus");
    assert_eq!(schemas["TimelineKind"]["enum"], json!(["opened", "acknowledged", "recovered", "resolved", "note"]));
    assert_eq!(schemas["Severity"]["enum"], json!(["info", "warning", "critical"]));
    assert_eq!(schemas["AlertState"]["enum"], json!(["firing", "resolved"]));
    assert_eq!(schemas["DeliveryState"]["enum"], json!(["pending", "delivered", "failed"]));
    assert_eq!(schemas["AlertOut"]["properties"]["severity"]["$ref"], "#/components/schemas/Severity");
    assert_eq!(schemas["CheckKind"]["enum"], json!(["http", "tcp", "dns", "tls", "heartbeat"]));
    assert_eq!(schemas["ServiceStatus"]["enum"], json!(["unknown", "up", "degraded", "down", "paused", "maintenance"]));
    assert_eq!(schemas["CheckStatus"]["enum"], json!(["up", "degraded", "down"]));
    assert_eq!(schemas["ChannelKind"]["enum"], json!(["in_app", "webhook", "slack", "discord", "email", "ntfy"]));
    assert_eq!(schemas["ChannelOut"]["properties"]["kind"]["$ref"], "#/components/schemas/ChannelKind");
    assert_eq!(schemas["ChannelOut"]["properties"]["min_severity"]["$ref"], "#/components/schemas/Severity");
    assert_eq!(schemas["ServiceOut"]["properties"]["kind"]["$ref"], "#/components/schemas/CheckKind");
    assert_eq!(schemas["ServiceOut"]["properties"]["status"]["$ref"], "#/components/schemas/ServiceStatus");
    assert_eq!(schemas["StatusService"]["properties"]["status"]["$ref"], "#/components/schemas/ServiceStatus");
    let docs = app.call(Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.content_type().starts_with("text/html"));
    assert!(docs.text.contains("/api/openapi.json") || docs.text.contains("\"openapi\""), "docs load the spec");
    app.stop().await.expect("stop");
}

async fn request_id_is_echoed_or_generated(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let given = app.client.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let generated = app.client.get(app.url("/nope")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID is generated: {id}");
    app.stop().await.expect("stop");
}
