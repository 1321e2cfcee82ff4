//! Alerts: channels managed by admins with write-only secrets, channel
//! tests, service alerts that fire once, hold, resolve and reach real
//! receivers through the outbox, retries with backoff across a restart,
//! deliveries that give up, and who may read what.

use std::time::Duration;

use herald::on_pool;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::receiver::{Receiver, SECRET};
use crate::harness::target::{Mode, Target};
use crate::harness::{Backend, TestApp, after_attempts, both};

/// Alerts settings that make the tests quick: retries after 200–400 ms,
/// the outbox polled every 100 ms, resolution without a hold.
fn quick(config: &mut herald::config::Config) {
    config.alerts.poll_interval_ms = 100;
    config.alerts.retry_initial_ms = 400;
    config.alerts.retry_max_ms = 800;
    config.alerts.hold_seconds = 0;
}

/// The events enqueued for `channel` and their states, oldest first: what
/// the outbox will ever send there. Deliveries are enqueued in the same
/// transaction as the alert change, so after `observe` returns this is
/// final, and "nothing more was sent" needs no waiting.
async fn outbox(app: &TestApp, channel: i64) -> Vec<(String, String)> {
    const SQL: &str = "SELECT event, state FROM alert_delivery WHERE channel_id = $1 ORDER BY id";
    herald::on_pool!(app.db, |p| sqlx::query_as(SQL).bind(channel).fetch_all(p).await.expect("deliveries"))
}

/// Wait until every delivery to `channel` is delivered; the outbox never
/// sends a delivered one again.
async fn all_delivered(apps: &[&TestApp], channel: i64) -> Vec<(String, String)> {
    let what = format!("every delivery to channel {channel} delivered");
    after_attempts(apps, &what, async || {
        let rows = outbox(apps[0], channel).await;
        (!rows.is_empty() && rows.iter().all(|(_, state)| state == "delivered")).then_some(rows)
    })
    .await
}

