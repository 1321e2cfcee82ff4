//! The notification inbox, announcements and external users, on both backends.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use futures_util_free::join_all;
use herald::on_pool;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestApp, both};

both!(
    senders_create_and_members_read_their_inbox,
    idempotent_retries_create_once,
    announcements_are_all_or_nothing,
    expired_notifications_are_hidden_then_cleaned,
    pages_have_no_duplicates_or_gaps_while_new_ones_arrive,
    cursors_are_gapless_under_concurrent_creates,
    other_users_notifications_answer_404_everywhere,
    stats_match_the_rows,
    invalid_notifications_name_the_field,
    read_state_and_read_all_up_to_a_cursor,
    applications_bring_users_and_mint_their_tokens,
);

/// A few lines of `futures::join_all` without the dependency.
mod futures_util_free {
    pub async fn join_all<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.expect("task"));
        }
        out
    }
}

async fn notify(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/api/v1/notifications", token, body).await
}

fn items(reply: &Reply) -> Vec<Value> {
    reply.json["items"].as_array().cloned().unwrap_or_else(|| panic!("a list: {}", reply.text))
}

fn cursors(reply: &Reply) -> Vec<i64> {
    items(reply).iter().map(|n| n["cursor"].as_i64().unwrap()).collect()
}

/// Rows in a table, straight from the database.
async fn count(app: &TestApp, sql: &str) -> i64 {
    let db = app.db.clone();
    on_pool!(db, |p| sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap())
}

