//! Check secrets are write-only: a service's credential headers and the
//! password in its target are sent by its checks and shown to nobody — not
//! in any response to any role, not on the realtime channels, not in check
//! errors, incidents, notifications or alerts, and not in the log at
//! `debug` level. A masked value sent back keeps the stored secret, for
//! its own origin only.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use herald::on_pool;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::target::Target;
use crate::harness::ws::Ws;
use crate::harness::{Backend, Reply, TestApp, both, postgres_database};

both!(check_secrets_are_sent_and_never_shown, check_secrets_never_reach_the_debug_log);

const MASK: &str = "********";
const BEARER: &str = "Bearer super-secret-check-token";
const API_KEY: &str = "key-material-42";
const TENANT: &str = "tenant-cookie-77";
const QUERY_KEY: &str = "query-key-31";
const PASSWORD: &str = "hunter2-pass";
const ROTATED: &str = "Bearer rotated-token-99";
const LEGACY: &str = "Bearer legacy-secret-5";

/// Every secret in these tests, in every form a leak could take.
fn secrets() -> Vec<String> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("ops:{PASSWORD}"));
    let mut all: Vec<String> =
        [BEARER, API_KEY, TENANT, QUERY_KEY, PASSWORD, ROTATED, LEGACY].map(String::from).to_vec();
    all.extend(["super-secret-check-token", "rotated-token-99", "legacy-secret-5"].map(String::from));
    all.push(basic);
    all
}

fn assert_clean(text: &str, what: &str) {
    for secret in secrets() {
        assert!(!text.contains(&secret), "{what} contains the secret {secret:?}: {text}");
    }
}

