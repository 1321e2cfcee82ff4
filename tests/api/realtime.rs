//! The WebSocket protocol against the real server: subscribe, replay, live
//! pushes, read-state sync, isolation, bad input, slow consumers, shutdown,
//! and on PostgreSQL delivery across two instances.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::process::Serving;
use crate::harness::ws::{Auth, Ws};
use crate::harness::{Backend, TestApp, both};

both!(
    subscribe_receives_the_real_pending_list,
    subscribe_after_a_cursor_replays_oldest_first,
    new_notifications_are_pushed_live,
    read_state_syncs_between_a_users_sockets,
    sockets_see_only_their_own_user_and_allowed_channels,
    bad_or_missing_authentication_is_refused,
    bad_frames_get_errors_and_the_socket_lives_on,
    slow_consumers_are_closed_and_catch_up_on_reconnect,
    shutdown_closes_sockets_with_going_away,
    silent_peers_are_dropped_and_sockets_per_user_are_limited,
);

async fn create(app: &TestApp, user_id: i64, title: &str) -> Value {
    let r = app
        .post("/api/v1/notifications", &app.admin_token, json!({"user_id": user_id, "type": "message", "title": title}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json
}

fn cursors(list: &Value) -> Vec<i64> {
    list.as_array().expect("array").iter().map(|n| n["cursor"].as_i64().expect("cursor")).collect()
}

async fn subscribe_receives_the_real_pending_list(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    let first = create(&app, uid, "one").await;
    create(&app, uid, "two").await;
    create(&app, uid, "three").await;
    let path = format!("/api/v1/notifications/{}", first["id"]);
    app.call(Method::PATCH, &path, Some(&token), Some(json!({"read": true}))).await;
    let (_ws, subscribed) = Ws::subscribed(&app, &token, None).await;
    let pending = &subscribed["pending"];
    assert_eq!(cursors(pending), vec![2, 3], "unread only, oldest first");
    // Exactly as the REST API renders them.
    let rest = app.get("/api/v1/notifications/pending", &token).await;
    let mut rest_items = rest.json["items"].as_array().unwrap().clone();
    rest_items.reverse();
    assert_eq!(pending.as_array().unwrap(), &rest_items);
    app.stop().await.expect("stop");
}

async fn subscribe_after_a_cursor_replays_oldest_first(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    for i in 1..=5 {
        create(&app, uid, &format!("n{i}")).await;
    }
    app.post("/api/v1/notifications/read-all", &token, json!({"up_to_cursor": 4})).await;
    let (mut ws, subscribed) = Ws::subscribed(&app, &token, Some(2)).await;
    assert_eq!(cursors(&subscribed["pending"]), vec![3, 4, 5], "read ones too: everything after the cursor");
    create(&app, uid, "n6").await;
    assert_eq!(ws.drain_new(Duration::from_millis(500)).await, vec![6]);
    // A cursor from the future is treated as "up to date".
    let (_ws, subscribed) = Ws::subscribed(&app, &token, Some(99)).await;
    assert_eq!(cursors(&subscribed["pending"]), Vec::<i64>::new());
    app.stop().await.expect("stop");
}

async fn new_notifications_are_pushed_live(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    let (mut ws, _) = Ws::subscribed(&app, &token, None).await;
    let started = Instant::now();
    let created = create(&app, uid, "live").await;
    let pushed = ws.recv().await;
    let elapsed = started.elapsed();
    assert_eq!(pushed["type"], "notification:new");
    assert_eq!(pushed["notification"], created, "the same rendering as the API response");
    // Loose: the benchmark measures the real figure; a debug build on a busy machine still makes this.
    assert!(elapsed < Duration::from_secs(1), "pushed after {elapsed:?}");
    // Announcements reach sockets too.
    app.post(
        "/api/v1/announcements",
        &app.admin_token,
        json!({"audience": {"role": "member"}, "type": "system", "title": "all"}),
    )
    .await;
    let announced = ws.recv().await;
    assert_eq!(
        (announced["type"].as_str(), announced["notification"]["cursor"].as_i64()),
        (Some("notification:new"), Some(2))
    );
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.recv().await["type"], "pong");
    app.stop().await.expect("stop");
}

async fn read_state_syncs_between_a_users_sockets(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    let n1 = create(&app, uid, "one").await;
    let n2 = create(&app, uid, "two").await;
    let (mut phone, _) = Ws::subscribed(&app, &token, None).await;
    let (mut laptop, _) = Ws::subscribed(&app, &token, None).await;

    phone.send(json!({"type": "notifications:read", "ids": [n1["id"]]})).await;
    let mut phone_msgs = [phone.recv().await, phone.recv().await];
    phone_msgs.sort_by_key(|m| m["type"].as_str().unwrap_or("").to_string());
    assert_eq!(phone_msgs[0]["type"], "notification:updated");
    assert_eq!(phone_msgs[1], json!({"type": "notifications:read", "updated": 1}));
    let on_laptop = laptop.recv().await;
    assert_eq!(on_laptop["type"], "notification:updated");
    assert_eq!(on_laptop["notification"]["id"], n1["id"]);
    assert!(on_laptop["notification"]["read_at"].is_string());

    // A change through the REST API reaches both too.
    let path = format!("/api/v1/notifications/{}", n1["id"]);
    app.call(Method::PATCH, &path, Some(&token), Some(json!({"read": false}))).await;
    for ws in [&mut phone, &mut laptop] {
        let m = ws.recv().await;
        assert_eq!(m["type"], "notification:updated");
        assert!(m["notification"]["read_at"].is_null());
    }
    laptop.send(json!({"type": "notifications:read", "up_to_cursor": 2})).await;
    let on_phone = [phone.recv().await, phone.recv().await];
    assert!(on_phone.iter().all(|m| m["type"] == "notification:updated" && m["notification"]["read_at"].is_string()));
    let path = format!("/api/v1/notifications/{}", n2["id"]);
    app.call(Method::DELETE, &path, Some(&token), None).await;
    let mut deleted = phone.recv().await;
    while deleted["type"] != "notification:deleted" {
        deleted = phone.recv().await;
    }
    assert_eq!(deleted["id"], n2["id"]);
    app.stop().await.expect("stop");
}

async fn sockets_see_only_their_own_user_and_allowed_channels(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (alice_id, alice) = app.user_with_token("alice@example.com", "member").await;
    let (_, bob) = app.user_with_token("bob@example.com", "member").await;
    let (_, operator) = app.user_with_token("ops@example.com", "operator").await;
    let (mut alice_ws, _) = Ws::subscribed(&app, &alice, None).await;
    let (mut bob_ws, _) = Ws::subscribed(&app, &bob, None).await;
    create(&app, alice_id, "for alice").await;
    assert_eq!(alice_ws.recv().await["notification"]["title"], "for alice");
    assert!(bob_ws.recv_within(Duration::from_millis(400)).await.is_none(), "bob hears nothing of alice");
    // Reading someone else's notification over the socket changes nothing.
    bob_ws.send(json!({"type": "notifications:read", "ids": [1, 2, 3]})).await;
    assert_eq!(bob_ws.recv().await, json!({"type": "notifications:read", "updated": 0}));
    assert!(alice_ws.recv_within(Duration::from_millis(300)).await.is_none());

    bob_ws.send(json!({"type": "channels:subscribe", "channel": "services"})).await;
    assert_eq!(bob_ws.recv().await["code"], "forbidden");
    let (mut ops_ws, _) = Ws::subscribed(&app, &operator, None).await;
    ops_ws.send(json!({"type": "channels:subscribe", "channel": "incidents"})).await;
    assert_eq!(ops_ws.recv().await["type"], "channels:subscribed");
    ops_ws.send(json!({"type": "channels:subscribe", "channel": "secrets"})).await;
    assert_eq!(ops_ws.recv().await["code"], "unknown_channel");
    app.state.realtime.bus.channel("incidents", json!({"type": "incident:opened", "incident": {"id": 1}}).to_string());
    assert_eq!(ops_ws.recv().await["type"], "incident:opened");
    assert!(bob_ws.recv_within(Duration::from_millis(300)).await.is_none());
    assert!(alice_ws.recv_within(Duration::from_millis(100)).await.is_none());

    // A sender's token writes to inboxes and reads none, here as over HTTP.
    let (_, sender) = app.user_with_token("app@example.com", "sender").await;
    let mut app_ws = Ws::connect(&app, crate::harness::ws::Auth::Header(&sender)).await;
    assert_eq!(app_ws.recv().await["type"], "authenticated");
    for message in [json!({"type": "notifications:subscribe"}), json!({"type": "notifications:read", "ids": [1]})] {
        app_ws.send(message).await;
        assert_eq!(app_ws.recv().await["code"], "forbidden");
    }
    app_ws.send(json!({"type": "channels:subscribe", "channel": "services"})).await;
    assert_eq!(app_ws.recv().await["code"], "forbidden");
    app.stop().await.expect("stop");
}

async fn bad_or_missing_authentication_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.realtime.auth_timeout_seconds = 1).await else { return };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    // A bad token on the upgrade request: 401 problem, no socket.
    let refused = app
        .client
        .get(app.url("/api/v1/ws"))
        .bearer_auth("hld_wrong")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // No token and no auth message: closed with a policy violation.
    let mut silent = Ws::connect(&app, Auth::None).await;
    let close = silent.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("authentication"), "{close:?}");
    // A wrong first message, or a wrong token in it: same.
    let mut wrong = Ws::connect(&app, Auth::None).await;
    wrong.send(json!({"type": "notifications:subscribe"})).await;
    assert_eq!(u16::from(wrong.closed().await.expect("close").code), 1008);
    let mut forged = Ws::connect(&app, Auth::None).await;
    forged.send(json!({"type": "auth", "token": "hld_forged"})).await;
    assert_eq!(u16::from(forged.closed().await.expect("close").code), 1008);
    // The browser ways work: a first auth message, or the token query parameter.
    let mut browser = Ws::connect(&app, Auth::None).await;
    browser.send(json!({"type": "auth", "token": token})).await;
    assert_eq!(browser.recv().await, json!({"type": "authenticated", "user_id": uid}));
    let mut query = Ws::connect(&app, Auth::Query(&token)).await;
    assert_eq!(query.recv().await["type"], "authenticated");
    app.stop().await.expect("stop");
}

