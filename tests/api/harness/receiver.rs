//! The suite's one webhook receiver: a real server on 127.0.0.1 that checks
//! herald's signature, can refuse the next requests with a status, and
//! lets a test await the requests it accepts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::watch;

/// The secret the tests' webhook channels sign with.
pub const SECRET: &str = "a-webhook-secret-of-some-length";

/// What the receiver saw: (signature valid, event, body) per request it
/// accepted, and how many it refused.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) accepted: Vec<(bool, String, Value)>,
    refused: usize,
    /// Answer this status to the next requests while > 0 of them remain.
    fail_next: usize,
    fail_status: u16,
}

/// A real webhook receiver on 127.0.0.1 that checks herald's signature.
#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Seen>>,
    /// Requests accepted so far, for tests that await more.
    accepted: watch::Sender<usize>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let accepted = watch::channel(0).0;
        type Shared = (Arc<Mutex<Seen>>, watch::Sender<usize>);
        async fn hook(State((seen, accepted)): State<Shared>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
            let mut seen = seen.lock().expect("seen");
            if seen.fail_next > 0 {
                seen.fail_next -= 1;
                seen.refused += 1;
                let status = AxumStatus::from_u16(seen.fail_status).unwrap_or(AxumStatus::INTERNAL_SERVER_ERROR);
                return (status, "not now").into_response();
            }
            let signature = headers
                .get(herald::alerts::channels::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let valid = herald::alerts::channels::verify(
                SECRET,
                &signature,
                &body,
                chrono::Utc::now(),
                Duration::from_secs(300),
            );
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let event = json["event"].as_str().unwrap_or_default().to_string();
            seen.accepted.push((valid, event, json));
            accepted.send_replace(seen.accepted.len());
            (AxumStatus::OK, "ok").into_response()
        }
        let app = Router::new().route("/hook", post(hook)).with_state((seen.clone(), accepted.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, seen, accepted }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn fail(&self, requests: usize, status: u16) {
        let mut seen = self.seen.lock().expect("seen");
        seen.fail_next = requests;
        seen.fail_status = status;
    }

    pub fn events(&self) -> Vec<String> {
        self.seen.lock().expect("seen").accepted.iter().map(|(_, e, _)| e.clone()).collect()
    }

    pub fn refused(&self) -> usize {
        self.seen.lock().expect("seen").refused
    }

    pub fn all_signed(&self) -> bool {
        self.seen.lock().expect("seen").accepted.iter().all(|(valid, _, _)| *valid)
    }

    pub fn last(&self) -> Value {
        self.seen.lock().expect("seen").accepted.last().map(|(_, _, b)| b.clone()).unwrap_or(Value::Null)
    }

    /// Wait until `n` requests were accepted (up to 15 s).
    pub async fn wait_for(&self, n: usize) {
        let mut accepted = self.accepted.subscribe();
        let arrived = tokio::time::timeout(Duration::from_secs(15), accepted.wait_for(|count| *count >= n)).await;
        if !matches!(arrived, Ok(Ok(_))) {
            panic!("receiver got {:?}, expected {n} requests", self.events());
        }
    }
}
