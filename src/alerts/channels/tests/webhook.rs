//! The generic webhook against a receiver that checks the signature.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Receiver, Reply, TestCa, channel, closed_port, delivery, now};
use crate::alerts::channels::{ChannelConfig, ChannelKind, Event, Sender, Severity, Timeouts, sign, verify};

const SECRET: &str = "whsec-0123456789abcdef";

fn webhook(url: &str, secret: &str) -> ChannelConfig {
    channel(ChannelKind::Webhook, json!({"url": url, "secret": secret}))
}

#[test]
fn signature_is_hmac_sha256_over_time_and_body() {
    // Computed independently: Python's hmac.new(secret, b"1735689600." + body, sha256).
    let body = br#"{"event":"test","alert":{}}"#;
    assert_eq!(
        sign(SECRET, 1_735_689_600, body),
        "t=1735689600,v1=87b42cb8d4a9f6315928c1367d8979e83bbf9076df6a0096ae3d5ba39fff792e"
    );
}

#[test]
fn verify_refuses_tampering_other_secrets_and_replays() {
    let body = br#"{"event":"alert.firing","alert":{"id":"a"}}"#;
    let t = now().timestamp();
    let header = sign(SECRET, t, body);
    let tolerance = Duration::from_secs(300);
    assert!(verify(SECRET, &header, body, now(), tolerance));
    assert!(!verify(SECRET, &header, br#"{"event":"alert.resolved","alert":{"id":"a"}}"#, now(), tolerance));
    assert!(!verify("another-secret-0000", &header, body, now(), tolerance));

    let later = now() + chrono::Duration::seconds(301);
    assert!(!verify(SECRET, &header, body, later, tolerance), "a replay after the tolerance is refused");
    let earlier = now() - chrono::Duration::seconds(301);
    assert!(!verify(SECRET, &header, body, earlier, tolerance), "a timestamp from the future is refused");
    assert!(verify(SECRET, &header, body, now() + chrono::Duration::seconds(300), tolerance));

    // The timestamp is signed: moving it breaks the signature.
    let moved = header.replace(&format!("t={t}"), &format!("t={}", t + 1));
    assert!(!verify(SECRET, &moved, body, now(), tolerance));
    for malformed in ["", "v1=00", &format!("t={t}"), &format!("t=x,{}", &header[header.find("v1").unwrap()..])] {
        assert!(!verify(SECRET, malformed, body, now(), tolerance), "{malformed:?}");
    }
    let doubled_t = format!("t={},{header}", t - 1);
    assert!(!verify(SECRET, &doubled_t, body, now(), tolerance), "two timestamps are ambiguous");

    // During a rotation a header may carry one signature per secret.
    let other = sign("another-secret-0000", t, body);
    let both = format!("{header},{}", &other[other.find("v1").unwrap()..]);
    assert!(verify(SECRET, &both, body, now(), tolerance));
    assert!(verify("another-secret-0000", &both, body, now(), tolerance));
}

#[tokio::test]
async fn signed_json_reaches_the_receiver() {
    let receiver = Receiver::verifying(SECRET).await;
    let config = webhook(&receiver.url("/hooks/herald?team=ops"), SECRET);
    let sender = Sender::new().unwrap();
    let sent = delivery(Event::Firing, Severity::Critical);
    sender.send(&config, &sent, now()).await.unwrap();

    let got = receiver.only();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/hooks/herald?team=ops");
    assert_eq!(got.header("content-type"), "application/json");
    assert!(got.header("user-agent").starts_with("herald/"), "{:?}", got.header("user-agent"));
    assert_eq!(got.json(), json!({"event": "alert.firing", "alert": sent.alert}));
    let signature = got.header("x-herald-signature");
    assert!(signature.starts_with(&format!("t={},v1=", now().timestamp())), "{signature}");
    assert_eq!(signature, sign(SECRET, now().timestamp(), &got.body));
}

#[tokio::test]
async fn every_event_has_its_wire_name() {
    let receiver = Receiver::verifying(SECRET).await;
    let config = webhook(&receiver.url("/"), SECRET);
    let sender = Sender::new().unwrap();
    for event in [Event::Firing, Event::Resolved, Event::Test] {
        sender.send(&config, &delivery(event, Severity::Warning), now()).await.unwrap();
    }
    let events: Vec<_> = receiver.received().iter().map(|r| r.json()["event"].clone()).collect();
    assert_eq!(events, [json!("alert.firing"), json!("alert.resolved"), json!("test")]);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_for_good() {
    let receiver = Receiver::verifying(SECRET).await;
    let config = webhook(&receiver.url("/"), "not-the-receivers-secret");
    let error = Sender::new().unwrap().send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "HTTP 401: bad signature");
    assert!(!error.retryable);
}

#[tokio::test]
async fn server_errors_are_retried_client_errors_are_not() {
    let receiver = Receiver::verifying(SECRET).await;
    let config = webhook(&receiver.url("/"), SECRET);
    let sender = Sender::new().unwrap();
    let cases = [
        (500, "boom", true),
        (503, "", true),
        (408, "", true),
        (429, "slow down", true),
        (400, "bad request", false),
        (404, "", false),
        (410, "gone", false),
    ];
    for (status, body, retryable) in cases {
        receiver.reply(Reply::Status(status, body));
        let error = sender.send(&config, &delivery(Event::Firing, Severity::Info), now()).await.unwrap_err();
        let expected = if body.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {body}") };
        assert_eq!(error.message, expected);
        assert_eq!(error.retryable, retryable, "{status}");
    }
    // Once the receiver recovers, the same delivery goes through.
    sender.send(&config, &delivery(Event::Firing, Severity::Info), now()).await.unwrap();
    assert_eq!(receiver.received().len(), cases.len() + 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start().await;
    receiver.reply(Reply::Status(307, ""));
    let config = webhook(&receiver.url("/old"), SECRET);
    let error = Sender::new().unwrap().send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "HTTP 307: the receiver redirects, and deliveries do not follow redirects");
    assert!(!error.retryable);
    assert_eq!(receiver.only().path, "/old", "nothing was sent to /elsewhere");
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried() {
    let port = closed_port().await;
    let config = webhook(&format!("http://127.0.0.1:{port}/hook"), SECRET);
    let error = Sender::new().unwrap().send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "connection refused");
    assert!(error.retryable);
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_is_retried() {
    let receiver = Receiver::start().await;
    receiver.reply(Reply::Slow(Duration::from_secs(5)));
    let timeouts =
        Timeouts { connect: Duration::from_secs(1), total: Duration::from_secs(1), email: Duration::from_secs(1) };
    let sender = Sender::build(Vec::new(), timeouts).unwrap();
    let config = webhook(&receiver.url("/"), SECRET);
    let started = std::time::Instant::now();
    let error = sender.send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "delivery timed out after 1 s");
    assert!(error.retryable);
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// An HTTPS server with a certificate from `ca`: reads one request and
/// answers `204`.
async fn https_receiver(ca: &TestCa) -> String {
    let (cert, key) = ca.leaf("127.0.0.1");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.into()], rustls::pki_types::PrivatePkcs8KeyDer::from(key).into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut request = vec![0u8; 16 * 1024];
                let _ = tls.read(&mut request).await;
                let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://{addr}/hook")
}

#[tokio::test]
async fn https_trusts_extra_roots_only_when_given() {
    let ca = TestCa::new();
    let config = webhook(&https_receiver(&ca).await, SECRET);
    let test = delivery(Event::Test, Severity::Info);

    let trusting = Sender::with_extra_roots(vec![ca.cert.clone()]).unwrap();
    trusting.send(&config, &test, now()).await.unwrap();

    let error = Sender::new().unwrap().send(&config, &test, now()).await.unwrap_err();
    assert!(error.message.starts_with("TLS: invalid peer certificate"), "{}", error.message);
    assert!(error.retryable);
}
