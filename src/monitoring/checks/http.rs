//! HTTP checks with reqwest over rustls (HTTP/1.1).
//!
//! reqwest fixes the redirect policy and certificate verification per
//! client, so the checker keeps one client per (`verify_tls`,
//! `max_redirects`) pair actually used — at most 22 — each with its own
//! keep-alive pool and TLS session cache. A service checked every few
//! seconds then reuses its connection instead of paying a TCP and TLS
//! handshake per check, which is most of a check's CPU.

use std::collections::HashMap;
use std::error::Error as _;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Client;
use reqwest::redirect::Policy;
use rustls::ClientConfig;
use serde_json::Value;

use super::http_config::HttpProbe;
use super::tls::{self, TlsSetup};
use super::{CheckerError, Outcome, clip};

/// The most of a response body that is read. Beyond it the rest is
/// dropped (and the connection with it); the keyword is searched in what
/// was read and the error says so.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const USER_AGENT: &str = concat!("herald-monitor/", env!("CARGO_PKG_VERSION"));

pub(super) struct Clients {
    /// TLS configs for non-verifying (0) and verifying (1) clients.
    tls: [ClientConfig; 2],
    cache: Mutex<HashMap<(bool, u32, bool), Client>>,
}

impl Clients {
    pub fn new(setup: &TlsSetup) -> Result<Self, CheckerError> {
        let mut tls = [setup.client_config(false)?, setup.client_config(true)?];
        for config in &mut tls {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(Self { tls, cache: Mutex::new(HashMap::new()) })
    }

    /// The client for these settings, built on first use. `same_host`
    /// clients refuse redirects to another host: their checks carry secret
    /// headers that reqwest would forward there.
    fn get(&self, verify_tls: bool, max_redirects: u32, same_host: bool) -> Result<Client, String> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = cache.get(&(verify_tls, max_redirects, same_host)) {
            return Ok(client.clone());
        }
        let policy = match (max_redirects, same_host) {
            (0, _) => Policy::none(),
            (n, false) => Policy::limited(n as usize),
            (n, true) => Policy::custom(move |attempt| {
                let first =
                    attempt.previous().first().map(|u| (u.host_str().map(str::to_string), u.port_or_known_default()));
                let next = (attempt.url().host_str().map(str::to_string), attempt.url().port_or_known_default());
                if attempt.previous().len() > n as usize {
                    attempt.error(TooManyRedirects)
                } else if first.is_some_and(|first| first != next) {
                    let to = attempt.url().origin().ascii_serialization();
                    attempt.error(OffHost(to))
                } else {
                    attempt.follow()
                }
            }),
        };
        let client = Client::builder()
            .use_preconfigured_tls(self.tls[usize::from(verify_tls)].clone())
            .redirect(policy)
            .user_agent(USER_AGENT)
            // Checks go straight to the target: a proxy from the environment
            // would measure the proxy.
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        cache.insert((verify_tls, max_redirects, same_host), client.clone());
        Ok(client)
    }
}

/// A redirect a `same_host` client refused, with the origin it pointed to.
#[derive(Debug)]
struct OffHost(String);

impl std::fmt::Display for OffHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "redirect to another host ({}) not followed: the check's secret headers are for its own host only",
            self.0
        )
    }
}

impl std::error::Error for OffHost {}

/// More redirects than a custom policy allows.
#[derive(Debug)]
struct TooManyRedirects;

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many redirects")
    }
}

impl std::error::Error for TooManyRedirects {}

/// Run the check; no secret of the probe survives in the outcome's error.
pub(super) async fn run(clients: &Clients, probe: &HttpProbe, start: Instant) -> Outcome {
    let mut outcome = attempt(clients, probe, start).await;
    if let Some(error) = &outcome.error {
        outcome.error = Some(probe.redact(error));
    }
    outcome
}

async fn attempt(clients: &Clients, probe: &HttpProbe, start: Instant) -> Outcome {
    let client = match clients.get(probe.verify_tls, probe.max_redirects, probe.same_host_redirects) {
        Ok(client) => client,
        Err(e) => return Outcome::down(start.elapsed(), e),
    };
    let mut request = client.request(probe.method.clone(), probe.url.clone()).headers(probe.headers.clone());
    if let Some(body) = &probe.body {
        request = request.body(body.clone());
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Outcome::down(start.elapsed(), describe(&e, probe.max_redirects)),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let mut outcome =
                    Outcome::down(start.elapsed(), format!("reading the body failed: {}", describe(&e, 0)));
                outcome.status_code = Some(status);
                return outcome;
            }
        }
    }
    let mut outcome = Outcome::up(start.elapsed());
    outcome.status_code = Some(status);
    if let Err(reason) = judge(probe, status, &body, truncated) {
        outcome.status = super::CheckStatus::Down;
        outcome.error = Some(reason);
    }
    outcome
}

/// The first rule the response breaks, if any.
fn judge(probe: &HttpProbe, status: u16, body: &[u8], truncated: bool) -> Result<(), String> {
    if !probe.expected_status.iter().any(|m| m.matches(status)) {
        return Err(format!("status {status} not in {}", probe.expected_status_text()));
    }
    let where_ = if truncated { " in the first 1 MiB of the body" } else { "" };
    if let Some(keyword) = &probe.keyword {
        let found = String::from_utf8_lossy(body).contains(keyword.as_str());
        let quoted = clip(keyword, 100);
        match (found, probe.keyword_absent) {
            (false, false) => return Err(format!("keyword {quoted:?} not found{where_}")),
            (true, true) => return Err(format!("keyword {quoted:?} found{where_}")),
            _ => {}
        }
    }
    if let Some(pointer) = &probe.json_pointer {
        let document: Value = serde_json::from_slice(body).map_err(|e| {
            let cut = if truncated { " (cut at 1 MiB)" } else { "" };
            format!("body is not JSON{cut}: {e}")
        })?;
        let Some(found) = document.pointer(pointer) else {
            return Err(format!("JSON pointer {pointer:?} not found"));
        };
        if let Some(expected) = &probe.json_expected {
            if !json_eq(found, expected) {
                return Err(format!(
                    "JSON at {pointer:?} is {}, expected {}",
                    // Redacted before it is cut: a cut secret would not match whole.
                    clip(&probe.redact(&found.to_string()), 100),
                    clip(&expected.to_string(), 100)
                ));
            }
        }
    }
    Ok(())
}

/// JSON equality where numbers compare by value: `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A reqwest failure in a few words, from the most specific cause in its chain.
fn describe(e: &reqwest::Error, max_redirects: u32) -> String {
    if e.is_redirect() {
        if let Some(off) = e.source().and_then(|s| s.downcast_ref::<OffHost>()) {
            return off.to_string();
        }
        return format!("too many redirects (more than {max_redirects})");
    }
    let mut dns = false;
    let mut deepest = None;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            let text = tls::describe_io(io);
            let resolved = !dns || text.starts_with("could not resolve host");
            return if resolved { text } else { format!("could not resolve host: {text}") };
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return tls::describe_verify_error(tls);
        }
        dns |= cause.to_string() == "dns error";
        deepest = Some(cause);
        source = cause.source();
    }
    clip(&deepest.map_or_else(|| e.to_string(), ToString::to_string), 200)
}
