//! The http kind against an axum server started per test.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Redirect;
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::tls::{TestCa, counting_server, tls_server};
use super::{TIMEOUT, error, probe, run};
use crate::monitoring::checks::{CheckStatus, Checker, Kind};

async fn echo(method: Method, headers: HeaderMap, body: String) -> String {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    format!("{method} x-check={} body={body} auth={}", header("x-check"), header("authorization"))
}

/// Serves the behaviours the tests need; returns its base URL.
async fn server() -> String {
    let app = Router::new()
        .route("/ok", get(|| async { "all systems ok" }))
        .route("/fail", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/json", get(|| async { axum::Json(json!({"status": "up", "checks": {"db": 1}})) }))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/moved", get(|| async { Redirect::temporary("/ok") }))
        .route("/see-other", any(|| async { Redirect::to("/echo") }))
        .route("/keep", any(|| async { Redirect::temporary("/echo") }))
        .route("/big", get(|| async { format!("{}needle", "a".repeat(1024 * 1024 + 10)) }))
        .route("/echo", any(echo));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn check(path: &str, config: Value) -> crate::monitoring::checks::Outcome {
    run(Kind::Http, &format!("{}{path}", server().await), config).await
}

#[tokio::test]
async fn healthy_endpoint_is_up() {
    let outcome = check("/ok", json!(null)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.status_code, Some(200));
    assert_eq!(outcome.error, None);
    assert!(outcome.latency > Duration::ZERO && outcome.latency < TIMEOUT);
}

#[tokio::test]
async fn status_outside_expected_is_down() {
    let outcome = check("/fail", json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.status_code, Some(503));
    assert_eq!(error(&outcome), "status 503 not in 2xx");

    let outcome = check("/fail", json!({"expected_status": ["500-503", 200]})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let outcome = check("/ok", json!({"expected_status": [204, "3xx"]})).await;
    assert_eq!(error(&outcome), "status 200 not in 204, 3xx");
}

#[tokio::test]
async fn slow_response_ends_at_the_timeout() {
    let url = format!("{}/slow", server().await);
    let checker = Checker::new().unwrap();
    let outcome = checker.run(&probe(Kind::Http, &url, json!({})), Duration::from_millis(300)).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "timed out after 300 ms");
    assert!(outcome.latency >= Duration::from_millis(300) && outcome.latency < Duration::from_secs(3));
}

#[tokio::test]
async fn keyword_must_appear_or_be_absent() {
    assert_eq!(check("/ok", json!({"keyword": "ok"})).await.status, CheckStatus::Up);
    let outcome = check("/ok", json!({"keyword": "maintenance"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "keyword \"maintenance\" not found");

    let absent = json!({"keyword": "maintenance", "keyword_absent": true});
    assert_eq!(check("/ok", absent).await.status, CheckStatus::Up);
    let outcome = check("/ok", json!({"keyword": "systems", "keyword_absent": true})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "keyword \"systems\" found");
}

#[tokio::test]
async fn body_is_read_up_to_one_mib() {
    let outcome = check("/big", json!({"keyword": "needle"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "keyword \"needle\" not found in the first 1 MiB of the body");
    assert_eq!(check("/big", json!({"keyword": "aaaa"})).await.status, CheckStatus::Up);
}

#[tokio::test]
async fn json_pointer_must_exist_and_match() {
    assert_eq!(check("/json", json!({"json_pointer": "/status"})).await.status, CheckStatus::Up);
    let up = json!({"json_pointer": "/status", "json_expected": "up"});
    assert_eq!(check("/json", up).await.status, CheckStatus::Up);
    let number = json!({"json_pointer": "/checks/db", "json_expected": 1.0});
    assert_eq!(check("/json", number).await.status, CheckStatus::Up, "1 equals 1.0");

    let outcome = check("/json", json!({"json_pointer": "/status", "json_expected": "down"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "JSON at \"/status\" is \"up\", expected \"down\"");
    let outcome = check("/json", json!({"json_pointer": "/missing"})).await;
    assert_eq!(error(&outcome), "JSON pointer \"/missing\" not found");
    let outcome = check("/ok", json!({"json_pointer": "/status"})).await;
    assert!(error(&outcome).starts_with("body is not JSON"), "{outcome:?}");
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let outcome = check("/moved", json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.status_code, Some(200));

    let outcome = check("/loop", json!({"max_redirects": 3})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "too many redirects (more than 3)");

    let outcome = check("/moved", json!({"max_redirects": 0})).await;
    assert_eq!(outcome.status_code, Some(307));
    assert_eq!(error(&outcome), "status 307 not in 2xx");
    assert_eq!(check("/moved", json!({"max_redirects": 0, "expected_status": ["3xx"]})).await.status, CheckStatus::Up);
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let config = json!({
        "method": "POST",
        "headers": {"X-Check": "herald"},
        "body": "ping",
        "keyword": "POST x-check=herald body=ping",
    });
    let outcome = check("/echo", config).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}

#[tokio::test]
async fn redirects_change_method_and_credentials_as_browsers_do() {
    let base = server().await;
    let config = |keyword: &str| json!({"method": "POST", "body": "ping", "headers": {"Authorization": "Bearer s3cret"}, "keyword": keyword});
    // 303: the next request is a GET without the body.
    let outcome = run(Kind::Http, &format!("{base}/see-other"), config("GET x-check=- body= auth=Bearer s3cret")).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    // 307: method and body kept.
    let outcome = run(Kind::Http, &format!("{base}/keep"), config("POST x-check=- body=ping auth=Bearer s3cret")).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    // To another origin: the credentials stay behind.
    let reply = format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {base}/echo\r\ncontent-length: 0\r\n\r\n");
    let hop = raw_server(Box::leak(reply.into_bytes().into_boxed_slice())).await;
    let outcome = run(Kind::Http, &hop, config("POST x-check=- body=ping auth=-")).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}

#[tokio::test]
async fn connections_the_server_closes_are_replaced() {
    // Answers once per connection, then closes it without saying so.
    let url = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let checker = Checker::new().unwrap();
    let probe = probe(Kind::Http, &url, json!({"keyword": "ok"}));
    for i in 0..5 {
        let outcome = checker.run(&probe, TIMEOUT).await;
        assert_eq!(outcome.status, CheckStatus::Up, "check {i}: {outcome:?}");
        if i % 2 == 0 {
            // Time for the close to arrive before the next checkout.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn refused_connection_is_down() {
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let outcome = run(Kind::Http, &format!("http://{addr}/"), json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.status_code, None);
    assert_eq!(error(&outcome), "connection refused");
}

#[tokio::test]
async fn checks_reuse_one_connection() {
    let (addr, accepted) = counting_server().await;
    let checker = Checker::new().unwrap();
    let probe = probe(Kind::Http, &format!("http://{addr}/"), json!({}));
    for _ in 0..10 {
        assert_eq!(checker.run(&probe, TIMEOUT).await.status, CheckStatus::Up);
    }
    // One, normally; a second when a check starts before the pool has the
    // first connection back. Without reuse it would be ten.
    let connections = accepted.load(Ordering::SeqCst);
    assert!((1..=2).contains(&connections), "ten checks took {connections} connections");
}

#[tokio::test]
async fn https_verifies_certificates_unless_told_not_to() {
    let ca = TestCa::new();
    let (chain, key) = ca.leaf("127.0.0.1", time::OffsetDateTime::now_utc() + time::Duration::days(30));
    let url = format!("https://{}/", tls_server(chain, key).await);

    let trusting = Checker::with_extra_roots(vec![ca.cert.clone()]).unwrap();
    let outcome = trusting.run(&probe(Kind::Http, &url, json!({})), TIMEOUT).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");

    let plain = Checker::new().unwrap();
    let outcome = plain.run(&probe(Kind::Http, &url, json!({})), TIMEOUT).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "certificate verify failed: issuer not trusted");

    let outcome = plain.run(&probe(Kind::Http, &url, json!({"verify_tls": false})), TIMEOUT).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}

/// A server that answers every connection with `reply` and closes it.
async fn raw_server(reply: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(reply).await;
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn broken_responses_are_down_not_panics() {
    let cut = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b").await;
    let outcome = run(Kind::Http, &cut, json!({"keyword": "ten"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.status_code, Some(200));
    assert!(error(&outcome).starts_with("reading the body failed"), "{outcome:?}");

    let garbage = raw_server(b"SSH-2.0-OpenSSH_9.6\r\n").await;
    let outcome = run(Kind::Http, &garbage, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.status_code, None);
    assert!(!error(&outcome).is_empty());
}

#[tokio::test]
async fn secret_headers_do_not_follow_redirects_to_another_host() {
    let base = server().await;
    let config = json!({"headers": {"X-Api-Key": "k-123456"}, "keyword": "auth=-"});
    // On the same host the redirect is followed with the key.
    assert_eq!(run(Kind::Http, &format!("{base}/keep"), config.clone()).await.status, CheckStatus::Up);
    // To another host reqwest would forward a custom header: not followed.
    let reply = format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {base}/echo\r\ncontent-length: 0\r\n\r\n");
    let hop = raw_server(Box::leak(reply.into_bytes().into_boxed_slice())).await;
    let outcome = run(Kind::Http, &hop, config).await;
    assert_eq!(outcome.status, CheckStatus::Down, "{outcome:?}");
    assert!(error(&outcome).contains("not followed: the check's secret headers"), "{outcome:?}");
    assert!(error(&outcome).contains(&base), "names where it was sent: {outcome:?}");
    // Without a secret of that kind the same hop is followed.
    let outcome = run(Kind::Http, &hop, json!({"headers": {"X-Check": "plain"}})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}
