//! The suite's one HTTP target for checks: a real server on 127.0.0.1
//! whose answer the test switches ([`Mode`]), which records every request
//! it gets (path, query, headers) and lets a test await the next ones.
//! `/echo` always answers `{"auth": <the Authorization header>}`, for the
//! tests about secrets a target may echo back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::watch;

/// What the target answers (every path but `/echo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 `status: ok`.
    Healthy = 0,
    /// 503 `status: failing`.
    Failing = 1,
    /// 200 after 400 ms.
    Slow = 2,
    /// 200 without the word the checks look for.
    WrongKeyword = 3,
    /// No answer for 30 s.
    Hanging = 4,
}

/// One request the target received.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

#[derive(Clone)]
struct Shared {
    mode: Arc<AtomicU8>,
    seen: Arc<Mutex<Vec<Request>>>,
    /// The number of requests so far, for tests that await more.
    count: watch::Sender<usize>,
}

pub struct Target {
    pub addr: SocketAddr,
    shared: Shared,
}

async fn answer(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let request = Request { path: path.clone(), query: uri.query().unwrap_or_default().to_string(), headers };
    let n = {
        let mut seen = shared.seen.lock().expect("seen");
        seen.push(request);
        seen.len()
    };
    shared.count.send_replace(n);
    if path == "/echo" {
        return axum::Json(json!({"auth": auth})).into_response();
    }
    let mode = shared.mode.load(Ordering::SeqCst);
    match mode {
        0 => (StatusCode::OK, "status: ok").into_response(),
        1 => (StatusCode::SERVICE_UNAVAILABLE, "status: failing").into_response(),
        2 => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            (StatusCode::OK, "status: ok").into_response()
        }
        3 => (StatusCode::OK, "status: maintenance page").into_response(),
        _ => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, "status: ok").into_response()
        }
    }
}

impl Target {
    pub async fn start() -> Target {
        let shared = Shared {
            mode: Arc::new(AtomicU8::new(Mode::Healthy as u8)),
            seen: Arc::default(),
            count: watch::channel(0).0,
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind target");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Target { addr, shared }
    }

    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// The health URL the checks in most tests point at.
    pub fn url(&self) -> String {
        self.url_of("/health")
    }

    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.shared.seen.lock().expect("seen").len()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.seen.lock().expect("seen").clone()
    }

    /// The `name` header of the last request.
    pub fn last(&self, name: &str) -> String {
        let seen = self.shared.seen.lock().expect("seen");
        let last = seen.last().expect("the target was called");
        last.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }

    /// The query string of the last request to `path`.
    pub fn last_query(&self, path: &str) -> String {
        let seen = self.shared.seen.lock().expect("seen");
        seen.iter().rev().find(|r| r.path == path).map(|r| r.query.clone()).unwrap_or_default()
    }

    /// Wait until `done(requests)` holds, at most `within`; whether it did.
    pub async fn until(&self, within: Duration, done: impl Fn(&[Request]) -> bool) -> bool {
        let mut count = self.shared.count.subscribe();
        let wait = count.wait_for(|_| done(&self.shared.seen.lock().expect("seen")));
        matches!(tokio::time::timeout(within, wait).await, Ok(Ok(_)))
    }
}
