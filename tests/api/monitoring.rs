//! Service monitoring against real local targets: an HTTP server whose
//! answer the test flips, a TCP listener that opens and closes, heartbeats
//! sent and withheld; incidents and their workflow; the scheduler on one
//! instance and, on PostgreSQL, two instances sharing the work.
//!
//! The harness starts herald with the scheduler off; most tests drive checks
//! with `POST …/check` or one scheduler round at a time on a clock moved
//! forward (`step_scheduler`); those about the scheduler's own timing turn
//! it on.

use std::time::Duration;

use herald::on_pool;
use herald::storage::Micros;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::target::{Mode, Target};
use crate::harness::{Backend, TestApp, both};

both!(
    services_are_managed_and_read_by_operators_only,
    invalid_services_name_the_field,
    http_checks_follow_the_target,
    incidents_open_hold_resolve_and_take_notes,
    tcp_checks_see_a_listener_open_and_close,
    heartbeats_arrive_and_go_missing,
    the_scheduler_checks_once_per_interval,
    the_scheduler_checks_a_changed_service_as_changed,
);

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = app.post("/api/v1/services", token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json
}

async fn check(app: &TestApp, id: i64) -> Value {
    let reply = app.post(&format!("/api/v1/services/{id}/check"), &app.admin_token, json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json
}

/// `service_metric` rows of a service: (status code 0/1/2, instance id), oldest first.
async fn results(app: &TestApp, id: i64) -> Vec<(i16, i32, chrono::DateTime<chrono::Utc>)> {
    const SQL: &str =
        "SELECT status, instance_id, checked_at FROM service_metric WHERE service_id = $1 ORDER BY checked_at";
    let rows: Vec<(i16, i32, Micros)> =
        on_pool!(app.db, |p| sqlx::query_as(SQL).bind(id).fetch_all(p).await.expect("results"));
    rows.into_iter().map(|(s, i, t)| (s, i, t.0)).collect()
}

async fn services_are_managed_and_read_by_operators_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (_, operator) = app.user_with_token("op@example.com", "operator").await;
    let (_, member) = app.user_with_token("m@example.com", "member").await;
    let (_, sender) = app.user_with_token("app@example.com", "sender").await;
    let body = json!({"name": "API", "kind": "http", "target": "http://127.0.0.1:9/health", "tags": ["prod"]});
    let created = create(&app, &operator, body.clone()).await;
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["status"], "unknown");
    assert_eq!(created["interval_seconds"], 60);
    assert_eq!(created["timeout_seconds"], 10);
    assert_eq!(created["failure_threshold"], 3);
    assert_eq!(created["recovery_threshold"], 2);
    assert_eq!(created["config"]["method"], "GET", "defaults are filled in: {created}");
    assert_eq!(created["config"]["verify_tls"], true);
    assert!(created.get("heartbeat_secret").is_none());

    let list = app.get("/api/v1/services", &operator).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["items"][0]["id"], id);
    assert_eq!(app.get(&format!("/api/v1/services/{id}"), &operator).await.json["name"], "API");
    // A member is an application's end user: services and their targets are not theirs to read.
    app.get("/api/v1/services", &member).await.problem(StatusCode::FORBIDDEN);
    app.get(&format!("/api/v1/services/{id}"), &member).await.problem(StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/v1/services", &member, body.clone()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/services", &sender).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call(Method::GET, "/api/v1/services", None, None).await.status, StatusCode::UNAUTHORIZED);
    let path = format!("/api/v1/services/{id}");
    let as_member = app.call(Method::DELETE, &path, Some(&member), None).await;
    assert_eq!(as_member.status, StatusCode::FORBIDDEN);

    let patched =
        app.call(Method::PATCH, &path, Some(&operator), Some(json!({"interval_seconds": 30, "enabled": false}))).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json["interval_seconds"], 30);
    assert_eq!(patched.json["status"], "paused");
    assert_eq!(patched.json["name"], "API", "absent fields stay");
    let kind = app.call(Method::PATCH, &path, Some(&operator), Some(json!({"kind": "tcp"}))).await;
    assert_eq!(kind.fields(), ["kind"]);

    seed(&app, id, &[(60, 0, false, 1_000), (30, 2, true, 2_000)]).await;
    assert_eq!(raw_count(&app, id).await, 2);
    assert_eq!(app.call(Method::DELETE, &path, Some(&operator), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &operator).await.status, StatusCode::NOT_FOUND);
    assert_eq!(raw_count(&app, id).await, 0, "a deleted service's results go with it");
    assert_eq!(app.call(Method::DELETE, &path, Some(&operator), None).await.status, StatusCode::NOT_FOUND);
    app.stop().await.expect("stop");
}