async fn senders_create_and_members_read_their_inbox(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (_, sender) = app.user_with_token("app@example.com", "sender").await;
    let (alice_id, alice) = app.user_with_token("alice@example.com", "member").await;
    let put = app
        .call(Method::PUT, "/api/v1/users/external/ext-bob", Some(&sender), Some(json!({"display_name": "Bob"})))
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text);

    let expires = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = notify(
        &app,
        &sender,
        json!({"user_id": alice_id, "type": "message", "priority": 4, "title": "Hi", "body": "Hello Alice",
               "data": {"link": "/x"}, "expires_at": expires}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let n = &created.json;
    for key in
        ["id", "user_id", "cursor", "type", "priority", "title", "body", "data", "created_at", "read_at", "expires_at"]
    {
        assert!(n.get(key).is_some(), "wire name {key} missing: {n}");
    }
    assert_eq!(
        (n["user_id"].as_i64(), n["cursor"].as_i64(), n["type"].as_str()),
        (Some(alice_id), Some(1), Some("message"))
    );
    assert_eq!(n["priority"], 4);
    assert!(n["read_at"].is_null());
    assert_eq!(n["data"]["link"], "/x");
    let by_external =
        notify(&app, &sender, json!({"external_id": "ext-bob", "type": "system", "title": "Welcome"})).await;
    assert_eq!(by_external.status, StatusCode::CREATED, "{}", by_external.text);
    assert_eq!(by_external.json["priority"], 3, "default priority");

    let inbox = app.get("/api/v1/notifications", &alice).await;
    assert_eq!(items(&inbox).len(), 1);
    assert_eq!(&items(&inbox)[0], n, "a listed notification renders exactly as the created one");
    assert!(inbox.json["next_cursor"].is_null());
    let one = app.get(&format!("/api/v1/notifications/{}", n["id"]), &alice).await;
    assert_eq!(one.json["title"], "Hi");
    let pending = app.get("/api/v1/notifications/pending", &alice).await;
    assert_eq!(items(&pending).len(), 1);
    // Members may not create notifications or announcements.
    notify(&app, &alice, json!({"user_id": alice_id, "type": "x", "title": "t"})).await.problem(StatusCode::FORBIDDEN);
    app.post("/api/v1/announcements", &alice, json!({"audience": {"all": true}, "type": "x", "title": "t"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    app.stop().await.expect("stop");
}

async fn idempotent_retries_create_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, member) = app.user_with_token("m@example.com", "member").await;
    let body = json!({"user_id": uid, "type": "message", "title": "Once", "idempotency_key": "order-1"});
    let first = notify(&app, &app.admin_token, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = notify(&app, &app.admin_token, body).await;
    assert_eq!(again.status, StatusCode::OK, "a retry answers 200 with the first result");
    assert_eq!(again.json["id"], first.json["id"]);

    // Concurrent retries with a fresh key: one creates, all see the same notification.
    let mut handles = Vec::new();
    for _ in 0..12 {
        let client = app.client.clone();
        let url = app.url("/api/v1/notifications");
        let token = app.admin_token.clone();
        handles.push(tokio::spawn(async move {
            let body = json!({"user_id": uid, "type": "message", "title": "Race", "idempotency_key": "order-2"});
            Reply::from(client.post(url).bearer_auth(token).json(&body).send().await.unwrap()).await
        }));
    }
    let replies = join_all(handles).await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{:?}", replies.iter().map(|r| (r.status, r.text.clone())).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.status.is_success() && r.json["id"] == replies[0].json["id"]));
    let keyed = count(&app, "SELECT count(*) FROM notification WHERE idempotency_key = 'order-2'").await;
    assert_eq!(keyed, 1);
    // Lost races consumed no cursor: the next notification is number 3.
    let next = notify(&app, &app.admin_token, json!({"user_id": uid, "type": "message", "title": "After"})).await;
    assert_eq!(next.json["cursor"], 3, "{}", next.text);
    assert_eq!(cursors(&app.get("/api/v1/notifications", &member).await), vec![3, 2, 1]);

    // The same key for announcements.
    let ann = json!({"audience": {"role": "member"}, "type": "system", "title": "Maint", "idempotency_key": "a-1"});
    let a1 = app.post("/api/v1/announcements", &app.admin_token, ann.clone()).await;
    assert_eq!(a1.status, StatusCode::CREATED, "{}", a1.text);
    let a2 = app.post("/api/v1/announcements", &app.admin_token, ann).await;
    assert_eq!(a2.status, StatusCode::OK);
    assert_eq!(a2.json, a1.json);
    assert_eq!(count(&app, "SELECT count(*) FROM announcement").await, 1);
    app.stop().await.expect("stop");
}

async fn announcements_are_all_or_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(app.user_with_token(&format!("m{i}@example.com"), "member").await);
    }
    let (_, operator) = app.user_with_token("ops@example.com", "operator").await;
    let seqs = "SELECT CAST(COALESCE(SUM(notification_seq), 0) AS BIGINT) FROM user_account";

    // An unknown recipient in an explicit list: refused by name, nothing written.
    let ids: Vec<i64> = members.iter().map(|m| m.0).chain([987_654]).collect();
    let refused = app
        .post(
            "/api/v1/announcements",
            &app.admin_token,
            json!({"audience": {"user_ids": ids}, "type": "system", "title": "T"}),
        )
        .await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains("987654"), "{}", refused.text);
    let refused = app
        .post(
            "/api/v1/announcements",
            &app.admin_token,
            json!({"audience": {"external_ids": ["nope-1"]}, "type": "system", "title": "T"}),
        )
        .await;
    assert!(refused.text.contains("nope-1"), "{}", refused.text);

    // One recipient fails inside the database, mid fan-out: everything rolls back.
    let victim = members[3].0;
    let trigger = match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON notification WHEN NEW.user_id = {victim} \
             BEGIN SELECT RAISE(ABORT, 'recipient refused'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.user_id = {victim} THEN RAISE EXCEPTION 'recipient refused'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_one BEFORE INSERT ON notification FOR EACH ROW EXECUTE FUNCTION refuse_one();"
        ),
    };
    let db = app.db.clone();
    on_pool!(db, |p| sqlx::raw_sql(&trigger).execute(p).await.map(|_| ()).unwrap());
    let failed = app
        .post(
            "/api/v1/announcements",
            &app.admin_token,
            json!({"audience": {"all": true}, "type": "system", "title": "T"}),
        )
        .await;
    failed.problem(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!failed.text.contains("refused"), "database text stays in the log: {}", failed.text);
    assert_eq!(count(&app, "SELECT count(*) FROM notification").await, 0, "no recipient got it");
    assert_eq!(count(&app, "SELECT count(*) FROM announcement").await, 0, "no announcement recorded");
    assert_eq!(count(&app, seqs).await, 0, "no cursor consumed");

    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_one",
        Backend::Postgres => "DROP TRIGGER refuse_one ON notification; DROP FUNCTION refuse_one()",
    };
    on_pool!(db, |p| sqlx::raw_sql(drop).execute(p).await.map(|_| ()).unwrap());
    let sent = app
        .post(
            "/api/v1/announcements",
            &app.admin_token,
            json!({"audience": {"role": "member"}, "type": "system", "title": "Up"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    assert_eq!(sent.json["recipients"], 5);
    for (_, token) in &members {
        let inbox = app.get("/api/v1/notifications", token).await;
        assert_eq!(items(&inbox).len(), 1);
        assert_eq!(items(&inbox)[0]["cursor"], 1);
    }
    assert!(items(&app.get("/api/v1/notifications", &operator).await).is_empty(), "role audience only");
    let everyone = app
        .post(
            "/api/v1/announcements",
            &app.admin_token,
            json!({"audience": {"all": true}, "type": "system", "title": "All"}),
        )
        .await;
    assert_eq!(everyone.json["recipients"], 7, "admin + operator + 5 members");
    let recorded = count(&app, "SELECT CAST(SUM(recipients) AS BIGINT) FROM announcement").await;
    assert_eq!(recorded, 12);
    let bad = app
        .post(
            "/api/v1/announcements",
            &app.admin_token,
            json!({"audience": {"all": true, "role": "member"}, "type": "x", "title": "t"}),
        )
        .await;
    assert_eq!(bad.fields(), vec!["audience"]);
    app.stop().await.expect("stop");
}

async fn expired_notifications_are_hidden_then_cleaned(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, member) = app.user_with_token("m@example.com", "member").await;
    let soon = (Utc::now() + chrono::Duration::milliseconds(1200)).to_rfc3339();
    let n = notify(&app, &app.admin_token, json!({"user_id": uid, "type": "otp", "title": "Code", "expires_at": soon}))
        .await;
    assert_eq!(n.status, StatusCode::CREATED, "{}", n.text);
    let id = n.json["id"].as_i64().unwrap();
    notify(&app, &app.admin_token, json!({"user_id": uid, "type": "message", "title": "Keep"})).await;
    let old =
        notify(&app, &app.admin_token, json!({"user_id": uid, "type": "message", "title": "Read long ago"})).await;
    assert_eq!(items(&app.get("/api/v1/notifications", &member).await).len(), 3);
    // herald's clock past the expiry, instead of waiting it out.
    app.shift.advance(Duration::from_millis(1300));

    // Hidden from every read at once, before any cleanup ran.
    let list = app.get("/api/v1/notifications", &member).await;
    assert!(items(&list).iter().all(|n| n["id"] != id));
    assert_eq!(items(&app.get("/api/v1/notifications/pending", &member).await).len(), 2);
    app.get(&format!("/api/v1/notifications/{id}"), &member).await.problem(StatusCode::NOT_FOUND);
    let patch = app
        .call(Method::PATCH, &format!("/api/v1/notifications/{id}"), Some(&member), Some(json!({"read": true})))
        .await;
    patch.problem(StatusCode::NOT_FOUND);
    let stats = app.get("/api/v1/notifications/stats", &member).await;
    assert_eq!(stats.json["total"], 2);
    assert!(stats.json["by_type"].get("otp").is_none());
    assert_eq!(count(&app, "SELECT count(*) FROM notification").await, 3, "still stored until cleanup");

    // Cleanup deletes it (in batches), and purges read ones past the retention.
    let old_id = old.json["id"].as_i64().unwrap();
    app.call(Method::PATCH, &format!("/api/v1/notifications/{old_id}"), Some(&member), Some(json!({"read": true})))
        .await;
    let service = &app.state.notifications;
    let cleaned = service.cleanup_once(chrono::Duration::days(90), 1).await.expect("cleanup");
    assert_eq!((cleaned.expired, cleaned.read), (1, 0), "read yesterday is within 90 days");
    let cleaned = service.cleanup_once(chrono::Duration::zero(), 1).await.expect("cleanup");
    assert_eq!((cleaned.expired, cleaned.read), (0, 1));
    assert_eq!(count(&app, "SELECT count(*) FROM notification").await, 1);
    // The app's own job counts into /metrics.
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert!(metrics.text.contains("herald_notifications_expired_deleted_total"), "{}", metrics.text);
    app.stop().await.expect("stop");
}

async fn pages_have_no_duplicates_or_gaps_while_new_ones_arrive(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, member) = app.user_with_token("m@example.com", "member").await;
    let create =
        |title: String| notify(&app, &app.admin_token, json!({"user_id": uid, "type": "message", "title": title}));
    for i in 1..=25 {
        assert_eq!(create(format!("n{i}")).await.status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/notifications?limit=10".to_string();
    let mut extra = 100;
    loop {
        let page = app.get(&path, &member).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(cursors(&page));
        // New notifications arrive between page reads.
        for _ in 0..3 {
            extra += 1;
            create(format!("late{extra}")).await;
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/notifications?limit=10&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<i64>>(), "the original 25, newest first, each once");

    // Catch-up after a cursor: oldest first, every later one exactly once, across pages.
    let mut caught = Vec::new();
    let mut path = "/api/v1/notifications?after=20&limit=7".to_string();
    loop {
        let page = app.get(&path, &member).await;
        caught.extend(cursors(&page));
        match page.json["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/notifications?limit=7&cursor={c}"),
            None => break,
        }
    }
    let total = count(&app, "SELECT count(*) FROM notification").await;
    assert_eq!(caught, (21..=total).collect::<Vec<i64>>());
    let unread_only = app.get("/api/v1/notifications?unread=true&type=message&limit=200", &member).await;
    assert_eq!(items(&unread_only).len() as i64, total);
    assert_eq!(app.get("/api/v1/notifications?cursor=bogus", &member).await.fields(), vec!["cursor"]);
    app.stop().await.expect("stop");
}

async fn cursors_are_gapless_under_concurrent_creates(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (a, token_a) = app.user_with_token("a@example.com", "member").await;
    let (b, token_b) = app.user_with_token("b@example.com", "member").await;
    let mut handles = Vec::new();
    for i in 0..60 {
        let client = app.client.clone();
        let url = app.url("/api/v1/notifications");
        let token = app.admin_token.clone();
        let user = if i % 3 == 0 { b } else { a };
        handles.push(tokio::spawn(async move {
            let body = json!({"user_id": user, "type": "message", "title": format!("c{i}")});
            client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status()
        }));
    }
    assert!(join_all(handles).await.iter().all(|s| *s == StatusCode::CREATED));
    for (token, expected) in [(&token_a, 40), (&token_b, 20)] {
        let list = app.get("/api/v1/notifications?limit=200", token).await;
        let got: BTreeSet<i64> = cursors(&list).into_iter().collect();
        assert_eq!(got, (1..=expected).collect::<BTreeSet<i64>>(), "gapless and unique");
    }
    app.stop().await.expect("stop");
}

async fn other_users_notifications_answer_404_everywhere(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (alice_id, alice) = app.user_with_token("alice@example.com", "member").await;
    let (_, bob) = app.user_with_token("bob@example.com", "member").await;
    let (_, sender) = app.user_with_token("app@example.com", "sender").await;
    let n = notify(&app, &sender, json!({"user_id": alice_id, "type": "message", "title": "Private"})).await;
    let id = n.json["id"].as_i64().unwrap();
    let path = format!("/api/v1/notifications/{id}");
    // A sender is an application: it writes to inboxes and reads none.
    app.get(&path, &sender).await.problem(StatusCode::FORBIDDEN);
    app.get("/api/v1/notifications", &sender).await.problem(StatusCode::FORBIDDEN);
    app.call(Method::DELETE, &path, Some(&sender), None).await.problem(StatusCode::FORBIDDEN);
    for token in [&bob, &app.admin_token] {
        app.get(&path, token).await.problem(StatusCode::NOT_FOUND);
        let patch = app.call(Method::PATCH, &path, Some(token), Some(json!({"read": true}))).await;
        patch.problem(StatusCode::NOT_FOUND);
        app.call(Method::DELETE, &path, Some(token), None).await.problem(StatusCode::NOT_FOUND);
        assert!(items(&app.get("/api/v1/notifications", token).await).is_empty());
        assert!(items(&app.get("/api/v1/notifications/pending", token).await).is_empty());
        assert!(items(&app.get("/api/v1/notifications?after=0", token).await).is_empty());
        assert_eq!(app.get("/api/v1/notifications/stats", token).await.json["total"], 0);
        let all = app.call(Method::POST, "/api/v1/notifications/read-all", Some(token), None).await;
        assert_eq!(all.json["updated"], 0);
    }
    let mine = app.get(&path, &alice).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.json["read_at"].is_null(), "nobody else changed it");
    assert_eq!(app.call(Method::DELETE, &path, Some(&alice), None).await.status, StatusCode::NO_CONTENT);
    app.get(&path, &alice).await.problem(StatusCode::NOT_FOUND);
    app.stop().await.expect("stop");
}

async fn stats_match_the_rows(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, member) = app.user_with_token("m@example.com", "member").await;
    for (kind, n) in [("alert", 3), ("message", 5), ("system", 2)] {
        for i in 0..n {
            notify(&app, &app.admin_token, json!({"user_id": uid, "type": kind, "title": format!("{kind}{i}")})).await;
        }
    }
    let list = items(&app.get("/api/v1/notifications?limit=200", &member).await);
    for n in list
        .iter()
        .filter(|n| n["type"] == "message")
        .take(2)
        .chain(list.iter().filter(|n| n["type"] == "alert").take(1))
    {
        let r = app
            .call(
                Method::PATCH,
                &format!("/api/v1/notifications/{}", n["id"]),
                Some(&member),
                Some(json!({"read": true})),
            )
            .await;
        assert!(r.json["read_at"].is_string());
    }
    let stats = app.get("/api/v1/notifications/stats", &member).await.json;
    let rows = items(&app.get("/api/v1/notifications?limit=200", &member).await);
    let total = rows.len() as i64;
    let unread = rows.iter().filter(|n| n["read_at"].is_null()).count() as i64;
    assert_eq!((stats["total"].as_i64(), stats["unread"].as_i64()), (Some(total), Some(unread)));
    assert_eq!((total, unread), (10, 7));
    for kind in ["alert", "message", "system"] {
        let of_kind: Vec<&Value> = rows.iter().filter(|n| n["type"] == kind).collect();
        let t = &stats["by_type"][kind];
        assert_eq!(t["total"].as_i64(), Some(of_kind.len() as i64), "{kind}: {stats}");
        assert_eq!(t["unread"].as_i64(), Some(of_kind.iter().filter(|n| n["read_at"].is_null()).count() as i64));
    }
    app.stop().await.expect("stop");
}

