//! Performing one check of a monitored service: an HTTP request, a TCP
//! connect, a DNS lookup or a TLS handshake, judged into an [`Outcome`].
//!
//! [`parse`] turns a service's kind, target and `config` JSON into a
//! [`Probe`] that cannot hold an invalid value; [`Checker::run`] performs
//! it. The [`Checker`] is built once at start-up and cloned freely: it
//! keeps the HTTP clients (and so their connection pools and TLS session
//! caches), the DNS resolvers and the TLS root store, so a check costs a
//! request, not a client. Latency-based degradation is the caller's: an
//! outcome only says what the service answered.
//!
//! # Targets and `config` by kind
//! `config` may be `null` or `{}`; a key set to `null` takes its default
//! (except `json_expected`, where `null` is the value to expect); unknown
//! keys are errors.
//! - `http`: target an absolute `http://`/`https://` URL. `method` (`GET`;
//!   HEAD, POST, PUT, PATCH, DELETE, OPTIONS), `headers` (`{}`; at most 32,
//!   names rendered lowercase, no `Host`, framing or hop-by-hop headers),
//!   `body` (≤ 64 KiB), `expected_status` (`["2xx"]`; codes render as
//!   numbers, classes as `"3xx"`, ranges as `"200-299"`), `keyword`,
//!   `keyword_absent` (`false`), `json_pointer` (RFC 6901) and
//!   `json_expected` (numbers compare by value), `max_redirects` (`5`, 0–10;
//!   0 = a 3xx is the answer), `verify_tls` (`true`), `secret_headers`
//!   (names of headers whose values are secret beyond the default rule of
//!   [`secrets`]). The body is read up to 1 MiB. Secret header values and
//!   the target's user-info and secret query values are write-only: reads
//!   show [`secrets::MASK`], and check errors never quote them.
//! - `tcp`: target `host:port` (`[::1]:443`); no config.
//! - `dns`: target a host name. `record_type` (`"A"`; AAAA, CNAME, MX,
//!   TXT), `expected` (an IP for A/AAAA, a name for CNAME/MX — the MX
//!   exchange, compared case-insensitively without the final dot — exact
//!   text for TXT), `resolver` (`ip:port`, port 53 if omitted; default the
//!   system configuration).
//! - `tls`: target `host[:port]`, port 443 by default.
//!   `expiry_warning_days` (`14`, 1–365).
//! - `heartbeat`: empty target. `grace_seconds` (`60`, 0–86400).

mod config;
mod dns;
mod http;
mod http_config;
pub mod secrets;
mod target;
mod tcp;
mod tls;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub use config::{
    DnsProbe, FieldError, HeartbeatProbe, Kind, Probe, RecordType, TcpProbe, TlsProbe, parse, parse_input,
};
pub use http_config::{HttpProbe, StatusMatch};
/// A DER certificate, for [`Checker::with_extra_roots`].
pub use rustls::pki_types::CertificateDer;
pub use target::HostPort;

/// How a check went, before the caller applies latency thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    /// Answering, but with a warning (a certificate about to expire).
    Degraded,
    Down,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Up => "up",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Down => "down",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: CheckStatus,
    /// From the start of the check to the full answer (body read, handshake done).
    pub latency: Duration,
    /// The HTTP status of the final response, when there was one.
    pub status_code: Option<u16>,
    /// A short human reason when not up.
    pub error: Option<String>,
    /// The leaf certificate's notAfter, for TLS checks.
    pub cert_expires_at: Option<DateTime<Utc>>,
}

impl Outcome {
    fn up(latency: Duration) -> Self {
        Self { status: CheckStatus::Up, latency, status_code: None, error: None, cert_expires_at: None }
    }

    fn down(latency: Duration, error: impl Into<String>) -> Self {
        Self { status: CheckStatus::Down, latency, status_code: None, error: Some(error.into()), cert_expires_at: None }
    }
}

/// Why a [`Checker`] could not be built: only at start-up.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    #[error("TLS client setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("certificate verifier setup failed: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// Runs checks; cheap to clone, built once.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

struct Inner {
    http: http::Clients,
    tls: tls::TlsChecker,
    dns: dns::Resolvers,
}

impl Checker {
    /// A checker trusting the Mozilla root programme (`webpki-roots`).
    pub fn new() -> Result<Self, CheckerError> {
        Self::with_extra_roots(Vec::new())
    }

    /// A checker that also trusts `roots`: a private CA, or a test's own.
    pub fn with_extra_roots(roots: Vec<CertificateDer<'static>>) -> Result<Self, CheckerError> {
        let tls = tls::TlsSetup::new(roots)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http: http::Clients::new(&tls)?,
                tls: tls::TlsChecker::new(&tls)?,
                dns: dns::Resolvers::new(),
            }),
        })
    }

    /// Perform `probe` once. Everything (name lookup, connect, TLS,
    /// redirects, reading the body) is bounded by `timeout`; a hang ends
    /// at the timeout as `Down`.
    pub async fn run(&self, probe: &Probe, timeout: Duration) -> Outcome {
        let start = Instant::now();
        let check = async {
            match probe {
                Probe::Http(p) => http::run(&self.inner.http, p, start).await,
                Probe::Tcp(p) => tcp::run(p, start).await,
                Probe::Dns(p) => dns::run(&self.inner.dns, p, start).await,
                Probe::Tls(p) => tls::run(&self.inner.tls, p, start).await,
                Probe::Heartbeat(_) => Outcome::down(start.elapsed(), "heartbeats are pushed, not polled"),
            }
        };
        match tokio::time::timeout(timeout, check).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::down(start.elapsed(), format!("timed out after {}", human_duration(timeout))),
        }
    }
}

/// `10 s` for whole seconds, `1500 ms` otherwise.
fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
}

/// At most `max` characters of `s`, marked when cut: error texts quote
/// what servers send, and a server decides how long that is.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}