async fn invalid_services_name_the_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token.clone();
    let bad = app
        .post(
            "/api/v1/services",
            &token,
            json!({"name": "", "kind": "http", "target": "ftp://x", "interval_seconds": 5}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let fields = bad.fields();
    for f in ["name", "interval_seconds", "target"] {
        assert!(fields.contains(&f.to_string()), "{f} named in {fields:?}");
    }
    let kind = app.post("/api/v1/services", &token, json!({"name": "x", "kind": "smtp", "target": "x"})).await;
    assert_eq!(kind.fields(), ["kind"]);
    let config = app
        .post(
            "/api/v1/services",
            &token,
            json!({"name": "x", "kind": "http", "target": "http://127.0.0.1/", "config": {"expected_status": ["7xx"]}}),
        )
        .await;
    assert!(config.fields().iter().any(|f| f.starts_with("config.expected_status")), "{}", config.text);
    let timeout = app
        .post(
            "/api/v1/services",
            &token,
            json!({"name": "x", "kind": "tcp", "target": "127.0.0.1:1", "interval_seconds": 10, "timeout_seconds": 20}),
        )
        .await;
    assert_eq!(timeout.fields(), ["timeout_seconds"]);
    let unknown = app.post("/api/v1/services", &token, json!({"name": "x", "kind": "tcp", "colour": "red"})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await.expect("stop");
}

async fn http_checks_follow_the_target(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let target = Target::start().await;
    let service = create(
        &app,
        &app.admin_token,
        json!({"name": "web", "kind": "http", "target": target.url(), "interval_seconds": 10, "timeout_seconds": 1,
               "degraded_latency_ms": 200, "failure_threshold": 2, "recovery_threshold": 2,
               "config": {"keyword": "status: ok"}}),
    )
    .await;
    let id = service["id"].as_i64().expect("id");

    let up = check(&app, id).await;
    assert_eq!((up["status"].as_str(), up["status_code"].as_u64()), (Some("up"), Some(200)), "{up}");
    assert_eq!(up["service"]["status"], "up");

    target.set(Mode::Slow);
    let slow = check(&app, id).await;
    assert_eq!(slow["status"], "degraded", "{slow}");
    assert!(slow["latency_ms"].as_f64().expect("latency") >= 400.0);
    assert_eq!(slow["service"]["status"], "degraded");

    target.set(Mode::WrongKeyword);
    let keyword = check(&app, id).await;
    assert_eq!(keyword["status"], "down");
    assert!(keyword["error"].as_str().expect("reason").contains("status: ok"), "{keyword}");
    assert_eq!(keyword["service"]["status"], "degraded", "one failure is below the threshold of 2");

    target.set(Mode::Failing);
    let failing = check(&app, id).await;
    assert_eq!((failing["status"].as_str(), failing["status_code"].as_u64()), (Some("down"), Some(503)));
    assert_eq!(failing["service"]["status"], "down", "second consecutive failure");

    target.set(Mode::Hanging);
    let started = std::time::Instant::now();
    let hung = check(&app, id).await;
    assert_eq!(hung["status"], "down");
    assert!(started.elapsed() < Duration::from_secs(5), "a hanging target ends at the 1 s timeout");
    assert!(hung["error"].as_str().expect("reason").contains("timed out"), "{hung}");

    target.set(Mode::Healthy);
    assert_eq!(check(&app, id).await["service"]["status"], "down", "recovery needs 2 passing checks");
    assert_eq!(check(&app, id).await["service"]["status"], "up");

    let stored = results(&app, id).await;
    let codes: Vec<i16> = stored.iter().map(|r| r.0).collect();
    assert_eq!(codes, [0, 1, 2, 2, 2, 0, 0], "every result is stored, in order");
    assert!(target.hits() >= 7);
    app.stop().await.expect("stop");
}

async fn incidents_open_hold_resolve_and_take_notes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (operator_id, operator) = app.user_with_token("op@example.com", "operator").await;
    let (_, member) = app.user_with_token("m@example.com", "member").await;
    let target = Target::start().await;
    let body = json!({"name": "shop", "kind": "http", "target": target.url(), "interval_seconds": 10,
                      "timeout_seconds": 2, "failure_threshold": 1, "recovery_threshold": 1});
    let id = create(&app, &operator, body).await["id"].as_i64().expect("id");

    // Down opens one incident; more failures open no second one.
    target.set(Mode::Failing);
    check(&app, id).await;
    check(&app, id).await;
    let open = app.get(&format!("/api/v1/incidents?service_id={id}"), &operator).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.text);
    app.get(&format!("/api/v1/incidents?service_id={id}"), &member).await.problem(StatusCode::FORBIDDEN);
    let items = open.json["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1, "{}", open.text);
    let incident = items[0]["id"].as_i64().expect("incident id");
    assert_eq!(items[0]["status"], "open");
    assert_eq!(items[0]["timeline"][0]["kind"], "opened");
    assert!(items[0]["timeline"][0]["actor_id"].is_null());

    // Operators hear about it in their inbox.
    let inbox = app.get("/api/v1/notifications", &operator).await;
    let titles: Vec<&str> =
        inbox.json["items"].as_array().expect("inbox").iter().filter_map(|n| n["title"].as_str()).collect();
    assert!(titles.contains(&"shop is down"), "{titles:?}");

    // Members read but do not act; operators acknowledge once.
    let path = format!("/api/v1/incidents/{incident}");
    assert_eq!(app.post(&format!("{path}/acknowledge"), &member, json!({})).await.status, StatusCode::FORBIDDEN);
    let ack = app.post(&format!("{path}/acknowledge"), &operator, json!({"message": "looking"})).await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.text);
    assert_eq!(ack.json["status"], "acknowledged");
    assert_eq!(ack.json["acknowledged_by"], operator_id);
    let again = app.post(&format!("{path}/acknowledge"), &operator, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);

    // Recovery does not resolve an incident an operator holds.
    target.set(Mode::Healthy);
    assert_eq!(check(&app, id).await["service"]["status"], "up");
    let held = app.get(&path, &operator).await;
    assert_eq!(held.json["status"], "acknowledged");
    let kinds: Vec<&str> =
        held.json["timeline"].as_array().expect("timeline").iter().filter_map(|t| t["kind"].as_str()).collect();
    assert_eq!(kinds, ["opened", "acknowledged", "recovered"]);

    let empty = app.post(&format!("{path}/notes"), &operator, json!({"message": "  "})).await;
    assert_eq!(empty.fields(), ["message"]);
    let note = app.post(&format!("{path}/notes"), &operator, json!({"message": "bad deploy rolled back"})).await;
    assert_eq!(note.status, StatusCode::OK, "{}", note.text);
    let resolved = app.call(Method::POST, &format!("{path}/resolve"), Some(&operator), None).await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.text);
    assert_eq!(resolved.json["status"], "resolved");
    assert_eq!(resolved.json["resolved_by"], operator_id);
    let kinds: Vec<String> = resolved.json["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(kinds, ["opened", "acknowledged", "recovered", "note", "resolved"]);

    // A new outage opens a new incident, which recovery resolves by itself.
    target.set(Mode::Failing);
    check(&app, id).await;
    target.set(Mode::Healthy);
    check(&app, id).await;
    let all = app.get(&format!("/api/v1/incidents?service_id={id}"), &operator).await;
    let items = all.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["status"], "resolved", "newest first: {}", all.text);
    assert!(items[0]["resolved_by"].is_null(), "resolved by herald on recovery");
    let only_resolved = app.get("/api/v1/incidents?status=resolved", &operator).await;
    assert_eq!(only_resolved.json["items"].as_array().map(Vec::len), Some(2));
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let none = app.get(&format!("/api/v1/incidents?from={later}"), &operator).await;
    assert_eq!(none.json["items"].as_array().map(Vec::len), Some(0), "time filter: {}", none.text);
    let before = app.get(&format!("/api/v1/incidents?to={later}&limit=1"), &operator).await;
    assert_eq!(before.json["items"].as_array().map(Vec::len), Some(1));
    let next = before.json["next_cursor"].as_str().expect("a second page").to_string();
    let page2 = app.get(&format!("/api/v1/incidents?to={later}&limit=1&cursor={next}"), &operator).await;
    assert_ne!(page2.json["items"][0]["id"], before.json["items"][0]["id"]);
    assert_eq!(app.get("/api/v1/incidents?status=sleeping", &operator).await.fields(), ["status"]);
    assert_eq!(app.get("/api/v1/incidents/999999", &operator).await.status, StatusCode::NOT_FOUND);
    app.stop().await.expect("stop");
}

