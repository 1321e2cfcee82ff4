//! Channels against real receivers on 127.0.0.1, started by each test:
//! an axum server that records what arrives (and checks webhook
//! signatures), and aiosmtpd for email.

mod chat;
mod config;
mod email;
mod ntfy;
mod webhook;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::{ChannelConfig, ChannelKind, Delivery, Event, Severity, parse, verify};

/// A fixed clock for signatures: 2025-01-01T00:00:00Z.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

fn channel(kind: ChannelKind, config: Value) -> ChannelConfig {
    match parse(kind, &config, None) {
        Ok(parsed) => parsed,
        Err(errors) => panic!("{kind} {config} should parse: {errors:?}"),
    }
}

fn delivery(event: Event, severity: Severity) -> Delivery {
    Delivery {
        event,
        alert: json!({
            "id": "alr_1",
            "key": "database.pool_utilization",
            "source": "database",
            "severity": severity.as_str(),
            "state": if event == Event::Resolved { "resolved" } else { "firing" },
            "message": "Pool utilization 85 %",
            "value": 0.85,
            "threshold": 0.8,
            "fired_at": "2025-01-01T00:00:00Z",
            "resolved_at": null,
        }),
        severity,
        title: "Pool utilization over 80 %".into(),
        text: "85 % of 10 connections in use for 5 minutes.".into(),
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    /// Path and query.
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }
}

/// What the receiver answers to the next request.
enum Reply {
    Status(u16, &'static str),
    /// Answer only after this long.
    Slow(Duration),
    /// The status, with a body quoting the request path back.
    EchoPath(u16),
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    replies: Mutex<VecDeque<Reply>>,
    /// When set, requests must carry a valid signature made with it.
    secret: Option<String>,
}

/// An HTTP receiver on 127.0.0.1: records every request and answers
/// `200 ok` unless told otherwise with [`Receiver::reply`].
struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Self {
        Self::serve(ReceiverState::default()).await
    }

    /// A webhook receiver that answers 401 to a request whose
    /// `X-Herald-Signature` does not verify with `secret`.
    async fn verifying(secret: &str) -> Self {
        Self::serve(ReceiverState { secret: Some(secret.into()), ..Default::default() }).await
    }

    async fn serve(state: ReceiverState) -> Self {
        let state = Arc::new(state);
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn reply(&self, reply: Reply) {
        self.state.replies.lock().unwrap().push_back(reply);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The one request received; fails when there were more or none.
    fn only(&self) -> Received {
        let received = self.received();
        assert_eq!(received.len(), 1, "{received:?}");
        received.into_iter().next().unwrap()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_string(), ToString::to_string);
    let request = Received { method, path: path.clone(), headers, body };
    state.received.lock().unwrap().push(request.clone());
    if let Some(secret) = &state.secret {
        let header = request.header("x-herald-signature");
        // The tests sign at `now()`; a real receiver passes its own clock.
        if !verify(secret, header, &request.body, now(), Duration::from_secs(300)) {
            return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
    }
    let reply = state.replies.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::OK, "ok").into_response(),
        Some(Reply::Status(code, body)) => {
            let status = StatusCode::from_u16(code).unwrap();
            if status.is_redirection() {
                (status, [("location", "/elsewhere")], body).into_response()
            } else {
                (status, body).into_response()
            }
        }
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, "late").into_response()
        }
        Some(Reply::EchoPath(code)) => {
            (StatusCode::from_u16(code).unwrap(), format!("no webhook at {path}")).into_response()
        }
    }
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

/// A certificate authority made for one test, and a leaf for 127.0.0.1.
struct TestCa {
    cert: rustls::pki_types::CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "herald channels test CA");
        let cert = params.self_signed(&key).unwrap();
        Self { cert: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A leaf certificate for `name`, and its PKCS#8 key, both DER.
    fn leaf(&self, name: &str) -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![name.to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// DER as PEM, for tools that read only PEM files.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[test]
fn kinds_and_severities_have_wire_names() {
    let names: Vec<&str> = ChannelKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, ["in_app", "webhook", "slack", "discord", "email", "ntfy"]);
    for kind in ChannelKind::ALL {
        assert_eq!(ChannelKind::parse(kind.as_str()), Ok(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    assert!(ChannelKind::parse("sms").is_err());

    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    for severity in Severity::ALL {
        assert_eq!(Severity::parse(severity.as_str()), Ok(severity));
        assert_eq!(serde_json::to_value(severity).unwrap(), json!(severity.as_str()));
    }
    assert_eq!(Severity::parse("fatal"), Err("must be one of info, warning, critical".to_string()));

    let events = [Event::Firing, Event::Resolved, Event::Test].map(|e| e.as_str());
    assert_eq!(events, ["alert.firing", "alert.resolved", "test"]);
    assert_eq!(serde_json::to_value(Event::Firing).unwrap(), json!("alert.firing"));
}

#[tokio::test]
async fn in_app_is_left_to_the_caller() {
    let sender = super::Sender::new().unwrap();
    let error = sender.send(&ChannelConfig::InApp, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "in-app channels are delivered through the notifications service");
}

#[test]
fn clipping_counts_characters() {
    use super::{clip, clip_bytes, one_line};
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("abcd", 3), "ab…");
    assert_eq!(clip("ééé", 2).chars().count(), 2);
    assert_eq!(clip_bytes("aé", 2), "a");
    assert_eq!(one_line(" a\nb\tc ", 10), "a b c");
}