async fn invalid_notifications_name_the_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, _) = app.user_with_token("m@example.com", "member").await;
    let base = json!({"user_id": uid, "type": "message", "title": "ok"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    for (body, field) in [
        (with("title", json!("x".repeat(201))), "title"),
        (with("title", json!("")), "title"),
        (with("body", json!("y".repeat(10_001))), "body"),
        (with("type", json!("Not Valid")), "type"),
        (with("priority", json!(9)), "priority"),
        (with("priority", json!(0)), "priority"),
        (with("data", json!([1, 2])), "data"),
        (with("data", json!({"big": "z".repeat(17 * 1024)})), "data"),
        (with("expires_at", json!(past)), "expires_at"),
        (with("expires_at", json!("tomorrow")), "expires_at"),
        (with("user_id", json!(987_654)), "user_id"),
        (with("external_id", json!("x")), "user_id"),
        (json!({"external_id": "nobody", "type": "message", "title": "t"}), "external_id"),
        (json!({"type": "message", "title": "t"}), "user_id"),
        (with("idempotency_key", json!("")), "idempotency_key"),
        (with("colour", json!("red")), "colour"),
    ] {
        let r = notify(&app, &app.admin_token, body.clone()).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), vec![field.to_string()], "{body}: {}", r.text);
    }
    assert_eq!(count(&app, "SELECT count(*) FROM notification").await, 0);
    app.stop().await.expect("stop");
}