async fn tcp_checks_see_a_listener_open_and_close(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accept = tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    });
    let body = json!({"name": "db", "kind": "tcp", "target": addr.to_string(), "interval_seconds": 10,
                      "timeout_seconds": 2, "failure_threshold": 1});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    assert_eq!(check(&app, id).await["status"], "up");
    accept.abort();
    let _ = accept.await;
    let down = check(&app, id).await;
    assert_eq!(down["status"], "down", "{down}");
    assert!(down["error"].as_str().expect("reason").contains("refused"), "{down}");
    assert_eq!(down["service"]["status"], "down");
    app.stop().await.expect("stop");
}

/// The scheduler on (the harness turns it off), claiming every 100 ms.
fn scheduling(config: &mut herald::config::Config) {
    config.monitoring.scheduler = true;
    config.monitoring.claim_interval_ms = 100;
}

async fn heartbeats_arrive_and_go_missing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let body = json!({"name": "nightly", "kind": "heartbeat", "target": "", "interval_seconds": 10,
                      "failure_threshold": 1, "recovery_threshold": 1, "config": {"grace_seconds": 1}});
    let created = create(&app, &app.admin_token, body).await;
    let id = created["id"].as_i64().expect("id");
    let secret = created["heartbeat_secret"].as_str().expect("secret shown once").to_string();
    assert_eq!(created["heartbeat_path"], format!("/api/v1/heartbeat/{secret}"));
    assert!(app.get(&format!("/api/v1/services/{id}"), &app.admin_token).await.json.get("heartbeat_secret").is_none());

    // A beat needs no token; an unknown secret is simply not found.
    let beat = app.call(Method::POST, &format!("/api/v1/heartbeat/{secret}"), None, None).await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.text);
    assert_eq!(beat.json["status"], "up");
    assert_eq!(app.call(Method::POST, "/api/v1/heartbeat/hb_nope", None, None).await.status, StatusCode::NOT_FOUND);
    // A burst of beats is accepted but stored once.
    for _ in 0..5 {
        assert_eq!(
            app.call(Method::POST, &format!("/api/v1/heartbeat/{secret}"), None, None).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(results(&app, id).await.len(), 1, "beats within a second are not stored again");

    // Withheld: past interval + grace the scheduler finds it down and opens an incident.
    assert_eq!(app.step_scheduler().await, 0, "not missing before its deadline");
    app.shift.advance(Duration::from_secs(12));
    assert_eq!(app.step_scheduler().await, 1, "missing after interval + grace");
    let status = app.get(&format!("/api/v1/services/{id}"), &app.admin_token).await.json["status"].clone();
    assert_eq!(status, "down", "heartbeat reported missing");
    let incidents = app.get(&format!("/api/v1/incidents?service_id={id}&status=open"), &app.admin_token).await;
    let cause = incidents.json["items"][0]["cause"].as_str().expect("an open incident").to_string();
    assert!(cause.contains("no heartbeat"), "{cause}");

    // Rotating the secret retires the old one; a beat on the new one recovers.
    let rotated = app.post(&format!("/api/v1/services/{id}/heartbeat-secret"), &app.admin_token, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let fresh = rotated.json["heartbeat_secret"].as_str().expect("new secret").to_string();
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/heartbeat/{secret}"), None, None).await.status,
        StatusCode::NOT_FOUND
    );
    let back = app.call(Method::GET, &format!("/api/v1/heartbeat/{fresh}"), None, None).await;
    assert_eq!(back.json["status"], "up", "{}", back.text);
    let resolved = app.get(&format!("/api/v1/incidents?service_id={id}"), &app.admin_token).await;
    assert_eq!(resolved.json["items"][0]["status"], "resolved");
    app.stop().await.expect("stop");
}

async fn the_scheduler_checks_once_per_interval(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, scheduling).await else { return };
    let target = Target::start().await;
    let body =
        json!({"name": "tick", "kind": "http", "target": target.url(), "interval_seconds": 10, "timeout_seconds": 2});
    let created = chrono::Utc::now();
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    // The first check falls on a whole second of the first interval, then
    // every 10 s; a steady result may wait up to the stretched cadence
    // (5 s, then the next boundary) before it is stored. Wait for three.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    let stored = loop {
        let stored = results(&app, id).await;
        if stored.len() >= 3 {
            break stored;
        }
        assert!(std::time::Instant::now() < deadline, "{} checks in 45 s at a 10 s interval", stored.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let first = (stored[0].2 - created).num_milliseconds();
    assert!((0..=11_000).contains(&first), "the first check came {first} ms after creation");
    for pair in stored.windows(2) {
        let gap = (pair[1].2 - pair[0].2).num_milliseconds();
        assert!((9_500..=10_700).contains(&gap), "checks {gap} ms apart");
    }
    // Due times are whole seconds (the start quantum): each check starts
    // just after one, not anywhere within it.
    for r in &stored {
        assert!(r.2.timestamp_subsec_millis() < 500, "a check started at {}", r.2);
    }
    assert!(stored.iter().all(|r| r.0 == 0));
    app.stop().await.expect("stop");
}

/// The scheduler keeps each service's parsed check between checks; a
/// change to the settings is checked from the next check on. Driven a
/// round at a time: the rounds share the kept checks as a running
/// scheduler's do.
async fn the_scheduler_checks_a_changed_service_as_changed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (healthy, failing) = (Target::start().await, Target::start().await);
    failing.set(Mode::Failing);
    let body = json!({"name": "moving", "kind": "http", "target": healthy.url(), "interval_seconds": 10, "timeout_seconds": 2});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    // The first check falls within the first interval.
    let mut first = None;
    for _ in 0..11 {
        app.shift.advance(Duration::from_secs(1));
        app.step_scheduler().await;
        first = results(&app, id).await.first().copied();
        if first.is_some() {
            break;
        }
    }
    let first = first.expect("a first check within the first interval");
    assert_eq!(first.0, 0, "the healthy target's check is up");

    let path = format!("/api/v1/services/{id}");
    let moved = app.call(Method::PATCH, &path, Some(&app.admin_token), Some(json!({"target": failing.url()}))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    app.shift.advance(Duration::from_secs(10));
    assert_eq!(app.step_scheduler().await, 1, "due again one interval later");
    let next = results(&app, id).await.into_iter().find(|r| r.2 > first.2).expect("the next check");
    assert_ne!(next.0, 0, "the check after the change reached the failing target");
    assert!(failing.hits() >= 1);
    app.stop().await.expect("stop");
}

/// PostgreSQL: two instances share the checks (each due check runs once),
/// and when one dies the other keeps every service checked. Both
/// schedulers are driven a round at a time on the shared clock, moved a
/// quarter second per round: herald's time passes quickly, the rounds stay
/// real claims under real leases.
#[tokio::test]
async fn two_instances_share_checks_and_survive_a_death() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.peer().await;
    let target = Target::start().await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let body = json!({"name": format!("svc{i}"), "kind": "http", "target": target.url(),
                          "interval_seconds": 10, "timeout_seconds": 2});
        ids.push(create(&a, &a.admin_token, body).await["id"].as_i64().expect("id"));
    }
    // First checks within the first 10 s, then every 10 s: about 20 s of
    // herald's time. In each round both instances claim at once, so each
    // due check goes to one of them — mostly the first to ask. Due times
    // sit on a 1 s grid (4 rounds) and recur every 10 s (40 rounds), so the
    // first to ask changes every grid second and flips again each
    // interval: a service's consecutive checks are offered to A and B in
    // turn, whatever second it fell due in. (Turns by round parity alone
    // gave every due time the same instance first.)
    const STEP: Duration = Duration::from_millis(250);
    for round in 0..80 {
        a.shift.advance(STEP);
        if (round / 4 + round / 40) % 2 == 0 {
            tokio::join!(a.step_scheduler(), b.step_scheduler());
        } else {
            tokio::join!(b.step_scheduler(), a.step_scheduler());
        }
    }
    let mut instances = std::collections::BTreeSet::new();
    for id in &ids {
        let stored = results(&a, *id).await;
        assert!((2..=3).contains(&stored.len()), "service {id}: {} checks in 30 s", stored.len());
        for pair in stored.windows(2) {
            let gap = (pair[1].2 - pair[0].2).num_milliseconds();
            assert!(gap >= 9_500, "service {id} checked twice within one interval ({gap} ms)");
        }
        instances.extend(stored.iter().map(|r| r.1));
    }
    assert_eq!(instances.len(), 2, "both instances took a share: {instances:?}");

    // A lease left behind by an instance that died mid-check holds its
    // service only until it expires; then a live instance takes it over.
    const DEAD: &str = "UPDATE service SET lease_owner = 9999, lease_until = $2, next_check_at = $3 WHERE id = $1";
    let orphaned_at = a.state.monitoring.now();
    let leased_until = orphaned_at + chrono::Duration::seconds(10);
    if let herald::storage::Pool::Postgres(p) = a.db.pool() {
        let q = sqlx::query(DEAD).bind(ids[0]).bind(leased_until).bind(orphaned_at);
        q.execute(p).await.expect("orphan lease");
    }
    // Stop A: B carries on with every service, for 15 s of herald's time.
    let a_instance = a.state.monitoring.instance_id();
    a.stop().await.expect("stop A");
    let since = b.state.monitoring.now();
    for _ in 0..60 {
        b.shift.advance(STEP);
        b.step_scheduler().await;
    }
    for id in &ids {
        let after: Vec<_> = results(&b, *id).await.into_iter().filter(|r| r.2 > since).collect();
        assert!(!after.is_empty(), "service {id} was not checked after instance A died");
        assert!(after.iter().all(|r| r.1 != a_instance));
    }
    // Rounds claim only what is due, never ahead (as the running scheduler
    // does): no check of the orphan at all until its lease ended.
    let orphan: Vec<_> = results(&b, ids[0]).await.into_iter().filter(|r| r.2 > since).collect();
    assert!(
        orphan.iter().all(|r| r.2 >= leased_until),
        "the orphaned lease was respected until it expired: {orphan:?}"
    );
    assert!(!orphan.is_empty(), "a live instance took the orphaned service over once its lease expired");
    b.stop().await.expect("stop");
}