async fn webhook(app: &TestApp, url: &str, min_severity: &str) -> i64 {
    let body = json!({"name": "hook", "kind": "webhook", "config": {"url": url, "secret": SECRET},
                      "min_severity": min_severity});
    let reply = app.post("/api/v1/alert-channels", &app.admin_token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["id"].as_i64().expect("channel id")
}

/// An HTTP service on `target` that is down after one failed check and up after one pass.
async fn service(app: &TestApp, target: &Target) -> i64 {
    let body = json!({"name": "api", "kind": "http", "target": target.url(),
                      "failure_threshold": 1, "recovery_threshold": 1, "timeout_seconds": 2});
    let reply = app.post("/api/v1/services", &app.admin_token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["id"].as_i64().expect("service id")
}

async fn check(app: &TestApp, id: i64) {
    let reply = app.post(&format!("/api/v1/services/{id}/check"), &app.admin_token, json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

async fn evaluate(app: &TestApp) {
    herald::monitoring::workers::service_alerts::evaluate_once(&app.state.monitoring, &app.state.alerts)
        .await
        .expect("evaluate");
}

async fn alerts(app: &TestApp, query: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/alerts{query}"), &app.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["items"].as_array().cloned().unwrap_or_default()
}

both!(
    channels_are_managed_by_admins_with_write_only_secrets,
    channel_tests_reach_the_receiver_or_say_why,
    a_down_service_fires_once_and_resolves_through_every_channel,
    a_flapping_condition_waits_out_the_hold_before_resolving,
    failed_deliveries_retry_across_a_restart_and_then_give_up,
    alerts_are_for_operators_and_filters_are_checked,
    a_firing_alert_is_emailed_through_a_real_smtp_server,
    a_certificate_expiring_soon_raises_a_warning_until_renewed,
);

/// A plain aiosmtpd on 127.0.0.1 that writes each accepted message as a JSON line.
const SMTPD: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP
out = sys.argv[1]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(out, "a") as f:
            f.write(json.dumps({"to": envelope.rcpt_tos, "data": envelope.content.decode("utf-8", "replace")}) + "\n")
        return "250 2.0.0 accepted"
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="herald-test"), "127.0.0.1", 0)
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
asyncio.run(main())
"#;

/// aiosmtpd from `.tools/venv` (installed by scripts/setup): `None` (skip)
/// when missing outside CI.
fn smtp_server(dir: &std::path::Path) -> Option<(std::process::Child, u16)> {
    use std::io::{BufRead, BufReader};
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    if !python.exists() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0"),
            "{} missing: run scripts/setup",
            python.display()
        );
        eprintln!("*** SKIPPING the SMTP delivery test: run scripts/setup ***");
        return None;
    }
    let script = dir.join("smtpd.py");
    std::fs::write(&script, SMTPD).expect("script");
    let mut child = std::process::Command::new(python)
        .arg(&script)
        .arg(dir.join("received.jsonl"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start aiosmtpd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a line");
    let port = line.strip_prefix("listening ").and_then(|p| p.trim().parse().ok()).expect("aiosmtpd listening");
    Some((child, port))
}

async fn a_firing_alert_is_emailed_through_a_real_smtp_server(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let Some((mut smtpd, port)) = smtp_server(dir.path()) else { return };
    let Some(app) = TestApp::spawn_with(backend, quick).await else {
        let _ = smtpd.kill();
        return;
    };
    let body = json!({"name": "mail", "kind": "email", "config": {"host": "127.0.0.1", "port": port,
                      "security": "none", "from": "herald@example.com", "to": ["ops@example.com"]}});
    let created = app.post("/api/v1/alert-channels", &app.admin_token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let condition = herald::alerts::Condition {
        key: "database.mail_test".into(),
        severity: herald::alerts::channels::Severity::Critical,
        message: "mail test condition".into(),
        value: Some(1.0),
        threshold: Some(0.5),
    };
    app.state.alerts.observe("database", &[condition]).await.expect("observe");
    let received = dir.path().join("received.jsonl");
    let text = after_attempts(&[&app], "an email received", async || {
        Some(std::fs::read_to_string(&received).unwrap_or_default()).filter(|text| !text.is_empty())
    })
    .await;
    let _ = smtpd.kill();
    let _ = smtpd.wait();
    let mail: Value = serde_json::from_str(text.lines().next().expect("one email received")).expect("json");
    assert_eq!(mail["to"], json!(["ops@example.com"]));
    let data = mail["data"].as_str().unwrap_or_default();
    assert!(data.contains("mail test condition"), "{data}");
    assert!(data.contains("CRITICAL"), "{data}");
    let alerts = alerts(&app, "?source=database").await;
    let id = alerts[0]["id"].as_i64().expect("id");
    let detail = app.get(&format!("/api/v1/alerts/{id}"), &app.admin_token).await;
    assert_eq!(detail.json["deliveries"][0]["state"], "delivered", "{}", detail.text);
    app.stop().await.expect("stop");
}

/// Two instances on one PostgreSQL database share the outbox: every
/// delivery is sent once.
#[tokio::test]
async fn two_instances_send_each_delivery_once() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, quick).await else { return };
    let peer = app.peer().await;
    let receiver = Receiver::start().await;
    let hook = webhook(&app, &receiver.url(), "warning").await;
    let conditions: Vec<herald::alerts::Condition> = (0..30)
        .map(|i| herald::alerts::Condition {
            key: format!("database.test_{i}"),
            severity: herald::alerts::channels::Severity::Warning,
            message: format!("condition {i}"),
            value: None,
            threshold: None,
        })
        .collect();
    // Both instances observe the same conditions: each fires once.
    let (a, b) = tokio::join!(
        app.state.alerts.observe("database", &conditions),
        peer.state.alerts.observe("database", &conditions)
    );
    assert_eq!(a.expect("observe").len() + b.expect("observe").len(), 30, "each condition fired by one instance");
    receiver.wait_for(30).await;
    assert_eq!(all_delivered(&[&app, &peer], hook).await.len(), 30, "30 enqueued, each delivered, none left to send");
    let mut keys: Vec<String> = receiver
        .seen
        .lock()
        .expect("seen")
        .accepted
        .iter()
        .map(|(_, _, body)| body["alert"]["key"].as_str().unwrap_or_default().to_string())
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!((before, keys.len()), (30, 30), "30 deliveries, none twice");
    peer.stop().await.expect("stop peer");
    app.stop().await.expect("stop");
}

async fn channels_are_managed_by_admins_with_write_only_secrets(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let receiver = Receiver::start().await;
    let (_, operator) = app.user_with_token("op@example.com", "operator").await;
    let body = json!({"name": "hook", "kind": "webhook", "config": {"url": receiver.url(), "secret": SECRET}});
    assert_eq!(app.post("/api/v1/alert-channels", &operator, body.clone()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/alert-channels", &operator).await.status, StatusCode::FORBIDDEN);

    let created = app.post("/api/v1/alert-channels", &app.admin_token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(!created.text.contains(SECRET), "the secret is never returned: {}", created.text);
    assert_eq!(created.json["config"]["secret_set"], true);
    assert_eq!(created.json["config"]["url"], receiver.url());
    assert_eq!(created.json["min_severity"], "warning");
    assert_eq!(created.json["sources"], json!(["database", "service"]));
    assert_eq!(created.json["enabled"], true);
    let id = created.json["id"].as_i64().expect("id");
    let path = format!("/api/v1/alert-channels/{id}");
    let listed = app.get("/api/v1/alert-channels", &app.admin_token).await;
    assert!(!listed.text.contains(SECRET));
    assert_eq!(listed.json["items"][0]["id"], id);

    // A change without the secret keeps it: the test message is still signed with it.
    let patched = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(json!({"name": "renamed", "min_severity": "critical"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json["name"], "renamed");
    assert_eq!(patched.json["min_severity"], "critical");
    let tested = app.post(&format!("{path}/test"), &app.admin_token, json!({})).await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text);
    assert_eq!(receiver.events(), ["test"]);
    assert!(receiver.all_signed(), "signed with the kept secret");

    // Every bad field is named.
    let bad = app
        .post(
            "/api/v1/alert-channels",
            &app.admin_token,
            json!({"name": "", "kind": "webhook", "config": {"url": "ftp://x"}, "min_severity": "loud",
                   "sources": ["disk"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let fields = bad.fields();
    for f in ["name", "config.url", "config.secret", "min_severity", "sources[0]"] {
        assert!(fields.contains(&f.to_string()), "{f} named in {fields:?}");
    }
    let kind = app.post("/api/v1/alert-channels", &app.admin_token, json!({"name": "x", "kind": "pager"})).await;
    assert_eq!(kind.fields(), ["kind"]);
    let change_kind = app.call(Method::PATCH, &path, Some(&app.admin_token), Some(json!({"kind": "slack"}))).await;
    assert_eq!(change_kind.fields(), ["kind"]);

    assert_eq!(app.call(Method::DELETE, &path, Some(&app.admin_token), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &app.admin_token).await.status, StatusCode::NOT_FOUND);
    app.stop().await.expect("stop");
}

async fn channel_tests_reach_the_receiver_or_say_why(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let receiver = Receiver::start().await;
    let id = webhook(&app, &receiver.url(), "warning").await;
    let tested = app.post(&format!("/api/v1/alert-channels/{id}/test"), &app.admin_token, json!({})).await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text);
    assert_eq!(tested.json["delivered"], true);
    assert_eq!(receiver.last()["event"], "test");
    assert!(receiver.all_signed());

    receiver.fail(1, 400);
    let refused = app.post(&format!("/api/v1/alert-channels/{id}/test"), &app.admin_token, json!({})).await;
    let problem = refused.problem(StatusCode::BAD_GATEWAY);
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("400")), "{problem}");
    assert!(!refused.text.contains(SECRET));

    // In-app: every operator and admin gets a notification.
    let (_, operator) = app.user_with_token("op@example.com", "operator").await;
    let in_app = app.post("/api/v1/alert-channels", &app.admin_token, json!({"name": "inbox", "kind": "in_app"})).await;
    assert_eq!(in_app.status, StatusCode::CREATED, "{}", in_app.text);
    let in_app_id = in_app.json["id"].as_i64().expect("id");
    let tested = app.post(&format!("/api/v1/alert-channels/{in_app_id}/test"), &app.admin_token, json!({})).await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text);
    for token in [&app.admin_token, &operator] {
        let inbox = app.get("/api/v1/notifications", token).await;
        assert_eq!(inbox.json["items"][0]["type"], "alert", "{}", inbox.text);
    }
    app.stop().await.expect("stop");
}

async fn a_down_service_fires_once_and_resolves_through_every_channel(backend: Backend) {
    // The outbox is not polled in this test: what the instance enqueues it
    // sends at once.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        quick(c);
        c.alerts.poll_interval_ms = 3_600_000;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let quiet = Receiver::start().await;
    let target = Target::start().await;
    let hook = webhook(&app, &receiver.url(), "warning").await;
    // A channel for database alerts only hears nothing of services.
    let only_db = json!({"name": "db", "kind": "webhook", "config": {"url": quiet.url(), "secret": SECRET},
                         "sources": ["database"]});
    assert_eq!(app.post("/api/v1/alert-channels", &app.admin_token, only_db).await.status, StatusCode::CREATED);
    let inbox = json!({"name": "inbox", "kind": "in_app", "min_severity": "critical"});
    assert_eq!(app.post("/api/v1/alert-channels", &app.admin_token, inbox).await.status, StatusCode::CREATED);
    let id = service(&app, &target).await;

    target.set(Mode::Failing);
    check(&app, id).await;
    evaluate(&app).await;
    evaluate(&app).await;
    receiver.wait_for(1).await;
    let fired = alerts(&app, "?state=firing").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let alert = &fired[0];
    assert_eq!(alert["key"], format!("service.{id}.down"));
    assert_eq!(alert["source"], "service");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["state"], "firing");
    assert!(alert["resolved_at"].is_null());
    assert_eq!(receiver.last()["event"], "alert.firing");
    assert_eq!(receiver.last()["alert"]["key"], alert["key"]);
    assert!(receiver.all_signed());
    // The admin's inbox has it too (its delivery may come a moment later).
    after_attempts(&[&app], "the in-app channel notified the admin", async || {
        let inbox = app.get("/api/v1/notifications?type=alert", &app.admin_token).await;
        inbox.json["items"].as_array().is_some_and(|items| !items.is_empty()).then_some(())
    })
    .await;

    // Still down: no second alert, no second delivery.
    check(&app, id).await;
    evaluate(&app).await;
    let enqueued: Vec<String> = outbox(&app, hook).await.into_iter().map(|(event, _)| event).collect();
    assert_eq!(enqueued, ["alert.firing"], "nothing more to send");
    assert_eq!(receiver.events(), ["alert.firing"]);
    assert_eq!(alerts(&app, "").await.len(), 1);

    target.set(Mode::Healthy);
    check(&app, id).await;
    evaluate(&app).await;
    receiver.wait_for(2).await;
    assert_eq!(receiver.events(), ["alert.firing", "alert.resolved"]);
    assert_eq!(receiver.last()["alert"]["state"], "resolved");
    let alert_id = alert["id"].as_i64().expect("alert id");
    let detail = app.get(&format!("/api/v1/alerts/{alert_id}"), &app.admin_token).await;
    assert_eq!(detail.json["state"], "resolved");
    assert!(detail.json["resolved_at"].is_string());
    let deliveries = detail.json["deliveries"].as_array().cloned().unwrap_or_default();
    // Webhook: firing and resolution; in-app: both (critical).
    assert_eq!(deliveries.len(), 4, "{}", detail.text);
    all_delivered(&[&app], hook).await;
    after_attempts(&[&app], "every delivery of the alert delivered", async || {
        let detail = app.get(&format!("/api/v1/alerts/{alert_id}"), &app.admin_token).await;
        detail.json["deliveries"].as_array().is_some_and(|d| d.iter().all(|d| d["state"] == "delivered")).then_some(())
    })
    .await;
    let detail = app.get(&format!("/api/v1/alerts/{alert_id}"), &app.admin_token).await;
    assert!(
        detail.json["deliveries"].as_array().is_some_and(|d| d.iter().all(|d| d["state"] == "delivered")),
        "{}",
        detail.text
    );
    assert!(quiet.events().is_empty(), "the database-only channel heard nothing");
    app.stop().await.expect("stop");
}

/// Set a service's stored certificate expiry, as a TLS check would.
async fn expires_in(app: &TestApp, id: i64, days: i64) {
    const SQL: &str = "UPDATE service SET cert_expires_at = $2 WHERE id = $1";
    let at = herald::storage::Ts(chrono::Utc::now() + chrono::Duration::days(days));
    on_pool!(app.db, |p| sqlx::query(SQL).bind(id).bind(at).execute(p).await.map(|_| ()).expect("expiry"));
}

async fn a_certificate_expiring_soon_raises_a_warning_until_renewed(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, quick).await else { return };
    let target = Target::start().await;
    // Three healthy services: one certificate expires within the 14 days
    // warned of, one later, one has already expired (a TLS check reports
    // that as down; the expiry warning is for certificates still valid).
    let (soon, later, expired) =
        (service(&app, &target).await, service(&app, &target).await, service(&app, &target).await);
    for (id, days) in [(soon, 5), (later, 30), (expired, -1)] {
        check(&app, id).await;
        expires_in(&app, id, days).await;
    }
    evaluate(&app).await;
    let fired = alerts(&app, "?state=firing").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["key"], format!("service.{soon}.tls_expiry"));
    assert_eq!(fired[0]["severity"], "warning");
    assert!((fired[0]["value"].as_f64().expect("days left") - 5.0).abs() <= 0.1, "{fired:?}");

    // Renewed: the service no longer raises anything, and the alert resolves.
    expires_in(&app, soon, 90).await;
    evaluate(&app).await;
    assert!(alerts(&app, "?state=firing").await.is_empty());
    let all = alerts(&app, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["state"], "resolved");
    app.stop().await.expect("stop");
}

async fn a_flapping_condition_waits_out_the_hold_before_resolving(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        quick(c);
        c.alerts.hold_seconds = 2;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let hook = webhook(&app, &receiver.url(), "warning").await;
    let id = service(&app, &target).await;
    target.set(Mode::Failing);
    check(&app, id).await;
    evaluate(&app).await;
    receiver.wait_for(1).await;

    // Up, down, up within the hold: still the one firing alert.
    for healthy in [true, false, true] {
        target.set(if healthy { Mode::Healthy } else { Mode::Failing });
        check(&app, id).await;
        evaluate(&app).await;
    }
    let enqueued: Vec<String> = outbox(&app, hook).await.into_iter().map(|(event, _)| event).collect();
    assert_eq!(enqueued, ["alert.firing"], "no resolution within the hold");
    assert_eq!(receiver.events(), ["alert.firing"]);
    assert_eq!(alerts(&app, "?state=firing").await.len(), 1);

    // herald's clock past the 2 s hold, instead of waiting it out.
    app.shift.advance(Duration::from_millis(2_100));
    evaluate(&app).await;
    receiver.wait_for(2).await;
    assert_eq!(receiver.events(), ["alert.firing", "alert.resolved"]);
    assert_eq!(alerts(&app, "").await.len(), 1, "one alert for the whole episode");
    app.stop().await.expect("stop");
}

async fn failed_deliveries_retry_across_a_restart_and_then_give_up(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        quick(c);
        c.alerts.max_attempts = 4;
        // Long enough that the restart happens between two attempts.
        c.alerts.retry_initial_ms = 1_500;
        c.alerts.retry_max_ms = 1_500;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let target = Target::start().await;
    let hook = webhook(&app, &receiver.url(), "warning").await;
    let id = service(&app, &target).await;
    receiver.fail(1, 500);
    target.set(Mode::Failing);
    check(&app, id).await;
    evaluate(&app).await;
    after_attempts(&[&app], "the first attempt refused", async || (receiver.refused() == 1).then_some(())).await;
    assert_eq!(receiver.refused(), 1, "the first attempt was refused");

    // Restart between attempts: the delivery is in the database, not in memory.
    let app = app.restart().await;
    receiver.wait_for(1).await;
    assert_eq!(all_delivered(&[&app], hook).await.len(), 1, "delivered, so never sent again");
    assert_eq!(receiver.events(), ["alert.firing"], "delivered once after the restart");
    let fired = alerts(&app, "").await;
    let alert_id = fired[0]["id"].as_i64().expect("alert id");
    let detail = app.get(&format!("/api/v1/alerts/{alert_id}"), &app.admin_token).await;
    let delivery = &detail.json["deliveries"][0];
    assert_eq!(delivery["state"], "delivered", "{}", detail.text);
    assert_eq!(delivery["attempts"], 2);

    // A receiver that keeps failing: attempts up to the limit, then failed with the last error.
    receiver.fail(100, 503);
    target.set(Mode::Healthy);
    check(&app, id).await;
    evaluate(&app).await;
    after_attempts(&[&app], "the resolution's delivery given up", async || {
        let detail = app.get(&format!("/api/v1/alerts/{alert_id}"), &app.admin_token).await;
        (detail.json["deliveries"][1]["state"] == "failed").then_some(())
    })
    .await;
    let detail = app.get(&format!("/api/v1/alerts/{alert_id}"), &app.admin_token).await;
    let delivery = &detail.json["deliveries"][1];
    assert_eq!(delivery["event"], "alert.resolved");
    assert_eq!(delivery["state"], "failed", "{}", detail.text);
    assert_eq!(delivery["attempts"], 4);
    assert!(delivery["last_error"].as_str().is_some_and(|e| e.contains("503")), "{delivery}");
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert!(metrics.text.contains(r#"herald_alert_delivery_attempts_total{outcome="failed"} 1"#), "{}", metrics.text);
    app.stop().await.expect("stop");
}

async fn alerts_are_for_operators_and_filters_are_checked(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (_, member) = app.user_with_token("m@example.com", "member").await;
    let (_, operator) = app.user_with_token("op@example.com", "operator").await;
    assert_eq!(app.get("/api/v1/alerts", &member).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call(Method::GET, "/api/v1/alerts", None, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/alerts", &operator).await.status, StatusCode::OK);
    for (query, field) in [("state=open", "state"), ("severity=loud", "severity"), ("source=disk", "source")] {
        let reply = app.get(&format!("/api/v1/alerts?{query}"), &operator).await;
        assert_eq!(reply.fields(), [field], "{}", reply.text);
    }
    // Conditions observed directly: filters and paging over real rows.
    let cond = |key: &str, severity: &str| herald::alerts::Condition {
        key: key.into(),
        severity: herald::alerts::channels::Severity::parse(severity).expect("a severity"),
        message: format!("{key} is bad"),
        value: Some(0.9),
        threshold: Some(0.8),
    };
    app.state
        .alerts
        .observe(
            "database",
            &[cond("database.a", "warning"), cond("database.b", "critical"), cond("database.c", "warning")],
        )
        .await
        .expect("observe");
    let warnings = alerts(&app, "?severity=warning&source=database").await;
    assert_eq!(warnings.len(), 2);
    assert_eq!(warnings[0]["value"], 0.9);
    assert_eq!(warnings[0]["threshold"], 0.8);
    let page = app.get("/api/v1/alerts?limit=2", &operator).await;
    assert_eq!(page.json["items"].as_array().map(Vec::len), Some(2));
    let cursor = page.json["next_cursor"].as_str().expect("a next page");
    let rest = app.get(&format!("/api/v1/alerts?limit=2&cursor={cursor}"), &operator).await;
    assert_eq!(rest.json["items"].as_array().map(Vec::len), Some(1));
    assert!(rest.json["next_cursor"].is_null());
    assert!(alerts(&app, "?source=service").await.is_empty());
    // Time filters on the firing time.
    let fired_at = warnings[0]["fired_at"].as_str().expect("fired_at").to_string();
    let at = chrono::DateTime::parse_from_rfc3339(&fired_at).expect("time");
    let before = (at - chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let after = (at + chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(alerts(&app, &format!("?from={before}&to={after}")).await.len(), 3);
    assert!(alerts(&app, &format!("?from={after}")).await.is_empty());
    assert!(alerts(&app, &format!("?to={before}")).await.is_empty());
    let bad = app.get("/api/v1/alerts?from=yesterday", &operator).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    // Escalation: the same condition, worse.
    app.state.alerts.observe("database", &[cond("database.a", "critical")]).await.expect("observe");
    let a = alerts(&app, "?severity=critical").await;
    assert_eq!(a.iter().filter(|x| x["key"] == "database.a").count(), 1, "escalated in place: {a:?}");
    app.stop().await.expect("stop");
}
