//! Authentication and authorization: tokens, roles, revocation, expiry.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp, both};

both!(
    requests_without_a_valid_token_are_refused,
    members_are_forbidden_admin_routes,
    revoked_and_expired_tokens_are_refused,
    tokens_are_shown_once_and_stored_hashed,
    token_lists_and_revocation_respect_ownership,
    users_are_created_listed_and_paginated,
    web_sessions_end_when_idle_expired_signed_out_or_the_password_changes,
    failed_sign_ins_are_slowed_then_refused_per_account_and_per_address,
    setup_links_set_a_password_once_within_a_day
);

async fn requests_without_a_valid_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for path in ["/api/v1/me", "/api/v1/users", "/api/v1/tokens", "/api/v1/system/database"] {
        let none = app.call(Method::GET, path, None, None).await;
        none.problem(StatusCode::UNAUTHORIZED);
        assert_eq!(none.headers["www-authenticate"], "Bearer");
        app.get(path, "hld_not-a-real-token").await.problem(StatusCode::UNAUTHORIZED);
    }
    let basic = app.client.get(app.url("/api/v1/me")).basic_auth("admin", Some("x")).send().await.unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    app.stop().await.expect("stop");
}

async fn members_are_forbidden_admin_routes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for role in ["member", "sender", "operator"] {
        let (_, token) = app.user_with_token(&format!("{role}@example.com"), role).await;
        let me = app.get("/api/v1/me", &token).await;
        assert_eq!(me.json["role"], role);
        app.get("/api/v1/users", &token).await.problem(StatusCode::FORBIDDEN);
        app.post("/api/v1/users", &token, json!({"email": "x@example.com", "role": "admin"}))
            .await
            .problem(StatusCode::FORBIDDEN);
    }
    let (_, member) = app.user_with_token("plain@example.com", "member").await;
    app.get("/api/v1/system/database", &member).await.problem(StatusCode::FORBIDDEN);
    // Nothing was created by the refused calls.
    let users = app.get("/api/v1/users?limit=200", &app.admin_token).await;
    let emails: Vec<&str> =
        users.json["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert!(!emails.contains(&"x@example.com"));
    app.stop().await.expect("stop");
}