async fn bad_frames_get_errors_and_the_socket_lives_on(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.realtime.max_message_bytes = 1024).await else { return };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    let (mut ws, _) = Ws::subscribed(&app, &token, None).await;
    ws.send_raw(Message::Text("{not json".into())).await;
    assert_eq!(ws.recv().await["code"], "bad_message");
    ws.send(json!({"type": "teleport"})).await;
    assert_eq!(ws.recv().await["code"], "bad_message");
    ws.send(json!({"type": "ping", "padding": "x".repeat(2000)})).await;
    assert_eq!(ws.recv().await["code"], "message_too_large");
    ws.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(ws.recv().await["code"], "unsupported");
    ws.send(json!({"type": "notifications:read"})).await;
    assert_eq!(ws.recv().await["code"], "bad_message");
    // Still alive, still subscribed.
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.recv().await["type"], "pong");
    create(&app, uid, "still here").await;
    assert_eq!(ws.recv().await["type"], "notification:new");
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.status, StatusCode::OK);
    app.stop().await.expect("stop");
}

async fn slow_consumers_are_closed_and_catch_up_on_reconnect(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.realtime.send_queue = 4;
        c.realtime.write_timeout_seconds = 60;
    })
    .await
    else {
        return;
    };
    let (uid, token) = app.user_with_token("m@example.com", "member").await;
    // A reader with a tiny receive window that does not read.
    let mut slow = Ws::connect_with(&app, Auth::Header(&token), Some(4096)).await;
    slow.send(json!({"type": "notifications:subscribe"})).await;
    // 8 MB for a reader that reads nothing: more than the kernel buffers
    // (at most 4 MB to send on this machine) and a queue of 4 can absorb.
    let body = "z".repeat(10_000);
    let created = 800;
    for i in 1..=created {
        let r = app
            .post(
                "/api/v1/notifications",
                &app.admin_token,
                json!({"user_id": uid, "type": "bulk", "title": format!("b{i}"), "body": body}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // Now read: what was already sent, then the close.
    let mut received = Vec::new();
    let close = loop {
        match slow.recv_frame().await {
            Some(Message::Text(text)) => {
                let m: Value = serde_json::from_str(text.as_str()).unwrap();
                if m["type"] == "notification:new" {
                    received.push(m["notification"]["cursor"].as_i64().unwrap());
                }
            }
            Some(Message::Close(frame)) => break frame.expect("close frame"),
            Some(_) => {}
            None => panic!("connection ended without a close frame"),
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("slow consumer"), "{close:?}");
    assert!((received.len() as i64) < created, "the slow socket was cut off, not fed forever");
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert!(metrics.text.contains(r#"herald_ws_closed_total{reason="slow_consumer"} 1"#), "{}", metrics.text);
    // Reconnecting with the last cursor it has gives the rest, exactly once, in order.
    let last = received.last().copied().unwrap_or(0);
    let (mut again, subscribed) = Ws::subscribed(&app, &token, Some(last)).await;
    let mut caught = cursors(&subscribed["pending"]);
    caught.extend(again.drain_new(Duration::from_millis(500)).await);
    assert_eq!(caught, ((last + 1)..=created).collect::<Vec<i64>>());
    app.stop().await.expect("stop");
}

async fn shutdown_closes_sockets_with_going_away(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (_, token) = app.user_with_token("m@example.com", "member").await;
    let (mut ws, _) = Ws::subscribed(&app, &token, None).await;
    app.shutdown.cancel();
    let close = ws.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), 1001);
    tokio::time::timeout(Duration::from_secs(10), app.handle).await.expect("stops").expect("join").expect("clean");
}

async fn silent_peers_are_dropped_and_sockets_per_user_are_limited(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.realtime.ping_interval_seconds = 1;
        c.realtime.idle_timeout_seconds = 2;
        c.realtime.max_sockets_per_user = 2;
    })
    .await
    else {
        return;
    };
    let (_, token) = app.user_with_token("m@example.com", "member").await;
    // A peer that never reads never answers the server's pings.
    let _silent = Ws::connect(&app, Auth::Header(&token)).await;
    let dropped = r#"herald_ws_closed_total{reason="idle_timeout"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.call(Method::GET, "/metrics", None, None).await.text.contains(dropped) {
        assert!(Instant::now() < deadline, "the silent socket was not dropped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A peer that reads answers pings and stays.
    let (mut alive, _) = Ws::subscribed(&app, &token, None).await;
    assert!(alive.recv_within(Duration::from_secs(3)).await.is_none(), "nothing but pings for 3 s");
    alive.send(json!({"type": "ping"})).await;
    assert_eq!(alive.recv().await["type"], "pong", "still open past the idle timeout");
    // Two sockets per user here: a third is refused.
    let _second = Ws::subscribed(&app, &token, None).await;
    let mut third = Ws::connect(&app, Auth::Header(&token)).await;
    let close = third.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("too many sockets"), "{close:?}");
    app.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_notification_created_on_one_instance_reaches_a_socket_on_another() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.peer().await;
    let (uid, token) = a.user_with_token("m@example.com", "member").await;
    let (mut on_b, _) = Ws::subscribed(&b, &token, None).await;
    let created = create(&a, uid, "from A").await;
    let pushed = on_b.recv().await;
    assert_eq!(pushed["notification"], created);
    // Read state changed on A reaches B as well.
    let path = format!("/api/v1/notifications/{}", created["id"]);
    a.call(Method::PATCH, &path, Some(&token), Some(json!({"read": true}))).await;
    assert_eq!(on_b.recv().await["type"], "notification:updated");
    b.stop().await.expect("stop b");
    a.stop().await.expect("stop a");
}

/// A batch of channel messages (the statuses one batch of check results
/// changed) is one NOTIFY round trip and reaches another instance whole and
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_of_channel_messages_reaches_another_instance_in_order() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.peer().await;
    let (_, operator) = a.user_with_token("ops@example.com", "operator").await;
    let (mut on_b, _) = Ws::subscribed(&b, &operator, None).await;
    on_b.send(json!({"type": "channels:subscribe", "channel": "services"})).await;
    assert_eq!(on_b.recv().await["type"], "channels:subscribed");
    let batch: Vec<String> =
        (1..=5).map(|id| json!({"type": "service:status", "service": {"id": id}}).to_string()).collect();
    a.state.realtime.bus.channel_many("services", batch);
    for id in 1..=5 {
        let m = on_b.recv().await;
        assert_eq!((m["type"].as_str(), m["service"]["id"].as_i64()), (Some("service:status"), Some(id)), "{m}");
    }
    assert!(on_b.recv_within(Duration::from_millis(300)).await.is_none(), "each message once");
    b.stop().await.expect("stop b");
    a.stop().await.expect("stop a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_reconnecting_socket_gets_everything_missed_on_both_instances_once() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.peer().await;
    let (uid, token) = a.user_with_token("m@example.com", "member").await;
    create(&a, uid, "seen").await;
    let (ws, subscribed) = Ws::subscribed(&b, &token, Some(0)).await;
    let last = cursors(&subscribed["pending"]).last().copied().unwrap();
    drop(ws);
    // While it is away, both instances create notifications, some concurrently.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (client, url, admin) = if i % 2 == 0 {
            (a.client.clone(), a.url("/api/v1/notifications"), a.admin_token.clone())
        } else {
            (b.client.clone(), b.url("/api/v1/notifications"), b.admin_token.clone())
        };
        tasks.push(tokio::spawn(async move {
            let body = json!({"user_id": uid, "type": "message", "title": format!("away {i}")});
            client.post(url).bearer_auth(admin).json(&body).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let (mut back, subscribed) = Ws::subscribed(&a, &token, Some(last)).await;
    let mut got = cursors(&subscribed["pending"]);
    got.extend(back.drain_new(Duration::from_millis(500)).await);
    assert_eq!(got, ((last + 1)..=(last + 10)).collect::<Vec<i64>>(), "all, once, in order");
    b.stop().await.expect("stop b");
    a.stop().await.expect("stop a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listener_reconnects_and_its_sockets_catch_up() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.peer().await;
    let (uid, token) = a.user_with_token("m@example.com", "member").await;
    let (mut on_b, _) = Ws::subscribed(&b, &token, None).await;
    let herald::storage::Pool::Postgres(pool) = a.db.pool() else { unreachable!("postgres") };
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.unwrap();
    // Cut every LISTEN connection (both instances' listeners), as a database restart would.
    let cluster = testkit::PgCluster::shared().expect("cluster");
    let killed = cluster
        .psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND query ILIKE 'LISTEN%'"
            ),
        )
        .unwrap();
    assert!(killed.trim().parse::<u32>().unwrap() >= 1, "listeners terminated: {killed}");
    // Created right away, possibly before B listens again: it must still arrive.
    for i in 1..=3 {
        create(&a, uid, &format!("during outage {i}")).await;
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 3 && Instant::now() < deadline {
        got.extend(on_b.drain_new(Duration::from_millis(300)).await);
    }
    assert_eq!(got, vec![1, 2, 3]);
    b.stop().await.expect("stop b");
    a.stop().await.expect("stop a");
}

/// Instance A as a real process on B's database, holding its announcements
/// for a minute, so that it can be killed after a commit and before the
/// batch that would have told B.
fn holding_writer(b: &TestApp, dir: &std::path::Path) -> Serving {
    let url = b.config.database_url.as_ref().expect("postgres").expose().to_string();
    Serving::start(
        dir,
        &[
            ("HERALD_DATABASE_URL", &url),
            ("HERALD_MONITORING__SCHEDULER", "false"),
            ("HERALD_REALTIME__ANNOUNCE_BATCH_MS", "60000"),
        ],
    )
}

/// Create through the child process; the 201 means the row has committed.
async fn create_on(a: &Serving, b: &TestApp, user_id: i64, title: &str) -> Value {
    let body = json!({"user_id": user_id, "type": "message", "title": title});
    let r = b.client.post(a.url("/api/v1/notifications")).bearer_auth(&b.admin_token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// The writer dies between commit and announcement: B's sweep finds the
/// user behind the database, and the socket gets the notification once,
/// within the documented bound (one `realtime.sweep_interval_seconds`,
/// plus the time to load it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_notification_whose_writer_crashed_before_announcing_it_arrives_by_the_sweep() {
    const SWEEP: Duration = Duration::from_secs(1);
    let Some(b) = TestApp::spawn_with(Backend::Postgres, |c| c.realtime.sweep_interval_seconds = SWEEP.as_secs()).await
    else {
        return;
    };
    let (uid, token) = b.user_with_token("m@example.com", "member").await;
    let (mut on_b, _) = Ws::subscribed(&b, &token, None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = holding_writer(&b, dir.path());
    let created = create_on(&a, &b, uid, "committed, never announced").await;
    a.crash();
    let crashed = Instant::now();
    let pushed = on_b.recv_within(SWEEP + Duration::from_secs(1)).await.expect("delivered within the bound");
    assert_eq!(pushed["type"], "notification:new");
    assert_eq!(pushed["notification"], created);
    assert!(crashed.elapsed() <= SWEEP + Duration::from_secs(1), "{:?}", crashed.elapsed());
    assert!(on_b.recv_within(SWEEP * 2).await.is_none(), "once, and not again at the next sweep");
    b.stop().await.expect("stop b");
}

/// The same crash, then a notification through B for the same user: the
/// socket sees the cursor jump and fetches the gap at once, in order,
/// long before the (here hour-long) sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_notification_whose_writer_crashed_arrives_with_the_next_one_by_the_gap_fetch() {
    let Some(b) = TestApp::spawn_with(Backend::Postgres, |c| c.realtime.sweep_interval_seconds = 3600).await else {
        return;
    };
    let (uid, token) = b.user_with_token("m@example.com", "member").await;
    let (mut on_b, _) = Ws::subscribed(&b, &token, None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = holding_writer(&b, dir.path());
    let lost = create_on(&a, &b, uid, "committed, never announced").await;
    a.crash();
    assert!(on_b.recv_within(Duration::from_millis(300)).await.is_none(), "nobody told B yet");
    let next = create(&b, uid, "through B").await;
    let first = on_b.recv().await;
    let second = on_b.recv().await;
    assert_eq!((first["notification"].clone(), second["notification"].clone()), (lost, next));
    b.stop().await.expect("stop b");
}