both!(
    uptime_by_hand_from_raw_results_and_from_rollups,
    rollups_are_built_in_ten_minute_slices_as_the_hour_goes,
    the_overview_adds_fresh_checks_to_its_cached_rollups,
    maintenance_windows_hold_incidents_and_downtime,
    the_status_page_is_public_and_shows_public_services,
    trends_name_the_figure_behind_each_recommendation,
);

/// Insert results directly: (seconds ago, status 0/1/2, maintenance, latency µs).
async fn seed(app: &TestApp, service_id: i64, rows: &[(i64, i16, bool, i32)]) {
    let now = chrono::Utc::now();
    for (ago, status, maintenance, latency) in rows {
        let at = now - chrono::Duration::seconds(*ago);
        const SQL: &str = "INSERT INTO service_metric (service_id, checked_at, status, status_code, \
                           instance_id, latency_us, error) VALUES ($1, $2, $3, NULL, 1, $4, NULL)";
        // Stored status: 0/1/2, plus 8 in a maintenance window.
        let code = if *maintenance { status + 8 } else { *status };
        on_pool!(app.db, |p| sqlx::query(SQL)
            .bind(service_id)
            .bind(Micros(at))
            .bind(code)
            .bind(*latency)
            .execute(p)
            .await
            .map(|_| ())
            .expect("seed result"));
    }
}

