//! The web app as a person uses it, in a real headless Chromium, and as
//! an attacker tries it, over plain HTTP: sign-in and its throttle, the
//! session cookie and its protection against cross-site requests, the
//! page headers, HTML errors for browsers, escaping.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN};
use serde_json::json;

use crate::harness::browser::Browser;
use crate::harness::process::herald;
use crate::harness::receiver::{Receiver, SECRET};
use crate::harness::target::{Mode, Target};
use crate::harness::{Backend, TestApp, both};

const PASSWORD: &str = "correct horse battery staple";

/// Set `email`'s password with the CLI, as an operator would, on the
/// test app's own database.
fn set_password_with_cli(app: &TestApp, email: &str, password: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = herald(dir.path());
    cmd.args(["user", "password", "--email", email, "--password-stdin"]);
    cmd.arg("--data-dir").arg(&app.config.data_dir);
    if let Some(url) = &app.config.database_url {
        cmd.env("HERALD_DATABASE_URL", url.expose());
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A client that keeps no cookies and follows no redirects, so each
/// test says exactly what it sends.
fn plain() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Sign in over HTTP; the session cookie (`herald_session=…`).
async fn sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let response = plain()
        .post(app.url("/login"))
        .header(ORIGIN, format!("http://{}", app.addr))
        .form(&[("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{:?}", response.text().await);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

/// The CSRF token of a signed-in page (the layout's meta tag).
async fn csrf_of(app: &TestApp, cookie: &str, path: &str) -> String {
    let page = plain().get(app.url(path)).header(COOKIE, cookie).send().await.unwrap().text().await.unwrap();
    let after = page.split("name=\"csrf-token\" content=\"").nth(1).expect("a csrf meta tag");
    after.split('"').next().unwrap().to_string()
}

both!(
    sign_in_with_a_cli_password_and_the_sixth_fast_failure_is_refused,
    pages_send_a_strict_policy_and_browsers_get_html_errors,
    changes_with_the_cookie_need_this_sites_page,
    a_member_sees_the_forbidden_page_not_the_operators_pages,
    a_hostile_service_name_renders_as_text,
    a_printed_setup_link_sets_a_password_once,
    the_overview_counts_filters_searches_and_pages_every_service,
    an_operator_adds_a_service_watches_it_fail_and_handles_the_incident,
    notifications_arrive_in_the_open_inbox_and_the_badge_follows,
    an_admin_adds_a_webhook_channel_whose_secret_never_reaches_a_page,
    every_page_renders_labelled_on_a_desktop_and_on_a_phone,
    the_account_page_changes_the_password_and_ends_every_session,
    admins_add_people_with_setup_links_mint_tokens_and_schedule_maintenance,
);

async fn sign_in_with_a_cli_password_and_the_sixth_fast_failure_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("sign-in-{backend:?}")).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);

    // A page sends a stranger to the sign-in form, and back after.
    browser.goto(&app.url("/?sort=name")).await;
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "{url}");
    browser.screenshot("login").await;
    browser.fill("#email", "admin@localhost").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button").await;
    let heading = browser.wait_text("main h1", Duration::from_secs(10), |t| t == "Services").await;
    assert_eq!(heading.as_deref(), Ok("Services"));
    assert_eq!(browser.client.current_url().await.unwrap().query(), Some("sort=name"));
    assert!(browser.session_cookie().await.is_some());
    browser.screenshot("overview-empty").await;

    // Sign out: back to the form, the cookie gone.
    browser.click("form[action='/logout'] button").await;
    browser.wait_text("main h1", Duration::from_secs(10), |t| t.contains("Sign in")).await.unwrap();
    assert!(browser.session_cookie().await.is_none(), "the cookie is cleared");

    // Five wrong passwords are each told so; the sixth attempt is refused
    // even with the right one.
    for attempt in 1..=5 {
        browser.fill("#email", "admin@localhost").await;
        browser.fill("#password", &format!("wrong password {attempt}")).await;
        browser.click("form[action='/login'] button").await;
        let error = browser.wait_text("#sign-in-error", Duration::from_secs(10), |t| !t.is_empty()).await;
        assert!(error.as_deref().is_ok_and(|t| t.contains("do not match")), "attempt {attempt}: {error:?}");
    }
    browser.screenshot("login-wrong").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button").await;
    let refused = browser.wait_text("#sign-in-error", Duration::from_secs(10), |t| t.contains("Too many")).await;
    assert!(refused.is_ok(), "{refused:?}");
    browser.screenshot("login-refused").await;
    assert!(browser.session_cookie().await.is_none());

    // The same refusal over HTTP says when to come back.
    let response = plain()
        .post(app.url("/login"))
        .form(&[("email", "admin@localhost"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    browser.close().await;
}

async fn pages_send_a_strict_policy_and_browsers_get_html_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let client = plain();
    let login = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let h = login.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("referrer-policy"));
    assert_eq!(h["cache-control"], "no-store");
    let html = login.text().await.unwrap();
    // Nothing inline, nothing from another host.
    assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains("://"), "{html}");

    // Every asset the page names is served with a year's cache.
    for asset in html.split("\"/assets/").skip(1).map(|s| s.split('"').next().unwrap()) {
        let response = client.get(app.url(&format!("/assets/{asset}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    assert_eq!(client.get(app.url("/assets/app.00000000.css")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Unknown pages: HTML for a browser, problem+json for an API client.
    let page = client.get(app.url("/no/such/page")).header(ACCEPT, "text/html,*/*;q=0.8").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.text().await.unwrap().contains("Not found"));
    let api = client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.headers()[CONTENT_TYPE], "application/problem+json");

    // A page without a session sends the browser to sign in, and back.
    let overview = client.get(app.url("/?status=down")).send().await.unwrap();
    assert_eq!(overview.status(), StatusCode::SEE_OTHER);
    assert_eq!(overview.headers()[LOCATION], "/login?next=/%3Fstatus%3Ddown");
}

async fn changes_with_the_cookie_need_this_sites_page(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);
    let client = plain();
    let origin = format!("http://{}", app.addr);

    // Signing in from another site's form is refused.
    let forged = client
        .post(app.url("/login"))
        .header(ORIGIN, "http://evil.example")
        .form(&[("email", "admin@localhost"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get("set-cookie").is_none());

    let cookie = sign_in(&app, "admin@localhost", PASSWORD).await;
    let csrf = csrf_of(&app, &cookie, "/").await;

    // The JSON API takes the cookie for reading…
    let me = client.get(app.url("/api/v1/me")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // …but a change needs the page's token and this origin.
    let body = json!({"name": "from the page", "kind": "tcp", "target": "127.0.0.1:9"});
    let bare = client.post(app.url("/api/v1/services")).header(COOKIE, &cookie).json(&body).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    assert_eq!(bare.json::<serde_json::Value>().await.unwrap()["code"], "csrf_failed");
    let cross = client
        .post(app.url("/api/v1/services"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .header(ORIGIN, "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let own = client
        .post(app.url("/api/v1/services"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .header(ORIGIN, &origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::CREATED, "{:?}", own.text().await);
    // Bearer calls are not concerned.
    let bearer = app
        .post("/api/v1/services", &app.admin_token, json!({"name": "b", "kind": "tcp", "target": "127.0.0.1:9"}))
        .await;
    assert_eq!(bearer.status, StatusCode::CREATED);

    // A form posted from another origin, or without the token, is refused:
    // the session survives it.
    for (origin, token) in [("http://evil.example", csrf.as_str()), (origin.as_str(), "wrong"), (origin.as_str(), "")] {
        let response = client
            .post(app.url("/logout"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, origin)
            .form(&[("csrf", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin} {token}");
        assert!(response.text().await.unwrap().contains("Refused"));
    }
    assert_eq!(
        client.get(app.url("/api/v1/me")).header(COOKIE, &cookie).send().await.unwrap().status(),
        StatusCode::OK
    );

    // Signing out ends the session on every instance on the database.
    let peer = if backend == Backend::Postgres { Some(app.peer().await) } else { None };
    if let Some(peer) = &peer {
        let there = client.get(peer.url("/api/v1/me")).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(there.status(), StatusCode::OK, "the peer knows the session");
    }
    let out = client
        .post(app.url("/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("herald_session=;"));
    for instance in std::iter::once(&app).chain(peer.as_ref()) {
        let me = client.get(instance.url("/api/v1/me")).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "the old cookie is useless on {}", instance.addr);
        let page = client.get(instance.url("/")).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
    }
}

async fn a_member_sees_the_forbidden_page_not_the_operators_pages(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.user_with_token("member@example.com", "member").await;
    set_password_with_cli(&app, "member@example.com", PASSWORD);
    let cookie = sign_in(&app, "member@example.com", PASSWORD).await;
    let client = plain();
    let page = client.get(app.url("/")).header(COOKIE, &cookie).header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Not for your role"), "{html}");
    // Their navigation offers only what they may open.
    assert!(html.contains("href=\"/inbox\"") && !html.contains("href=\"/incidents\""), "{html}");
    // The API says the same in JSON.
    let api = client.get(app.url("/api/v1/services")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);

    // A sender is an application: it has no password to sign in with.
    app.user_with_token("app@example.com", "sender").await;
    let response = plain()
        .post(app.url("/login"))
        .form(&[("email", "app@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
}

async fn a_hostile_service_name_renders_as_text(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("escaping-{backend:?}")).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);
    let name = "<img src=x onerror=alert(1)>";
    let created = app
        .post("/api/v1/services", &app.admin_token, json!({"name": name, "kind": "tcp", "target": "127.0.0.1:9"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    browser.goto(&app.url("/login")).await;
    browser.fill("#email", "admin@localhost").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button").await;
    let shown = browser.wait_text("td.name a", Duration::from_secs(10), |t| t == name).await;
    assert_eq!(shown.as_deref(), Ok(name), "the name is shown as the text it is");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(browser.client.get_alert_text().await.is_err(), "no dialog opened");
    let images = browser.client.find_all(fantoccini::Locator::Css("main img")).await.unwrap();
    assert!(images.is_empty(), "no element was made from the name");
    assert!(browser.source().await.contains("&lt;img src=x onerror=alert(1)&gt;"), "escaped in the page");
    browser.screenshot("overview-hostile-name").await;
    browser.close().await;
}

async fn a_printed_setup_link_sets_a_password_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("setup-{backend:?}")).await else { return };
    let admin =
        app.state.accounts.user_by_email(&herald::accounts::Email::parse("admin@localhost").unwrap()).await.unwrap();
    let token = app.state.accounts.mint_setup_token(admin.id).await.unwrap();
    let link = app.url(&format!("/setup?token={}", token.expose()));

    browser.goto(&link).await;
    // (Too short a password is stopped by the browser itself: `minlength`.)
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm", "a different passphrase").await;
    browser.click("form[action='/setup'] button").await;
    let error = browser.wait_text("[role=alert]", Duration::from_secs(10), |t| t.contains("not the same")).await;
    assert!(error.is_ok(), "{error:?}");
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm", PASSWORD).await;
    browser.screenshot("setup").await;
    browser.click("form[action='/setup'] button").await;
    let heading = browser.wait_text("main h1", Duration::from_secs(10), |t| t == "Services").await;
    assert_eq!(heading.as_deref(), Ok("Services"), "signed in after choosing");
    // The password works; the link does not work twice.
    sign_in(&app, "admin@localhost", PASSWORD).await;
    let again = plain()
        .post(app.url("/setup"))
        .form(&[("token", token.expose()), ("password", "another password!"), ("confirm", "another password!")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    browser.close().await;
}

/// The names of the services an overview page lists, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("<td class=\"name\"><a href=\"/services/")
        .skip(1)
        .map(|s| s.split_once("\">").unwrap().1.split("</a>").next().unwrap().to_string())
        .collect()
}

async fn the_overview_counts_filters_searches_and_pages_every_service(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);
    let cookie = sign_in(&app, "admin@localhost", PASSWORD).await;
    let app = &app;
    let create = |name: String, enabled: bool| {
        let body = json!({"name": name, "kind": "tcp", "target": "127.0.0.1:9", "enabled": enabled});
        async move {
            let reply = app.post("/api/v1/services", &app.admin_token, body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
            reply.json["id"].as_i64().unwrap()
        }
    };
    create("Alpha API".into(), true).await;
    create("beta DB".into(), true).await;
    create("100% cache".into(), true).await;
    create("paused one".into(), false).await;
    let held = create("under maintenance".into(), true).await;
    let now = chrono::Utc::now();
    let window = json!({"service_id": held, "title": "upgrade", "starts_at": now - chrono::Duration::minutes(1),
                        "ends_at": now + chrono::Duration::hours(1)});
    assert_eq!(app.post("/api/v1/maintenance", &app.admin_token, window).await.status, StatusCode::CREATED);
    for i in 0..50 {
        create(format!("zz filler {i:02}"), true).await;
    }

    let counts = app.get("/api/v1/services/counts", &app.admin_token).await;
    assert_eq!(counts.status, StatusCode::OK);
    assert_eq!(
        counts.json,
        json!({"all": 55, "up": 0, "degraded": 0, "down": 0, "unknown": 53, "paused": 1, "maintenance": 1})
    );

    let page = |query: &'static str| {
        let cookie = cookie.clone();
        let url = app.url(&format!("/{query}"));
        async move {
            let response = plain().get(url).header(COOKIE, cookie).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap()
        }
    };
    let first = page("?sort=name").await;
    assert_eq!(listed(&first).len(), 50, "50 to a page");
    assert_eq!(&listed(&first)[..3], ["100% cache", "Alpha API", "beta DB"], "by name, any case");
    assert!(first.contains("Page 1 of 2") && first.contains("rel=\"next\""), "{first}");
    let second = page("?sort=name&page=2").await;
    assert_eq!(listed(&second).len(), 5);
    assert!(second.contains("rel=\"prev\""));
    // The counts cover every service, whatever the filter.
    assert!(first.contains("id=\"count-all\">55<") && first.contains("id=\"count-paused\">1<"), "{first}");

    assert_eq!(listed(&page("?status=paused").await), ["paused one"]);
    assert_eq!(listed(&page("?status=maintenance").await), ["under maintenance"]);
    assert!(listed(&page("?status=unknown").await).iter().all(|n| n != "paused one" && n != "under maintenance"));
    assert_eq!(listed(&page("?q=ALPHA").await), ["Alpha API"], "search ignores case");
    assert_eq!(listed(&page("?q=0%25").await), ["100% cache"], "a % is a character, not a wildcard");
    assert_eq!(listed(&page("?q=db&status=paused").await), Vec::<String>::new());
    // Nonsense parameters are ignored rather than failing the page.
    assert_eq!(listed(&page("?status=bogus&sort=bogus&page=999").await).len(), 5, "the last page");
}

/// Sign in through the form, as a person does.
async fn browser_sign_in(browser: &Browser, app: &TestApp, email: &str) {
    browser.goto(&app.url("/login")).await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/login'] button").await;
    let signed_in = browser.wait_text("main h1", Duration::from_secs(10), |t| !t.contains("Sign in")).await;
    assert!(signed_in.is_ok(), "{signed_in:?}");
}

async fn an_operator_adds_a_service_watches_it_fail_and_handles_the_incident(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("operator-{backend:?}")).await else { return };
    app.user_with_token("op@example.com", "operator").await;
    set_password_with_cli(&app, "op@example.com", PASSWORD);
    let target = Target::start().await;
    browser_sign_in(&browser, &app, "op@example.com").await;

    // A mistake is named next to its field, in words; the rest is kept.
    browser.goto(&app.url("/services/new")).await;
    browser.fill("#name", "checkout").await;
    browser.fill("#target", "not a url").await;
    browser.fill("#interval_seconds", "soon").await;
    browser.click("form.form button[type=submit]").await;
    let error = browser.wait_text("#interval_seconds-error", Duration::from_secs(10), |t| !t.is_empty()).await;
    assert_eq!(error.as_deref(), Ok("must be a whole number"));
    browser.fill("#interval_seconds", "10").await;
    browser.click("form.form button[type=submit]").await;
    let error = browser.wait_text("#target-error", Duration::from_secs(10), |t| !t.is_empty()).await;
    assert!(error.is_ok(), "the service's own validation names the target: {error:?}");
    browser.screenshot("service-form-errors").await;
    assert_eq!(
        browser.client.find(fantoccini::Locator::Css("#name")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("checkout")
    );

    browser.fill("#target", &target.url()).await;
    browser.fill("#failure_threshold", "1").await;
    browser.fill("#recovery_threshold", "1").await;
    browser.click("form.form button[type=submit]").await;
    let heading = browser.wait_text("main h1", Duration::from_secs(10), |t| t.starts_with("checkout")).await;
    assert!(heading.is_ok(), "{heading:?}");
    let url = browser.client.current_url().await.unwrap();
    let id: i64 = url.path().trim_start_matches("/services/").parse().unwrap();
    let stored = app.get(&format!("/api/v1/services/{id}"), &app.admin_token).await;
    assert_eq!((stored.json["kind"].as_str(), stored.json["interval_seconds"].as_i64()), (Some("http"), Some(10)));

    // Up, then down while the overview is open: the row and the counts
    // change without a reload.
    let check_path = format!("/api/v1/services/{id}/check");
    let check = || app.post(&check_path, &app.admin_token, json!({}));
    assert_eq!(check().await.json["service"]["status"], "up");
    browser.goto(&app.url("/")).await;
    let row = format!("tr[data-service='{id}'] [data-field=status]");
    assert_eq!(browser.wait_text(&row, Duration::from_secs(5), |t| t == "Up").await.as_deref(), Ok("Up"));
    browser.client.execute("window.__stillHere = true;", vec![]).await.unwrap();
    target.set(Mode::Failing);
    assert_eq!(check().await.json["service"]["status"], "down");
    let down = browser.wait_text(&row, Duration::from_secs(10), |t| t == "Down").await;
    assert_eq!(down.as_deref(), Ok("Down"), "the row turned down live");
    let counted = browser.wait_text("#count-down", Duration::from_secs(10), |t| t == "1").await;
    assert_eq!(counted.as_deref(), Ok("1"), "the count followed");
    let same = browser.client.execute("return window.__stillHere === true;", vec![]).await.unwrap();
    assert_eq!(same, json!(true), "no reload happened");
    browser.screenshot("overview-down").await;

    // The incident: acknowledge, note, resolve; the timeline has all three.
    let open = app.get(&format!("/api/v1/incidents?service_id={id}"), &app.admin_token).await;
    let incident = open.json["items"][0]["id"].as_i64().unwrap_or_else(|| panic!("an open incident: {}", open.text));
    browser.goto(&app.url("/incidents")).await;
    browser.click(&format!("tr[data-incident='{incident}'] a")).await;
    browser.wait_text("#incident-status", Duration::from_secs(10), |t| t == "open").await.unwrap();
    browser.fill("#ack-message", "on it").await;
    browser.click("#acknowledge").await;
    browser.wait_text("#incident-status", Duration::from_secs(10), |t| t == "acknowledged").await.unwrap();
    browser.fill("#note-message", "the pool was exhausted; restarted it").await;
    browser.click("#add-note").await;
    browser.wait_text("#timeline", Duration::from_secs(10), |t| t.contains("restarted it")).await.unwrap();
    browser.fill("#resolve-message", "fixed the pool size").await;
    browser.click("#resolve").await;
    browser.wait_text("#incident-status", Duration::from_secs(10), |t| t == "resolved").await.unwrap();
    let timeline = browser.wait_text("#timeline", Duration::from_secs(5), |_| true).await.unwrap();
    for expected in [
        "Opened",
        "Acknowledged by op@example.com",
        "on it",
        "Note by op@example.com",
        "restarted it",
        "Resolved by op@example.com",
        "fixed the pool size",
    ] {
        assert!(timeline.contains(expected), "{expected:?} in {timeline}");
    }
    browser.screenshot("incident-resolved").await;
    browser.goto(&app.url(&format!("/services/{id}"))).await;
    browser.wait_text("main h1", Duration::from_secs(10), |t| t.contains("Down")).await.unwrap();
    browser.screenshot("service").await;
    browser.close().await;
}

async fn notifications_arrive_in_the_open_inbox_and_the_badge_follows(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("inbox-{backend:?}")).await else { return };
    let (member, member_token) = app.user_with_token("member@example.com", "member").await;
    set_password_with_cli(&app, "member@example.com", PASSWORD);
    let app = &app;
    let send = |title: &'static str| {
        let body = json!({"user_id": member, "type": "message", "title": title, "body": "<b>not bold</b>"});
        async move {
            let reply = app.post("/api/v1/notifications", &app.admin_token, body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
    };
    send("waiting for you").await;
    browser_sign_in(&browser, app, "member@example.com").await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/inbox", "a member lands in the inbox");
    assert_eq!(browser.wait_text("#unread-badge", Duration::from_secs(5), |t| t == "1").await.as_deref(), Ok("1"));
    browser.client.execute("window.__stillHere = true;", vec![]).await.unwrap();

    // Sent while the page is open: it appears, and the badge counts it.
    send("deploy finished").await;
    let list = browser.wait_text("#inbox", Duration::from_secs(10), |t| t.contains("deploy finished")).await;
    assert!(list.as_deref().is_ok_and(|t| t.contains("<b>not bold</b>")), "shown as text: {list:?}");
    assert_eq!(browser.wait_text("#unread-badge", Duration::from_secs(10), |t| t == "2").await.as_deref(), Ok("2"));
    browser.screenshot("inbox").await;

    // Marking one read (through the JSON API with the page's token) lowers the badge.
    let newest = browser.client.find(fantoccini::Locator::Css("li.note [data-action=read]")).await.unwrap();
    newest.click().await.unwrap();
    assert_eq!(browser.wait_text("#unread-badge", Duration::from_secs(10), |t| t == "1").await.as_deref(), Ok("1"));
    let unread = app.get("/api/v1/notifications/stats", &member_token).await;
    assert_eq!(unread.json["unread"], 1, "{}", unread.text);
    browser.click("#read-all").await;
    let hidden =
        browser.client.execute("return document.getElementById('unread-badge').hidden;", vec![]).await.unwrap();
    let hidden = if hidden == json!(true) {
        hidden
    } else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.client.execute("return document.getElementById('unread-badge').hidden;", vec![]).await.unwrap()
    };
    assert_eq!(hidden, json!(true), "no unread: no badge");
    let same = browser.client.execute("return window.__stillHere === true;", vec![]).await.unwrap();
    assert_eq!(same, json!(true), "all without a reload");

    // The operators' pages are not the member's: a readable 403.
    browser.goto(&app.url("/system/database")).await;
    let refused = browser.wait_text("main h1", Duration::from_secs(5), |t| !t.is_empty()).await;
    assert_eq!(refused.as_deref(), Ok("Not for your role"));
    browser.screenshot("member-forbidden").await;
    browser.close().await;
}

async fn an_admin_adds_a_webhook_channel_whose_secret_never_reaches_a_page(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("channels-{backend:?}")).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);
    let receiver = Receiver::start().await;
    browser_sign_in(&browser, &app, "admin@localhost").await;

    browser.goto(&app.url("/admin/channels/new")).await;
    browser.fill("#name", "ops hook").await;
    browser.fill("#webhook_url", &receiver.url()).await;
    browser.fill("#webhook_secret", "short").await;
    browser.click("form.form button[type=submit]").await;
    let error = browser.wait_text(".field-error", Duration::from_secs(10), |t| !t.is_empty()).await;
    assert!(error.is_ok(), "a short secret is refused beside its field: {error:?}");
    assert!(!browser.source().await.contains("short\""), "a refused secret is not sent back");
    browser.fill("#name", "ops hook").await;
    browser.fill("#webhook_url", &receiver.url()).await;
    browser.fill("#webhook_secret", SECRET).await;
    browser.click("form.form button[type=submit]").await;
    browser.wait_text("[role=status]", Duration::from_secs(10), |t| t.contains("Channel added")).await.unwrap();
    assert!(!browser.source().await.contains(SECRET), "the list does not hold the secret");

    // The edit form says a secret is set, and never holds it.
    browser.click("td a").await;
    let hint = browser.wait_text("#webhook_secret-hint", Duration::from_secs(10), |t| t.contains("is set")).await;
    assert!(hint.is_ok(), "{hint:?}");
    let source = browser.source().await;
    assert!(!source.contains(SECRET), "the edit form does not hold the secret");
    browser.screenshot("channel-edit").await;
    // Saved with the secret left empty, the channel keeps it: a test is signed with it.
    browser.fill("#name", "ops webhook").await;
    browser.click("form.form button[type=submit]").await;
    browser.wait_text("[role=status]", Duration::from_secs(10), |t| t.contains("saved")).await.unwrap();
    browser.click("form[action$='/test'] button").await;
    browser.wait_text("[role=status]", Duration::from_secs(15), |t| t.contains("delivered")).await.unwrap();
    receiver.wait_for(1).await;
    assert!(receiver.all_signed(), "signed with the secret set at creation");
    assert!(!browser.source().await.contains(SECRET));
    browser.screenshot("channels").await;
    let api = app.get("/api/v1/alert-channels", &app.admin_token).await;
    assert_eq!(api.json["items"][0]["name"], "ops webhook");
    assert!(!api.text.contains(SECRET));
    browser.close().await;
}

/// Controls on the page that no label, `aria-label` or `aria-labelledby` names.
const UNLABELLED: &str = "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map(e => e.outerHTML.slice(0, 120));";

async fn every_page_renders_labelled_on_a_desktop_and_on_a_phone(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("pages-{backend:?}")).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);
    let target = Target::start().await;
    let service = app
        .post(
            "/api/v1/services",
            &app.admin_token,
            json!({"name": "api.example.com", "kind": "http", "target": target.url(), "failure_threshold": 1}),
        )
        .await;
    let id = service.json["id"].as_i64().unwrap();
    let check_path = format!("/api/v1/services/{id}/check");
    app.post(&check_path, &app.admin_token, json!({})).await;
    target.set(Mode::Failing);
    app.post(&check_path, &app.admin_token, json!({})).await;
    let incident = app.get("/api/v1/incidents", &app.admin_token).await.json["items"][0]["id"].as_i64().unwrap();
    // A few more of every kind, so the pages (and their screenshots) show a realistic mix.
    target.set(Mode::Healthy);
    let more = [
        json!({"name": "checkout.example.com", "kind": "http", "target": target.url(), "tags": ["shop"]}),
        json!({"name": "search-api", "kind": "http", "target": target.url(), "degraded_latency_ms": 1}),
        json!({"name": "postgres-primary", "kind": "tcp", "target": target.url().trim_start_matches("http://").split('/').next().unwrap()}),
        json!({"name": "nightly backup", "kind": "heartbeat", "target": "", "interval_seconds": 86400}),
        json!({"name": "legacy-reports", "kind": "http", "target": target.url(), "enabled": false}),
    ];
    for body in more {
        let created = app.post("/api/v1/services", &app.admin_token, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let path = format!("/api/v1/services/{}/check", created.json["id"]);
        if created.json["kind"] != "heartbeat" && created.json["enabled"] == true {
            for _ in 0..3 {
                app.post(&path, &app.admin_token, json!({})).await;
            }
        }
    }
    let admin_id = app.get("/api/v1/me", &app.admin_token).await.json["id"].as_i64().unwrap();
    app.post(
        "/api/v1/notifications",
        &app.admin_token,
        json!({"user_id": admin_id, "type": "deploy", "title": "v2.4 is out", "body": "release notes"}),
    )
    .await;
    browser_sign_in(&browser, &app, "admin@localhost").await;

    let pages = [
        ("overview", "/".to_string()),
        ("service", format!("/services/{id}")),
        ("service-7d", format!("/services/{id}?range=7d")),
        ("service-edit", format!("/services/{id}/edit")),
        ("service-new", "/services/new".to_string()),
        ("incidents", "/incidents".to_string()),
        ("incident", format!("/incidents/{incident}")),
        ("inbox", "/inbox".to_string()),
        ("database", "/system/database".to_string()),
        ("alerts", "/alerts".to_string()),
        ("maintenance", "/maintenance".to_string()),
        ("admin-channels", "/admin/channels".to_string()),
        ("admin-channel-new", "/admin/channels/new".to_string()),
        ("admin-users", "/admin/users".to_string()),
        ("admin-tokens", "/admin/tokens".to_string()),
        ("account", "/account".to_string()),
        ("not-found", "/no/such/page".to_string()),
    ];
    for (name, path) in &pages {
        browser.goto(&app.url(path)).await;
        let heading = browser.wait_text("main h1", Duration::from_secs(10), |t| !t.is_empty()).await;
        assert!(heading.is_ok(), "{path} has a heading: {heading:?}");
        let unlabelled = browser.client.execute(UNLABELLED, vec![]).await.unwrap();
        assert_eq!(unlabelled, json!([]), "{path}: every control is named");
        let landmarks = browser
            .client
            .execute("return !!document.querySelector('main#main') && !!document.querySelector('a.skip');", vec![])
            .await
            .unwrap();
        assert_eq!(landmarks, json!(true), "{path}");
        browser.screenshot(name).await;
    }
    browser.close().await;

    // A 360 px phone: nothing wider than the screen.
    let Some(phone) = Browser::phone(&format!("phone-{backend:?}"), 360).await else { return };
    browser_sign_in(&phone, &app, "admin@localhost").await;
    for (name, path) in [
        ("overview", "/".to_string()),
        ("service", format!("/services/{id}")),
        ("incident", format!("/incidents/{incident}")),
        ("inbox", "/inbox".to_string()),
    ] {
        phone.goto(&app.url(&path)).await;
        phone.wait_text("main h1", Duration::from_secs(10), |t| !t.is_empty()).await.unwrap();
        let widths = phone
            .client
            .execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![])
            .await
            .unwrap();
        assert_eq!(widths[1], json!(360), "the phone's viewport");
        assert!(widths[0].as_i64() <= Some(361), "{path} fits a 360 px screen: {widths}");
        phone.screenshot(name).await;
    }
    phone.close().await;

    // Dark, when the system asks for it.
    let Some(dark) =
        Browser::start_with(&format!("dark-{backend:?}"), &["--blink-settings=preferredColorScheme=0"]).await
    else {
        return;
    };
    browser_sign_in(&dark, &app, "admin@localhost").await;
    dark.goto(&app.url(&format!("/services/{id}"))).await;
    dark.wait_text("main h1", Duration::from_secs(10), |t| !t.is_empty()).await.unwrap();
    let scheme =
        dark.client.execute("return matchMedia('(prefers-color-scheme: dark)').matches;", vec![]).await.unwrap();
    if scheme == json!(true) {
        let background =
            dark.client.execute("return getComputedStyle(document.body).backgroundColor;", vec![]).await.unwrap();
        assert_eq!(background, json!("rgb(13, 17, 23)"), "the dark palette");
    } else {
        eprintln!("this Chromium ignores --blink-settings=preferredColorScheme; the dark palette is not checked");
    }
    dark.screenshot("service-dark").await;
    dark.close().await;
}

async fn the_account_page_changes_the_password_and_ends_every_session(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let Some(browser) = Browser::start(&format!("account-{backend:?}")).await else { return };
    app.user_with_token("op@example.com", "operator").await;
    set_password_with_cli(&app, "op@example.com", PASSWORD);
    let elsewhere = sign_in(&app, "op@example.com", PASSWORD).await;
    browser_sign_in(&browser, &app, "op@example.com").await;
    browser.goto(&app.url("/account")).await;

    // A token for themselves, shown once, then revoked.
    browser.fill("#name", "laptop").await;
    browser.click("form[action='/account/tokens'] button").await;
    let token = browser.wait_text("#minted-token", Duration::from_secs(10), |t| t.starts_with("hld_")).await.unwrap();
    assert_eq!(app.get("/api/v1/me", &token).await.status, StatusCode::OK);
    browser.goto(&app.url("/account")).await;
    assert!(!browser.source().await.contains(&token), "shown once only");
    let mine = app.get("/api/v1/tokens", &token).await;
    let laptop =
        mine.json["items"].as_array().unwrap().iter().find(|t| t["name"] == "laptop").unwrap()["id"].as_i64().unwrap();
    browser.click(&format!("tr[data-token='{laptop}'] button")).await;
    let row = format!("tr[data-token='{laptop}']");
    browser.wait_text(&row, Duration::from_secs(10), |t| t.contains("revoked")).await.unwrap();
    assert_eq!(app.get("/api/v1/me", &token).await.status, StatusCode::UNAUTHORIZED);

    // The wrong current password changes nothing.
    browser.fill("#current", "not my password").await;
    browser.fill("#password", "a brand new passphrase").await;
    browser.fill("#confirm", "a brand new passphrase").await;
    browser.click("form[action='/account/password'] button").await;
    browser.wait_text("#password-error", Duration::from_secs(10), |t| t.contains("not that")).await.unwrap();
    // The right one changes it; other sessions end, this one goes on.
    browser.fill("#current", PASSWORD).await;
    browser.fill("#password", "a brand new passphrase").await;
    browser.fill("#confirm", "a brand new passphrase").await;
    browser.click("form[action='/account/password'] button").await;
    browser.wait_text("[role=status]", Duration::from_secs(10), |t| t.contains("Password changed")).await.unwrap();
    let old = plain().get(app.url("/api/v1/me")).header(COOKIE, &elsewhere).send().await.unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the other session ended");
    sign_in(&app, "op@example.com", "a brand new passphrase").await;
    browser.screenshot("account").await;

    // Sign out everywhere: this browser too.
    browser.click("#sign-out-everywhere").await;
    browser.wait_text("main h1", Duration::from_secs(10), |t| t.contains("Sign in")).await.unwrap();
    browser.goto(&app.url("/account")).await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/login");
    browser.close().await;
}

/// A form post from herald's own page with the session's token.
async fn post_form(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    let response = plain()
        .post(app.url(path))
        .header(COOKIE, cookie)
        .header(ORIGIN, format!("http://{}", app.addr))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The text of the `<code … id="{id}">` element of a page.
fn code_by_id(html: &str, id: &str) -> String {
    let after = html.split(&format!("id=\"{id}\">")).nth(1).unwrap_or_else(|| panic!("#{id} in {html}"));
    after.split('<').next().unwrap().to_string()
}

async fn admins_add_people_with_setup_links_mint_tokens_and_schedule_maintenance(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    set_password_with_cli(&app, "admin@localhost", PASSWORD);
    let cookie = sign_in(&app, "admin@localhost", PASSWORD).await;
    let csrf = csrf_of(&app, &cookie, "/admin/users").await;

    // A new operator, with a setup link shown once; the link works.
    let (status, page) = post_form(
        &app,
        &cookie,
        &csrf,
        "/admin/users",
        &[("email", "new@example.com"), ("role", "operator"), ("display_name", "New Person")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let link = code_by_id(&page, "setup-link");
    let token = link.split("token=").nth(1).unwrap();
    assert!(link.starts_with(&format!("http://{}/setup?token=", app.addr)), "{link}");
    let set = plain()
        .post(app.url("/setup"))
        .header(ORIGIN, format!("http://{}", app.addr))
        .form(&[("token", token), ("password", "the new person's password"), ("confirm", "the new person's password")])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    sign_in(&app, "new@example.com", "the new person's password").await;
    // A bad address is named in the form.
    let (status, page) =
        post_form(&app, &cookie, &csrf, "/admin/users", &[("email", "not an address"), ("role", "member")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("email: "), "{page}");

    // A token minted for someone is shown once and works; revoked, it does not.
    let new_id = app.get("/api/v1/users", &app.admin_token).await.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "new@example.com")
        .unwrap()["id"]
        .to_string();
    let (status, page) = post_form(
        &app,
        &cookie,
        &csrf,
        "/admin/tokens",
        &[("user_id", &new_id), ("name", "ci"), ("expires_days", "7")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let minted = code_by_id(&page, "minted-token");
    assert_eq!(app.get("/api/v1/me", &minted).await.json["email"], "new@example.com");
    let listing =
        plain().get(app.url("/admin/tokens")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    assert!(!listing.contains(&minted), "shown once");
    let tokens = app.get("/api/v1/tokens", &app.admin_token).await;
    let ci =
        tokens.json["items"].as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap()["id"].as_i64().unwrap();
    let (status, _) = post_form(&app, &cookie, &csrf, &format!("/tokens/{ci}/revoke"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/me", &minted).await.status, StatusCode::UNAUTHORIZED);

    // Maintenance: scheduled from the form (UTC), then ended early.
    let now = chrono::Utc::now();
    let (status, page) = post_form(
        &app,
        &cookie,
        &csrf,
        "/maintenance",
        &[
            ("title", "database upgrade"),
            ("service_id", ""),
            ("starts_at", &(now - chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M").to_string()),
            ("ends_at", &(now + chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M").to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let windows = app.get("/api/v1/maintenance", &app.admin_token).await;
    assert_eq!(windows.json[0]["title"], "database upgrade");
    let (status, page) =
        post_form(&app, &cookie, &csrf, "/maintenance", &[("title", "x"), ("starts_at", "tomorrow"), ("ends_at", "")])
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("must be a date and time"), "{page}");
    let id = windows.json[0]["id"].as_i64().unwrap();
    let (status, _) = post_form(&app, &cookie, &csrf, &format!("/maintenance/{id}/end"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/maintenance", &app.admin_token).await.json, json!([]));

    // A heartbeat service from the form: its URL is shown once, and works.
    let (status, page) = post_form(
        &app,
        &cookie,
        &csrf,
        "/services/new",
        &[
            ("name", "nightly backup"),
            ("kind", "heartbeat"),
            ("target", ""),
            ("interval_seconds", "3600"),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let url = code_by_id(&page, "heartbeat-url");
    assert!(url.starts_with("/api/v1/heartbeat/"), "{url}");
    let beat = plain().post(app.url(&url)).send().await.unwrap();
    assert!(beat.status().is_success(), "{}", beat.status());
    let overview =
        plain().get(app.url("/?q=nightly")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    assert!(!overview.contains(url.trim_start_matches("/api/v1/heartbeat/")), "the secret is not shown again");
}