async fn revoked_and_expired_tokens_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app.post("/api/v1/tokens", &app.admin_token, json!({"name": "ci"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let token = created.json["token"].as_str().unwrap().to_string();
    let id = created.json["id"].as_i64().unwrap();
    assert_eq!(app.get("/api/v1/me", &token).await.status, StatusCode::OK);
    let revoked = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&token), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    app.get("/api/v1/me", &token).await.problem(StatusCode::UNAUTHORIZED);
    let listed = app.get("/api/v1/tokens", &app.admin_token).await;
    let entry = listed.json["items"].as_array().unwrap().iter().find(|t| t["id"] == id).cloned().unwrap();
    assert!(entry["revoked_at"].is_string(), "revocation is recorded: {entry}");

    let short = app.post("/api/v1/tokens", &app.admin_token, json!({"name": "short", "expires_in_seconds": 1})).await;
    let short = short.json["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &short).await.status, StatusCode::OK);
    // herald's clock past the token's second, instead of waiting it out.
    app.shift.advance(Duration::from_millis(1100));
    app.get("/api/v1/me", &short).await.problem(StatusCode::UNAUTHORIZED);
    app.stop().await.expect("stop");
}

async fn tokens_are_shown_once_and_stored_hashed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app.post("/api/v1/tokens", &app.admin_token, json!({"name": "deploy"})).await;
    let raw = created.json["token"].as_str().unwrap().to_string();
    assert!(raw.starts_with("hld_") && raw.len() > 40);
    let listed = app.get("/api/v1/tokens", &app.admin_token).await;
    assert!(!listed.text.contains(&raw), "lists never show a raw token");
    assert!(listed.json["items"][0].get("token").is_none());
    // last_used_at is recorded on use.
    app.get("/api/v1/me", &raw).await;
    let listed = app.get("/api/v1/tokens", &app.admin_token).await;
    let deploy = listed.json["items"].as_array().unwrap().iter().find(|t| t["name"] == "deploy").cloned().unwrap();
    assert!(deploy["last_used_at"].is_string(), "{deploy}");
    // The database holds a 32-byte hash, not the token.
    let db = app.db.clone();
    let stored: Vec<Vec<u8>> = herald::on_pool!(db, |p| {
        sqlx::query_scalar("SELECT token_hash FROM api_token").fetch_all(p).await.unwrap()
    });
    assert!(stored.iter().all(|h| h.len() == 32));
    assert!(stored.iter().all(|h| !String::from_utf8_lossy(h).contains(&raw[4..])));
    app.stop().await.expect("stop");
}

async fn token_lists_and_revocation_respect_ownership(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (alice_id, alice) = app.user_with_token("alice@example.com", "member").await;
    let (_, bob) = app.user_with_token("bob@example.com", "member").await;
    let alice_tokens = app.get("/api/v1/tokens", &alice).await;
    let alice_token_id = alice_tokens.json["items"][0]["id"].as_i64().unwrap();
    assert!(alice_tokens.json["items"].as_array().unwrap().iter().all(|t| t["user_id"] == alice_id));
    // Bob sees none of Alice's tokens, even asking by user id, and cannot revoke them.
    let asked = app.get(&format!("/api/v1/tokens?user_id={alice_id}"), &bob).await;
    assert_eq!(asked.json["items"].as_array().map(Vec::len), Some(0));
    let attempt = app.call(Method::DELETE, &format!("/api/v1/tokens/{alice_token_id}"), Some(&bob), None).await;
    attempt.problem(StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me", &alice).await.status, StatusCode::OK, "still valid");
    // The admin sees everyone's and may revoke any.
    let all = app.get(&format!("/api/v1/tokens?user_id={alice_id}"), &app.admin_token).await;
    assert_eq!(all.json["items"].as_array().map(Vec::len), Some(1));
    let by_admin =
        app.call(Method::DELETE, &format!("/api/v1/tokens/{alice_token_id}"), Some(&app.admin_token), None).await;
    assert_eq!(by_admin.status, StatusCode::NO_CONTENT);
    app.get("/api/v1/me", &alice).await.problem(StatusCode::UNAUTHORIZED);
    app.stop().await.expect("stop");
}

async fn users_are_created_listed_and_paginated(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for i in 0..4 {
        let r = app
            .post(
                "/api/v1/users",
                &app.admin_token,
                json!({"email": format!("U{i}@Example.com"), "role": "member", "display_name": format!("User {i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.json["email"], format!("u{i}@example.com"), "emails are normalized");
    }
    let dup = app.post("/api/v1/users", &app.admin_token, json!({"email": "u0@example.com", "role": "admin"})).await;
    dup.problem(StatusCode::CONFLICT);
    assert_eq!(dup.fields(), vec!["email"]);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_string(),
        };
        let page = app.get(&path, &app.admin_token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.json["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_i64().unwrap()));
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "ascending, no duplicates");
    assert_eq!(seen.len(), 5, "admin + 4 users, no gaps");
    app.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_revocation_reaches_every_instances_auth_cache() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.peer().await;
    let created = a.post("/api/v1/tokens", &a.admin_token, json!({"name": "roaming"})).await;
    let token = created.json["token"].as_str().unwrap().to_string();
    let id = created.json["id"].as_i64().unwrap();
    // B has seen (and cached) the token.
    assert_eq!(b.get("/api/v1/me", &token).await.status, StatusCode::OK);
    assert_eq!(b.get("/api/v1/me", &token).await.status, StatusCode::OK);
    let revoked = a.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&a.admin_token), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let status = b.get("/api/v1/me", &token).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "B still accepts a token revoked on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.stop().await.expect("stop b");
    a.stop().await.expect("stop a");
}

/// Web sessions (the service under the sign-in pages): a new id each sign-in,
/// refused once idle, past the absolute end, signed out (on every instance)
/// or after a password change.
async fn web_sessions_end_when_idle_expired_signed_out_or_the_password_changes(backend: Backend) {
    use herald::accounts::password::Password;
    use herald::accounts::session::RawSessionId;
    use herald::accounts::{AccountError, Email};
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.web.session_idle_minutes = 30;
        c.web.session_absolute_hours = 2;
    })
    .await
    else {
        return;
    };
    let accounts = &app.state.accounts;
    let (id, _) = app.user_with_token("op@example.com", "operator").await;
    let user = accounts.user_by_id(id).await.expect("user");
    let refused = |r: Result<_, AccountError>| matches!(r, Err(AccountError::Unauthenticated));

    let (a, started) = accounts.start_session(&user).await.expect("session");
    let (b, _) = accounts.start_session(&user).await.expect("another");
    assert_ne!(a.expose(), b.expose(), "a new id at every sign-in");
    assert_eq!((started.expires_at - started.created_at).num_hours(), 2);
    let again = RawSessionId::parse(a.expose()).expect("cookie value");
    assert_eq!(accounts.session(&again).await.expect("live").user.id, id);
    // Only the hash is stored.
    let stored: i64 = herald::on_pool!(app.db, |p| sqlx::query_scalar(
        "SELECT count(*) FROM web_session WHERE user_id = $1 AND id_hash = $2"
    )
    .bind(id)
    .bind(a.expose().as_bytes())
    .fetch_one(p)
    .await
    .expect("count"));
    assert_eq!(stored, 0, "the raw id is not in the table");

    // Used every 20 minutes it lives on past the idle timeout, up to the absolute end.
    for _ in 0..5 {
        app.shift.advance(Duration::from_secs(20 * 60));
        accounts.session(&a).await.expect("used within the idle timeout");
    }
    assert!(refused(accounts.session(&b).await), "b was idle for 100 minutes");
    app.shift.advance(Duration::from_secs(20 * 60 + 1));
    assert!(refused(accounts.session(&a).await), "past the absolute end (2 h)");
    assert_eq!(accounts.purge_sessions().await.expect("purge"), 2, "both rows go");

    // Signing out ends it for every instance on the database.
    let (c, _) = accounts.start_session(&user).await.expect("session");
    let peer = if app.config.database_url.is_some() { Some(app.peer().await) } else { None };
    if let Some(peer) = &peer {
        peer.state.accounts.session(&c).await.expect("the peer accepts it");
    }
    assert!(accounts.end_session(&c).await.expect("sign out"));
    assert!(refused(accounts.session(&c).await));
    if let Some(peer) = &peer {
        assert!(refused(peer.state.accounts.session(&c).await), "the peer refuses it too");
    }
    assert!(!accounts.end_session(&c).await.expect("again"), "already gone");

    // A password change signs out everywhere; senders have no sessions.
    let (d, _) = accounts.start_session(&user).await.expect("session");
    accounts.set_password(id, &Password::parse("a fresh long password").expect("password")).await.expect("set");
    assert!(refused(accounts.session(&d).await), "the password change ended it");
    let email = Email::parse("op@example.com").expect("email");
    let signed = accounts.check_password(&email, &Password::candidate("a fresh long password").expect("p")).await;
    assert_eq!(signed.expect("signs in").id, id);
    let (sender, _) = app.user_with_token("app@example.com", "sender").await;
    let sender = accounts.user_by_id(sender).await.expect("sender");
    assert!(matches!(accounts.start_session(&sender).await, Err(AccountError::SenderPassword)));
    if let Some(peer) = peer {
        peer.stop().await.expect("stop peer");
    }
    app.stop().await.expect("stop");
}

/// Five failed sign-ins per account or per address within 15 minutes, then
/// refusals with a retry time, even for the right password; each failure
/// answered later than the one before; a success clears its account.
async fn failed_sign_ins_are_slowed_then_refused_per_account_and_per_address(backend: Backend) {
    use herald::accounts::AccountError;
    use herald::accounts::password::Password;
    use std::net::IpAddr;
    let Some(app) = TestApp::spawn(backend).await else { return };
    let accounts = &app.state.accounts;
    let (id, _) = app.user_with_token("op@example.com", "operator").await;
    accounts.set_password(id, &Password::parse("the right password").expect("p")).await.expect("set");
    let home: IpAddr = "192.0.2.1".parse().expect("ip");
    let away: IpAddr = "198.51.100.7".parse().expect("ip");

    let mut took = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let r = accounts.sign_in("Op@Example.com", "wrong password", Some(home)).await;
        assert!(matches!(r, Err(AccountError::WrongPassword)), "{r:?}");
        took.push(started.elapsed());
    }
    assert!(took[4] >= took[0] + Duration::from_millis(300), "slowed: {took:?}");
    // The sixth is refused, right password or not, from anywhere.
    for (password, from) in [("wrong password", home), ("the right password", away)] {
        match accounts.sign_in("op@example.com", password, Some(from)).await {
            Err(AccountError::Throttled { retry_after_seconds }) => assert!((1..=900).contains(&retry_after_seconds)),
            other => panic!("not refused: {other:?}"),
        }
    }
    // Another account from the same address is refused too; from elsewhere it is not.
    let (other, _) = app.user_with_token("dev@example.com", "member").await;
    accounts.set_password(other, &Password::parse("dev's own password").expect("p")).await.expect("set");
    let r = accounts.sign_in("dev@example.com", "dev's own password", Some(home)).await;
    assert!(matches!(r, Err(AccountError::Throttled { .. })), "the address is over its limit: {r:?}");
    let dev = accounts.sign_in("dev@example.com", "dev's own password", Some(away)).await.expect("another address");
    assert_eq!(dev.id, other);
    // Over HTTP the refusal is a 429 with Retry-After (checked on the error mapping).
    let response =
        axum::response::IntoResponse::into_response(herald::http::error::ApiError::from(AccountError::Throttled {
            retry_after_seconds: 42,
        }));
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "42");

    // Once the window has passed the right password works, and clears the account.
    app.shift.advance(Duration::from_secs(15 * 60 + 1));
    let user = accounts.sign_in("op@example.com", "the right password", Some(home)).await.expect("signs in");
    assert_eq!(user.id, id);
    for _ in 0..4 {
        let r = accounts.sign_in("op@example.com", "wrong again", Some(away)).await;
        assert!(matches!(r, Err(AccountError::WrongPassword)));
    }
    accounts.sign_in("op@example.com", "the right password", Some(away)).await.expect("four failures are allowed");
    // Senders, unknown accounts and malformed input fail alike.
    for (email, password) in [("app@nowhere.example", "whatever it is"), ("not an email", "x"), ("", "")] {
        let r = accounts.sign_in(email, password, None).await;
        assert!(matches!(r, Err(AccountError::WrongPassword)), "{email:?}: {r:?}");
    }
    assert!(accounts.purge_sessions().await.is_ok());
    app.stop().await.expect("stop");
}

/// A setup link (`/setup?token=…`, printed for the first admin) sets its
/// user's password once, within 24 hours; only its hash is stored.
async fn setup_links_set_a_password_once_within_a_day(backend: Backend) {
    use herald::accounts::password::Password;
    use herald::accounts::{AccountError, Email};
    let Some(app) = TestApp::spawn(backend).await else { return };
    let accounts = &app.state.accounts;
    let (id, _) = app.user_with_token("lead@example.com", "admin").await;
    let password = Password::parse("chosen at setup").expect("p");
    let unauthenticated = |r: &Result<_, AccountError>| matches!(r, Err(AccountError::Unauthenticated));

    let link = accounts.mint_setup_token(id).await.expect("link");
    let stored: i64 =
        herald::on_pool!(app.db, |p| sqlx::query_scalar("SELECT count(*) FROM setup_token WHERE token_hash = $1")
            .bind(link.expose().as_bytes())
            .fetch_one(p)
            .await
            .expect("count"));
    assert_eq!(stored, 0, "the raw token is not stored");
    for bad in ["", "nope", &"A".repeat(43)] {
        assert!(unauthenticated(&accounts.redeem_setup_token(bad, &password).await), "{bad:?}");
    }
    let earlier = accounts.start_session(&accounts.user_by_id(id).await.expect("user")).await.expect("session").0;
    let user = accounts.redeem_setup_token(link.expose(), &password).await.expect("redeemed");
    assert_eq!(user.id, id);
    let email = Email::parse("lead@example.com").expect("email");
    let candidate = Password::candidate("chosen at setup").expect("p");
    assert_eq!(accounts.check_password(&email, &candidate).await.expect("signs in").id, id);
    let earlier = accounts.session(&earlier).await;
    assert!(matches!(earlier, Err(AccountError::Unauthenticated)), "choosing a password signed the user out");
    assert!(unauthenticated(&accounts.redeem_setup_token(link.expose(), &password).await), "used once");

    // A day later an unused link no longer works; senders get none.
    let late = accounts.mint_setup_token(id).await.expect("link");
    app.shift.advance(Duration::from_secs(24 * 3600 + 1));
    assert!(unauthenticated(&accounts.redeem_setup_token(late.expose(), &password).await), "expired");
    assert!(accounts.purge_sessions().await.expect("purge") >= 1, "the expired link's row goes");
    let (sender, _) = app.user_with_token("app@example.com", "sender").await;
    assert!(matches!(accounts.mint_setup_token(sender).await, Err(AccountError::SenderPassword)));
    app.stop().await.expect("stop");
}