async fn raw_count(app: &TestApp, service_id: i64) -> i64 {
    const SQL: &str = "SELECT count(*) FROM service_metric WHERE service_id = $1";
    on_pool!(app.db, |p| sqlx::query_scalar(SQL).bind(service_id).fetch_one(p).await.expect("count"))
}

/// Roll up everything that has settled (several passes: 48 hours each).
async fn housekeep(app: &TestApp) {
    for _ in 0..40 {
        let (rolled, _) = app.state.monitoring.housekeeping_once(&app.config.monitoring).await.expect("housekeeping");
        if rolled == 0 {
            return;
        }
    }
    panic!("rollups did not catch up");
}

async fn uptime_by_hand_from_raw_results_and_from_rollups(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let body = json!({"name": "hand", "kind": "tcp", "target": "127.0.0.1:9"});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    let h = 3600;
    let mut rows = Vec::new();
    // Last 24 h: 30 up, 5 degraded, 10 down, and 4 in maintenance (2 of them down).
    rows.extend((0..30).map(|i| (600 + i * 1200, 0, false, 20_000)));
    rows.extend((0..5).map(|i| (900 + i * h, 1, false, 800_000)));
    rows.extend((0..10).map(|i| (1500 + i * h, 2, false, 2_000_000)));
    rows.extend((0..4).map(|i| (2000 + i * h, (i % 2 * 2) as i16, true, 20_000)));
    // 1–7 days ago: 20 up, 20 down.
    rows.extend((0..20).map(|i| (2 * 86_400 + i * h, 0, false, 30_000)));
    rows.extend((0..20).map(|i| (3 * 86_400 + i * h, 2, false, 30_000)));
    // 7–30 days ago: 100 up.
    rows.extend((0..100).map(|i| (8 * 86_400 + h + i * 4 * h, 0, false, 10_000)));
    // Older than 30 days: counts in no window.
    rows.extend((0..7).map(|i| (31 * 86_400 + i * h, 2, false, 10_000)));
    seed(&app, id, &rows).await;

    let expect = |u: &Value| {
        let w = |k: &str| {
            (u[k]["ratio"].as_f64().expect("ratio"), u[k]["checks"].as_u64(), u[k]["maintenance_checks"].as_u64())
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let (d, dc, dm) = w("24h");
        assert!(close(d, 35.0 / 45.0) && dc == Some(45) && dm == Some(4), "24h: {}", u["24h"]);
        let (wk, wc, _) = w("7d");
        assert!(close(wk, 55.0 / 85.0) && wc == Some(85), "7d: {}", u["7d"]);
        let (m, mc, mm) = w("30d");
        assert!(close(m, 155.0 / 185.0) && mc == Some(185) && mm == Some(4), "30d: {}", u["30d"]);
    };
    let path = format!("/api/v1/services/{id}/uptime");
    let raw = app.get(&path, &app.admin_token).await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.text);
    expect(&raw.json);

    // The same figures once hourly and daily rollups hold most of it.
    housekeep(&app).await;
    let rolled = app.get(&path, &app.admin_token).await;
    expect(&rolled.json);
    // Retention dropped raw rows older than 14 days (they live on in rollups).
    // Kept: the last 24 h (49), days 1–7 (40), and the 36 of the 7–30 day block within 14 days.
    assert_eq!(raw_count(&app, id).await, 49 + 40 + 36, "raw rows past 14 days are purged");
    expect(&app.get(&path, &app.admin_token).await.json);

    // A custom range: the 1–7 day block alone.
    let to = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let from = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let custom = app.get(&format!("{path}?from={from}&to={to}"), &app.admin_token).await;
    assert_eq!(custom.json["range"]["ratio"], 0.5, "{}", custom.text);
    assert_eq!(custom.json["range"]["checks"], 40);

    // Daily metric buckets add up to the same counts, with latency figures.
    let m = app.get(&format!("/api/v1/services/{id}/metrics?from={from}&bucket=86400"), &app.admin_token).await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text);
    let buckets = m.json.as_array().expect("buckets");
    let total: u64 = buckets.iter().map(|b| b["checks"].as_u64().unwrap_or(0)).sum();
    assert_eq!(total, 40 + 49);
    assert!(buckets.iter().any(|b| b["latency_p95_ms"].as_f64().is_some()));
    let too_fine = app.get(&format!("/api/v1/services/{id}/metrics?from={from}&bucket=60"), &app.admin_token).await;
    assert_eq!(too_fine.fields(), ["bucket"]);
    app.stop().await.expect("stop");
}