async fn read_state_and_read_all_up_to_a_cursor(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (uid, member) = app.user_with_token("m@example.com", "member").await;
    let mut ids = Vec::new();
    for i in 1..=6 {
        let n =
            notify(&app, &app.admin_token, json!({"user_id": uid, "type": "message", "title": format!("n{i}")})).await;
        ids.push(n.json["id"].as_i64().unwrap());
    }
    let path = format!("/api/v1/notifications/{}", ids[0]);
    let read = app.call(Method::PATCH, &path, Some(&member), Some(json!({"read": true}))).await;
    let first_read = read.json["read_at"].as_str().unwrap().to_string();
    let again = app.call(Method::PATCH, &path, Some(&member), Some(json!({"read": true}))).await;
    assert_eq!(again.json["read_at"], first_read.as_str(), "re-reading keeps the first read time");
    let unread = app.call(Method::PATCH, &path, Some(&member), Some(json!({"read": false}))).await;
    assert!(unread.json["read_at"].is_null());
    let bad = app.call(Method::PATCH, &path, Some(&member), Some(json!({"read": "yes"}))).await;
    assert_eq!(bad.fields(), vec!["read"]);

    let up_to = app.post("/api/v1/notifications/read-all", &member, json!({"up_to_cursor": 4})).await;
    assert_eq!(up_to.json["updated"], 4);
    let pending = cursors(&app.get("/api/v1/notifications/pending", &member).await);
    assert_eq!(pending, vec![6, 5], "only what the client had seen was marked");
    let rest = app.call(Method::POST, "/api/v1/notifications/read-all", Some(&member), None).await;
    assert_eq!(rest.json["updated"], 2);
    assert!(cursors(&app.get("/api/v1/notifications/pending", &member).await).is_empty());
    let negative = app.post("/api/v1/notifications/read-all", &member, json!({"up_to_cursor": -1})).await;
    assert_eq!(negative.fields(), vec!["up_to_cursor"]);
    app.stop().await.expect("stop");
}