/// herald's API as a client reaches it: in-process or the binary.
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    /// Every response body, to search for secrets at the end.
    seen: Mutex<Vec<String>>,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = Reply::from(request.send().await.expect("request")).await;
        self.seen.lock().unwrap().push(reply.text.clone());
        reply
    }

    async fn check(&self, id: i64) -> Reply {
        let reply = self.call(Method::POST, &format!("/api/v1/services/{id}/check"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply
    }

    async fn patch(&self, id: i64, body: Value) -> Reply {
        self.call(Method::PATCH, &format!("/api/v1/services/{id}"), Some(body)).await
    }
}

/// The two services with secrets, as the flows leave them.
struct Services {
    /// Bearer header, an API key by the default rule, a header marked secret.
    headers: i64,
    /// `ops:PASSWORD@` in its target.
    userinfo: i64,
}

/// Create, check, read, echo back, replace and misuse the secrets; each
/// step's own assertions are here, the leak checks are the callers'. The
/// services are checked every day, so a scheduler that is on does not
/// check them in between (their first check falls within the first day).
async fn exercise(api: &Api, target: &Target) -> Services {
    let other_origin = format!("http://127.0.0.2:{}/echo", target.addr.port());
    let created = api
        .call(
            Method::POST,
            "/api/v1/services",
            Some(
                json!({"name": "private api", "kind": "http", "target": target.url_of("/echo"), "interval_seconds": 86400,
                "failure_threshold": 1, "recovery_threshold": 1,
                "config": {"headers": {"Authorization": BEARER, "X-Api-Key": API_KEY, "X-Tenant": TENANT,
                                       "X-Trace": "visible-trace"},
                           "secret_headers": ["X-Tenant"], "json_pointer": "/auth", "json_expected": "nope"}}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let headers = &created.json["config"]["headers"];
    assert_eq!(headers["authorization"], MASK, "{}", created.text);
    assert_eq!(headers["x-api-key"], MASK, "names with key are secret by default");
    assert_eq!(headers["x-tenant"], MASK, "marked secret by the operator");
    assert_eq!(headers["x-trace"], "visible-trace", "other headers read as they are");
    let id = created.json["id"].as_i64().expect("id");

    // The check sends the real values; its error (the target echoes the
    // Authorization header into the JSON it judges) does not quote them.
    let checked = api.check(id).await;
    assert_eq!(checked.json["status"], "down", "{}", checked.text);
    let error = checked.json["error"].as_str().expect("an error").to_string();
    assert!(error.contains(MASK), "the echoed secret is masked in {error:?}");
    assert_eq!(target.last("authorization"), BEARER);
    assert_eq!(target.last("x-api-key"), API_KEY);
    assert_eq!(target.last("x-tenant"), TENANT);

    let created = api
        .call(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": "basic", "kind": "http", "interval_seconds": 86400,
                        "target": format!("http://ops:{PASSWORD}@{}/ok?api_key={QUERY_KEY}&page=1", target.addr)})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["target"], format!("http://ops:{MASK}@{}/ok?api_key={MASK}&page=1", target.addr));
    let basic = created.json["id"].as_i64().expect("id");
    assert_eq!(api.check(basic).await.json["status"], "up");
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("ops:{PASSWORD}"));
    assert_eq!(target.last("authorization"), format!("Basic {credentials}"));
    assert_eq!(target.last_query("/ok"), format!("api_key={QUERY_KEY}&page=1"));

    // What a client read, sent back whole, changes nothing.
    for service in [id, basic] {
        let read = api.call(Method::GET, &format!("/api/v1/services/{service}"), None).await;
        let echoed = api.patch(service, json!({"target": read.json["target"], "config": read.json["config"]})).await;
        assert_eq!(echoed.status, StatusCode::OK, "{}", echoed.text);
        assert_eq!(echoed.json["config"], read.json["config"]);
    }
    api.check(id).await;
    assert_eq!(target.last("authorization"), BEARER, "the masked echo kept the stored secret");
    assert_eq!(target.last("x-tenant"), TENANT);
    api.check(basic).await;
    assert_eq!(target.last("authorization"), format!("Basic {credentials}"));
    assert_eq!(target.last_query("/ok"), format!("api_key={QUERY_KEY}&page=1"));
    let renamed = api.patch(id, json!({"name": "private api v2"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    api.check(id).await;
    assert_eq!(target.last("authorization"), BEARER, "absent config keeps the secrets");

    // A new value replaces the stored one.
    let read = api.call(Method::GET, &format!("/api/v1/services/{id}"), None).await;
    let mut config = read.json["config"].clone();
    config["headers"]["authorization"] = json!(ROTATED);
    let rotated = api.patch(id, json!({"config": config})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(rotated.json["config"]["headers"]["authorization"], MASK);
    api.check(id).await;
    assert_eq!(target.last("authorization"), ROTATED);
    assert_eq!(target.last("x-api-key"), API_KEY, "the other secrets stay");

    // A stored secret never follows the target to another origin unless typed again.
    let moved = api.patch(id, json!({"target": other_origin, "config": config.clone()})).await;
    assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", moved.text);
    assert_eq!(moved.fields(), ["config.headers.x-api-key", "config.headers.x-tenant"], "{}", moved.text);
    let moved = api.patch(id, json!({"target": other_origin})).await;
    assert!(moved.fields().contains(&"config.headers.authorization".to_string()), "{}", moved.text);
    let moved =
        api.patch(basic, json!({"target": format!("http://ops:{MASK}@127.0.0.2:{}/ok", target.addr.port())})).await;
    assert_eq!(moved.fields(), ["target"], "{}", moved.text);
    // A mask with nothing stored behind it is refused.
    let masked = api
        .call(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": "x", "kind": "http", "target": target.url_of("/ok"),
                        "config": {"headers": {"Authorization": MASK}}})),
        )
        .await;
    assert_eq!(masked.fields(), ["config.headers.Authorization"], "{}", masked.text);
    Services { headers: id, userinfo: basic }
}

async fn check_secrets_are_sent_and_never_shown(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let target = Target::start().await;
    let (mut ws, _) = Ws::subscribed(&app, &app.admin_token, None).await;
    for channel in ["services", "incidents"] {
        ws.send(json!({"type": "channels:subscribe", "channel": channel})).await;
    }
    let api =
        Api { base: app.url(""), token: app.admin_token.clone(), client: app.client.clone(), seen: Mutex::default() };
    let services = exercise(&api, &target).await;

    // A service stored before secrets were masked (by an older herald, or
    // written by hand) reads masked and checks with its secret.
    let legacy = json!({"method": "GET", "headers": {"authorization": LEGACY}, "expected_status": ["2xx"],
                        "keyword_absent": false, "max_redirects": 5, "verify_tls": true});
    let id = services.headers;
    on_pool!(app.db, |p| sqlx::query("UPDATE service SET config = $1, target = $2 WHERE id = $3")
        .bind(sqlx::types::Json(&legacy))
        .bind(target.url_of("/ok"))
        .bind(id)
        .execute(p)
        .await
        .map(|_| ())
        .expect("legacy config"));
    let read = api.call(Method::GET, &format!("/api/v1/services/{id}"), None).await;
    assert_eq!(read.json["config"]["headers"]["authorization"], MASK, "{}", read.text);
    assert_eq!(api.check(id).await.json["status"], "up");
    assert_eq!(target.last("authorization"), LEGACY);

    // Everything any role can read, after all that: incidents with their
    // causes, the operators' in-app notifications, alerts and deliveries.
    herald::monitoring::workers::service_alerts::evaluate_once(&app.state.monitoring, &app.state.alerts)
        .await
        .expect("evaluate");
    let mut tokens = vec![Some(app.admin_token.clone()), None];
    for role in ["operator", "member", "sender"] {
        tokens.push(Some(app.user_with_token(&format!("{role}@example.com"), role).await.1));
    }
    let incidents = app.get("/api/v1/incidents", &app.admin_token).await;
    assert!(!incidents.json["items"].as_array().expect("items").is_empty(), "the failing check opened an incident");
    let mut paths = vec!["/api/v1/services".to_string(), "/api/v1/incidents".into(), "/api/v1/alerts".into()];
    paths.extend(["/api/v1/notifications".into(), "/api/v1/status".into(), "/api/v1/me".into()]);
    for service in [services.headers, services.userinfo] {
        for suffix in ["", "/uptime", "/metrics", "/trends"] {
            paths.push(format!("/api/v1/services/{service}{suffix}"));
        }
    }
    for item in incidents.json["items"].as_array().expect("items") {
        paths.push(format!("/api/v1/incidents/{}", item["id"]));
    }
    for alert in app.get("/api/v1/alerts", &app.admin_token).await.json["items"].as_array().expect("alerts") {
        paths.push(format!("/api/v1/alerts/{}", alert["id"]));
    }
    for path in &paths {
        for token in &tokens {
            let reply = app.call(Method::GET, path, token.as_deref(), None).await;
            assert_clean(&reply.text, &format!("GET {path}"));
        }
    }
    for text in api.seen.lock().unwrap().iter() {
        assert_clean(text, "a response of the flows");
    }
    let stored: Vec<(Option<String>,)> =
        on_pool!(app.db, |p| sqlx::query_as("SELECT error FROM service_metric").fetch_all(p).await.expect("results"));
    assert!(stored.iter().any(|(e,)| e.as_deref().is_some_and(|e| e.contains(MASK))), "errors were stored");
    for (error,) in &stored {
        assert_clean(error.as_deref().unwrap_or_default(), "a stored check result");
    }
    let mut frames = 0;
    while let Some(frame) = ws.recv_within(Duration::from_millis(300)).await {
        frames += 1;
        assert_clean(&frame.to_string(), "a realtime event");
    }
    assert!(frames > 0, "the realtime channels carried the changes");
    app.stop().await.expect("stop");
}

/// The real binary at `debug` for everything (herald, sqlx, hyper,
/// reqwest), its standard error in a file, the same flows, then a search.
async fn check_secrets_never_reach_the_debug_log(backend: Backend) {
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match postgres_database() {
            Some(url) => Some(url),
            None => return,
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("herald.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.current_dir(dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_LOG_LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::create(&log_path).unwrap()));
    if let Some(url) = &database_url {
        command.env("HERALD_DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("spawn herald");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let address = first.split("http://").nth(1).and_then(|s| s.split_whitespace().next()).expect("address").to_string();
    let token = lines
        .by_ref()
        .take(8)
        .map(|l| l.unwrap().trim().to_string())
        .find(|l| l.starts_with("hld_"))
        .expect("the admin token");

    let target = Target::start().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let api = Api { base: format!("http://{address}"), token, client, seen: Mutex::default() };
    let services = exercise(&api, &target).await;
    // A service the scheduler checks on its own, with its own log lines.
    let scheduled = api
        .call(
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": "scheduled", "kind": "http", "target": target.url_of("/echo"), "interval_seconds": 10,
                        "config": {"headers": {"Authorization": BEARER, "X-Scheduled": "yes"},
                                   "json_pointer": "/auth", "json_expected": "nope"}})),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.text);
    let by_scheduler = |requests: &[crate::harness::target::Request]| {
        requests.iter().filter(|r| r.headers.contains_key("x-scheduled")).count()
    };
    target.until(Duration::from_secs(30), |requests| by_scheduler(requests) >= 1).await;
    api.call(Method::DELETE, &format!("/api/v1/services/{}", services.userinfo), None).await;

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "herald did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("DEBUG"), "the log is at debug level: {}", &log[..log.len().min(2000)]);
    assert!(log.contains("/api/v1/services"), "the log covers the flows");
    for secret in secrets() {
        let line = log.lines().find(|l| l.contains(&secret));
        assert!(line.is_none(), "the debug log contains {secret:?}: {line:?}");
    }
    assert!(by_scheduler(&target.requests()) >= 1, "the scheduler checked the service on its own");
}