/// Hours are made of ten-minute slices rolled as results settle, days of
/// six-hour quarters made of hours, so no pass folds an hour of raw results
/// or a day of hours; the steps between go once the level above is rolled.
async fn rollups_are_built_in_ten_minute_slices_as_the_hour_goes(backend: Backend) {
    use chrono::{DateTime, Duration as Span, Utc};
    use herald::monitoring::domain::figures::Aggregate;
    use herald::monitoring::store::{DAY, HOUR, QUARTER, SLICE};
    // A pool of one connection: rolling up must not need a second one
    // while its transaction holds the first.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.pool.max_connections = Some(1);
        c.pool.min_connections = 1;
    })
    .await
    else {
        return;
    };
    let body = json!({"name": "sliced", "kind": "tcp", "target": "127.0.0.1:9"});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    // A result every 5 min for the last 50 hours: up, every 7th down.
    let rows: Vec<_> = (0..600)
        .map(|i| (10 + i * 300, if i % 7 == 0 { 2 } else { 0 }, false, 1_000 + (i as i32 % 40) * 500))
        .collect();
    // When the seeding counted back from (read again at the end, the oldest
    // result's hour could move on by then).
    let seeded_at = Utc::now();
    seed(&app, id, &rows).await;
    housekeep(&app).await;

    let store = app.state.monitoring.store();
    let to = |p: i32| async move { store.rolled_to(p).await.expect("progress").expect("level started") };
    let (slices_to, hours_to, quarters_to, days_to) =
        (to(SLICE).await, to(HOUR).await, to(QUARTER).await, to(DAY).await);
    let floor = |t: DateTime<Utc>, s: i32| {
        DateTime::from_timestamp(t.timestamp().div_euclid(s.into()) * i64::from(s), 0).expect("time")
    };
    // Slices reach the last whole ten minutes that settled (4 min ago: the
    // longest timeout plus two minutes); each level above reaches the last
    // whole bucket of the one below.
    let settled = floor(Utc::now() - Span::seconds(240), SLICE);
    assert!(slices_to == settled || slices_to == settled - Span::seconds(600), "slices to {slices_to}");
    assert_eq!(hours_to, floor(slices_to, HOUR));
    assert_eq!(quarters_to, floor(hours_to, QUARTER));
    assert_eq!(days_to, floor(quarters_to, DAY));

    // What raw results say about [from, to).
    let raw = |from: DateTime<Utc>, to: DateTime<Utc>| async move {
        let mut a = Aggregate::default();
        for (_, status, maintenance, latency) in store.raw(id, from, to).await.expect("raw") {
            a.add(status, maintenance, latency.into());
        }
        a
    };
    let long_ago = Utc::now() - Span::days(5);
    // Sums read by the database (the overview's) agree with the raw results,
    // whole and from where the hours stop (slices, then raw).
    let now = Utc::now();
    let sums = |a: Aggregate| Aggregate { hist: Default::default(), ..a };
    let whole = store.aggregates_of(&[id], long_ago, now).await.expect("sums")[&id].clone();
    assert_eq!(whole, sums(raw(long_ago, now).await), "sums over days, hours and raw");
    let recent = store.recent_aggregates_of(&[id], hours_to, now).await.expect("recent")[&id].clone();
    assert_eq!(recent, sums(raw(hours_to, now).await), "sums over this hour's slices and raw");
    assert!(recent.checks > 0, "the recent part is not empty");
    for (level, upto, kept_from) in [
        (SLICE, slices_to, Some(hours_to)),
        (HOUR, hours_to, None),
        (QUARTER, quarters_to, Some(days_to)),
        (DAY, days_to, None),
    ] {
        let rolled = store.rollups(id, level, long_ago, Utc::now()).await.expect("rollups");
        // Every bucket rolled so far holds exactly its raw results...
        for row in &rolled {
            assert!(row.bucket < upto, "level {level}: {} is past its progress", row.bucket);
            let expected = raw(row.bucket, row.bucket + Span::seconds(level.into())).await;
            assert_eq!(row.aggregate(), expected, "level {level}, bucket {}", row.bucket);
        }
        match kept_from {
            // ...steps between levels are gone once the level above has them...
            Some(from) => {
                assert!(rolled.iter().all(|r| r.bucket >= from), "level {level} kept rows the level above has");
                assert_eq!(rolled.len() as i64, (upto - from).num_seconds() / i64::from(level));
            }
            // ...and hours and days cover the results, from the first one.
            None => {
                let first = floor(seeded_at - Span::seconds(10 + 599 * 300), level);
                assert_eq!(rolled.len() as i64, (upto - first).num_seconds() / i64::from(level), "level {level}");
            }
        }
    }
    app.stop().await.expect("stop");
}