async fn applications_bring_users_and_mint_their_tokens(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (_, sender) = app.user_with_token("app@example.com", "sender").await;
    let (member_id, member) = app.user_with_token("m@example.com", "member").await;
    let path = "/api/v1/users/external/shop-42";
    let created = app.call(Method::PUT, path, Some(&sender), Some(json!({"display_name": "Ann"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        (created.json["role"].as_str(), created.json["external_id"].as_str()),
        (Some("member"), Some("shop-42"))
    );
    assert!(created.json["email"].is_null());
    let updated = app.call(Method::PUT, path, Some(&sender), Some(json!({"email": "Ann@Shop.example"}))).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.json["id"], created.json["id"]);
    assert_eq!(
        (updated.json["display_name"].as_str(), updated.json["email"].as_str()),
        (Some("Ann"), Some("ann@shop.example"))
    );
    let user_id = created.json["id"].as_i64().unwrap();

    // A short-lived token the application hands the user's browser.
    let minted = app
        .post(
            &format!("/api/v1/users/{user_id}/tokens"),
            &sender,
            json!({"name": "browser", "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.text);
    assert!(minted.json["expires_at"].is_string());
    let browser = minted.json["token"].as_str().unwrap();
    let me = app.get("/api/v1/me", browser).await;
    assert_eq!(me.json["external_id"], "shop-42");
    notify(&app, &sender, json!({"external_id": "shop-42", "type": "order", "title": "Shipped"})).await;
    assert_eq!(items(&app.get("/api/v1/notifications", browser).await).len(), 1);

    // Senders manage members only; members manage nobody.
    let admin_tokens = app.post("/api/v1/users/1/tokens", &sender, json!({"name": "steal"})).await;
    admin_tokens.problem(StatusCode::NOT_FOUND);
    let promote = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"email": "ops@example.com", "role": "operator", "external_id": "staff-1"}),
        )
        .await;
    assert_eq!(promote.status, StatusCode::CREATED, "{}", promote.text);
    let clash = app
        .call(Method::PUT, "/api/v1/users/external/staff-1", Some(&sender), Some(json!({"display_name": "x"})))
        .await;
    clash.problem(StatusCode::CONFLICT);
    assert_eq!(clash.fields(), vec!["external_id"]);
    let still = app.get("/api/v1/users?limit=200", &app.admin_token).await;
    let staff = items(&still).into_iter().find(|u| u["external_id"] == "staff-1").unwrap();
    assert!(staff["display_name"].is_null(), "a refused upsert changes nothing");
    app.call(Method::PUT, path, Some(&member), Some(json!({}))).await.problem(StatusCode::FORBIDDEN);
    app.post(&format!("/api/v1/users/{member_id}/tokens"), &member, json!({"name": "x"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    app.stop().await.expect("stop");
}