async fn maintenance_windows_hold_incidents_and_downtime(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let target = Target::start().await;
    let body = json!({"name": "db", "kind": "http", "target": target.url(), "interval_seconds": 10,
                      "timeout_seconds": 2, "failure_threshold": 1, "recovery_threshold": 1});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    let (_, member) = app.user_with_token("m@example.com", "member").await;
    let (_, operator) = app.user_with_token("op@example.com", "operator").await;
    let now = chrono::Utc::now();
    let window = json!({"service_id": id, "title": "upgrade", "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                        "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339()});
    assert_eq!(app.post("/api/v1/maintenance", &member, window.clone()).await.status, StatusCode::FORBIDDEN);
    app.get("/api/v1/maintenance", &member).await.problem(StatusCode::FORBIDDEN);
    let bad = app
        .post(
            "/api/v1/maintenance",
            &app.admin_token,
            json!({"title": "x", "starts_at": now.to_rfc3339(), "ends_at": now.to_rfc3339()}),
        )
        .await;
    assert_eq!(bad.fields(), ["ends_at"]);
    let created = app.post("/api/v1/maintenance", &app.admin_token, window).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let window_id = created.json["id"].as_i64().expect("window id");
    assert_eq!(app.get(&format!("/api/v1/services/{id}"), &operator).await.json["status"], "maintenance");

    target.set(Mode::Failing);
    assert_eq!(check(&app, id).await["status"], "down", "checks still run");
    let incidents = app.get(&format!("/api/v1/incidents?service_id={id}"), &operator).await;
    assert_eq!(incidents.json["items"].as_array().map(Vec::len), Some(0), "no incident in maintenance");
    let uptime = app.get(&format!("/api/v1/services/{id}/uptime"), &operator).await;
    assert_eq!(uptime.json["24h"]["checks"], 0, "{}", uptime.text);
    assert_eq!(uptime.json["24h"]["maintenance_checks"], 1);
    assert!(uptime.json["24h"]["ratio"].is_null());

    let listed = app.get("/api/v1/maintenance", &operator).await;
    assert_eq!(listed.json[0]["title"], "upgrade");
    let path = format!("/api/v1/maintenance/{window_id}");
    assert_eq!(app.call(Method::DELETE, &path, Some(&app.admin_token), None).await.status, StatusCode::NO_CONTENT);
    // Outside maintenance the outage counts, and (still down) a new failure after recovery opens an incident.
    target.set(Mode::Healthy);
    check(&app, id).await;
    target.set(Mode::Failing);
    check(&app, id).await;
    let incidents = app.get(&format!("/api/v1/incidents?service_id={id}"), &operator).await;
    assert_eq!(incidents.json["items"].as_array().map(Vec::len), Some(1));

    // A global window (no service) holds every service's checks too.
    let other = json!({"name": "other", "kind": "http", "target": target.url(), "failure_threshold": 1});
    let other = create(&app, &app.admin_token, other).await["id"].as_i64().expect("id");
    let global = json!({"title": "everything", "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                        "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339()});
    assert_eq!(app.post("/api/v1/maintenance", &app.admin_token, global).await.status, StatusCode::CREATED);
    assert_eq!(check(&app, other).await["status"], "down", "checks still run");
    let incidents = app.get(&format!("/api/v1/incidents?service_id={other}"), &operator).await;
    assert_eq!(incidents.json["items"].as_array().map(Vec::len), Some(0), "no incident in a global window");
    let uptime = app.get(&format!("/api/v1/services/{other}/uptime"), &operator).await;
    assert_eq!(uptime.json["24h"]["maintenance_checks"], 1, "{}", uptime.text);
    app.stop().await.expect("stop");
}

async fn the_status_page_is_public_and_shows_public_services(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let public = create(
        &app,
        &app.admin_token,
        json!({"name": "Website", "kind": "tcp", "target": "127.0.0.1:9", "public": true}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    create(&app, &app.admin_token, json!({"name": "Internal", "kind": "tcp", "target": "127.0.0.1:9"})).await;
    seed(&app, public, &[(3 * 86_400, 0, false, 1000), (3 * 86_400 + 5, 2, false, 1000), (10, 0, false, 1000)]).await;
    let page = app.call(Method::GET, "/api/v1/status", None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let services = page.json["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "only public services: {}", page.text);
    assert_eq!(services[0]["name"], "Website");
    let days = services[0]["days"].as_array().expect("days");
    assert_eq!(days.len(), 90);
    assert_eq!(days[86]["uptime"], 0.5, "three days ago: one up, one down: {}", days[86]);
    assert_eq!(days[89]["checks"], 1);
    assert!((services[0]["uptime_90d"].as_f64().expect("uptime") - 2.0 / 3.0).abs() < 1e-9);
    assert!(page.text.find("Internal").is_none());
    app.stop().await.expect("stop");
}

async fn trends_name_the_figure_behind_each_recommendation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let body = json!({"name": "slowing", "kind": "tcp", "target": "127.0.0.1:9", "timeout_seconds": 1});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    let mut rows = Vec::new();
    // 7 days of hourly checks whose latency climbs from 100 ms to ~900 ms…
    for hour in 0..168i64 {
        let latency = 100_000 + (167 - hour) as i32 * 4_800;
        rows.push((hour * 3600 + 1800, 0i16, false, latency));
    }
    // …and a last day that alternates between up and down every 30 minutes.
    for half in 0..48i64 {
        rows.push((half * 1800 + 900, if half % 2 == 0 { 2 } else { 0 }, false, 900_000));
    }
    seed(&app, id, &rows).await;
    let t = app.get(&format!("/api/v1/services/{id}/trends"), &app.admin_token).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    assert_eq!(t.json["latency_direction"], "rising", "{}", t.text);
    assert!(t.json["p95_slope_ms_per_day"].as_f64().expect("slope") > 50.0);
    assert!(t.json["status_changes_24h"].as_u64().expect("changes") >= 40);
    let recs = t.json["recommendations"].as_array().expect("recommendations");
    let by_code =
        |code: &str| recs.iter().find(|r| r["code"] == code).unwrap_or_else(|| panic!("{code} in {}", t.text));
    assert_eq!(by_code("rising_p95")["figure"], "p95_slope_ms_per_day");
    assert_eq!(by_code("flapping")["figure"], "flaps_per_hour");
    assert_eq!(by_code("timeout_close")["figure"], "window_p95_ms");
    for r in recs {
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()) && r["value"].is_number());
    }
    assert_eq!(app.get(&format!("/api/v1/services/{id}/trends?hours=2"), &app.admin_token).await.fields(), ["hours"]);

    // A TLS service whose certificate expires in 5 days: renewal looks late.
    let tls = create(&app, &app.admin_token, json!({"name": "cert", "kind": "tls", "target": "127.0.0.1:443"})).await;
    let tls_id = tls["id"].as_i64().expect("id");
    const EXPIRES: &str = "UPDATE service SET cert_expires_at = $2 WHERE id = $1";
    let soon = herald::storage::Ts(chrono::Utc::now() + chrono::Duration::days(5));
    on_pool!(app.db, |p| sqlx::query(EXPIRES).bind(tls_id).bind(soon).execute(p).await.map(|_| ()).expect("expiry"));
    let t = app.get(&format!("/api/v1/services/{tls_id}/trends"), &app.admin_token).await;
    let rec = t.json["recommendations"].as_array().and_then(|r| r.iter().find(|r| r["code"] == "tls_renewal").cloned());
    let rec = rec.unwrap_or_else(|| panic!("tls_renewal in {}", t.text));
    assert_eq!(rec["figure"], "certificate_days_left");
    assert!((rec["value"].as_f64().expect("days") - 5.0).abs() < 0.1);
    app.stop().await.expect("stop");
}

both!(changes_are_announced_on_the_realtime_channels);

/// The next message of `kind` on the socket, skipping others (inbox pushes).
async fn next_of(ws: &mut crate::harness::ws::Ws, kind: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(m) = ws.recv_within(Duration::from_millis(500)).await
            && m["type"] == kind
        {
            return m;
        }
    }
    panic!("no {kind} message within 10 s");
}

async fn changes_are_announced_on_the_realtime_channels(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (_, operator) = app.user_with_token("op@example.com", "operator").await;
    let (mut ws, _) = crate::harness::ws::Ws::subscribed(&app, &operator, None).await;
    for channel in ["services", "incidents"] {
        ws.send(json!({"type": "channels:subscribe", "channel": channel})).await;
        assert_eq!(next_of(&mut ws, "channels:subscribed").await["channel"], channel);
    }
    let target = Target::start().await;
    let body = json!({"name": "api", "kind": "http", "target": target.url(), "interval_seconds": 10,
                      "timeout_seconds": 2, "failure_threshold": 1, "recovery_threshold": 1});
    let id = create(&app, &operator, body).await["id"].as_i64().expect("id");

    target.set(Mode::Failing);
    check(&app, id).await;
    let status = next_of(&mut ws, "service:status").await;
    assert_eq!((status["service"]["id"].as_i64(), status["service"]["status"].as_str()), (Some(id), Some("down")));
    let opened = next_of(&mut ws, "incident:opened").await;
    assert_eq!(opened["incident"]["service_id"], id);
    assert_eq!(opened["incident"]["timeline"][0]["kind"], "opened");
    let incident = opened["incident"]["id"].as_i64().expect("incident id");
    let inbox = next_of(&mut ws, "notification:new").await;
    assert_eq!(inbox["notification"]["type"], "incident");

    app.post(&format!("/api/v1/incidents/{incident}/acknowledge"), &operator, json!({})).await;
    assert_eq!(next_of(&mut ws, "incident:acknowledged").await["incident"]["status"], "acknowledged");
    app.post(&format!("/api/v1/incidents/{incident}/notes"), &operator, json!({"message": "on it"})).await;
    let note = next_of(&mut ws, "incident:note").await;
    assert_eq!(
        note["incident"]["timeline"].as_array().and_then(|t| t.last()).map(|t| t["message"].clone()),
        Some(json!("on it"))
    );
    target.set(Mode::Healthy);
    check(&app, id).await;
    assert_eq!(next_of(&mut ws, "service:status").await["service"]["status"], "up");
    app.post(&format!("/api/v1/incidents/{incident}/resolve"), &operator, json!({})).await;
    assert_eq!(next_of(&mut ws, "incident:resolved").await["incident"]["status"], "resolved");
    app.stop().await.expect("stop");
}

async fn the_overview_adds_fresh_checks_to_its_cached_rollups(backend: Backend) {
    use chrono::{Duration as Span, DurationRound, Utc};
    use herald::monitoring::domain::figures::Aggregate;
    use herald::monitoring::service::OverviewQuery;
    use herald::monitoring::store::{ServiceFilter, ServiceOrder};
    let Some(app) = TestApp::spawn(backend).await else { return };
    let body = json!({"name": "cached", "kind": "tcp", "target": "127.0.0.1:9"});
    let id = create(&app, &app.admin_token, body).await["id"].as_i64().expect("id");
    // A result every 5 min for the last 50 hours, every 7th down; rolled up
    // as the housekeeper does, so the hours reach this hour or the last.
    let rows: Vec<_> =
        (0..600).map(|i| (10 + i * 300, if i % 7 == 0 { 2 } else { 0 }, false, 1_000 + i as i32)).collect();
    seed(&app, id, &rows).await;
    housekeep(&app).await;
    let m = &app.state.monitoring;
    let query = OverviewQuery { filter: ServiceFilter::default(), order: ServiceOrder::Name, page: 1, per_page: 50 };
    // What the raw results say of the overview's windows (from the hour).
    let expected = || async {
        let now = Utc::now();
        let this_hour = now.duration_trunc(Span::hours(1)).unwrap();
        let mut windows = Vec::new();
        for days in [1, 7, 30] {
            let mut a = Aggregate::default();
            for (_, status, maintenance, latency) in m.store().raw(id, this_hour - Span::days(days), now).await.unwrap()
            {
                a.add(status, maintenance, latency.into());
            }
            windows.push((a.uptime(), a.latency_avg_ms()));
        }
        windows
    };
    let shown = |o: &herald::monitoring::service::Overview| {
        let r = &o.rows[0];
        vec![(r.uptime_24h, r.latency_24h_ms), (r.uptime_7d, None), (r.uptime_30d, None)]
    };
    let close = |a: Vec<(Option<f64>, Option<f64>)>, b: Vec<(Option<f64>, Option<f64>)>| {
        for (i, ((ua, la), (ub, lb))) in a.iter().zip(&b).enumerate() {
            assert!((ua.unwrap() - ub.unwrap()).abs() < 1e-9, "window {i}: uptime {ua:?} against {ub:?}");
            if let (Some(la), Some(lb)) = (la, lb) {
                assert!((la - lb).abs() < 1e-6, "window {i}: latency {la} against {lb}");
            }
        }
    };
    let first = m.overview(&query).await.expect("overview");
    close(shown(&first), expected().await);
    // The second read comes from the cache for the rolled part: the same.
    let second = m.overview(&query).await.expect("overview");
    close(shown(&second), expected().await);
    assert_eq!(second.rows[0].latency.len(), 24, "a day of hourly latencies");
    // A fresh failure is counted at once, on top of the cached part.
    seed(&app, id, &[(1, 2, false, 5_000)]).await;
    let third = m.overview(&query).await.expect("overview");
    close(shown(&third), expected().await);
    assert!(third.rows[0].uptime_24h < second.rows[0].uptime_24h, "the new failure lowers the day's uptime");
}
