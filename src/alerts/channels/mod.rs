//! Delivery channels: where an alert is sent, and sending it.
//!
//! [`parse`] turns a channel's kind and `config` JSON into a
//! [`ChannelConfig`] that cannot hold an invalid value, with write-only
//! secrets; [`Sender::send`] delivers one
//! [`Delivery`] through it, once. Retrying, the outbox, rules and storage
//! are the caller's: a [`DeliveryError`] says whether trying again can help.
//! Nothing here touches the database.
//!
//! # `config` by kind
//! `config` may be `null` or `{}` where nothing is required; unknown keys
//! are errors; secrets (marked *write-only*) are never returned: the
//! public form has `<name>_set: true` instead.
//! - `in_app`: no config. Not sent by [`Sender`]: the caller notifies every
//!   operator and admin through the notifications service.
//! - `webhook`: `url` (http/https, no credentials in it), `secret`
//!   (write-only, 16–256 characters, required on create). A JSON POST
//!   `{"event": "alert.firing" | "alert.resolved" | "test", "alert": {…}}`
//!   signed with `X-Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
//!   of "<t>.<raw body>">`; receivers check it with [`verify`].
//! - `slack`, `discord`: `url` of the incoming webhook (write-only: it
//!   embeds the token).
//! - `ntfy`: `url`, the full topic URL; `token` (write-only, optional,
//!   sent as a bearer token; `null` removes it). Priority from severity:
//!   info 3, warning 4, critical 5 (a resolution 3).
//! - `email`: `host`, `port` (by `security`: 587, 465 or 25), `security`
//!   (`starttls` default, `tls`, `none`), `username` with `password`
//!   (write-only, required with a username on create; over `none` only to
//!   a loopback host), `from` and `to` (1–20) as `a@b.c` or `Name <a@b.c>`.
//!
//! No HTTP redirect is followed: a notification endpoint that redirects is
//! misconfigured, and following it would send the alert somewhere else.

mod chat;
mod config;
mod email;
mod email_config;
mod http;
mod ntfy;
mod webhook;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use config::{
    ChannelConfig, ChannelKind, ChatConfig, EmailConfig, FieldError, NtfyConfig, SmtpSecurity, WebhookConfig, parse,
};
/// A DER certificate, for [`Sender::with_extra_roots`].
pub use rustls::pki_types::CertificateDer;
pub use webhook::{SIGNATURE_HEADER, sign, verify};

/// How serious an alert is; ordered, so `severity >= min_severity` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).ok_or_else(|| "must be one of info, warning, critical".into())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl TryFrom<String> for Severity {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    #[serde(rename = "alert.firing")]
    Firing,
    #[serde(rename = "alert.resolved")]
    Resolved,
    /// `POST /api/v1/alert-channels/{id}/test`.
    #[serde(rename = "test")]
    Test,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Firing => "alert.firing",
            Event::Resolved => "alert.resolved",
            Event::Test => "test",
        }
    }
}

/// One message to deliver through one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub event: Event,
    /// The alert as the API renders it; the webhook body carries it as is.
    pub alert: Value,
    pub severity: Severity,
    /// One line: the email subject, the chat title, the ntfy title.
    pub title: String,
    /// The human body under the title.
    pub text: String,
}

impl Delivery {
    /// The title, or a stand-in when it is blank: every channel needs one.
    fn heading(&self) -> &str {
        if self.title.trim().is_empty() {
            match self.event {
                Event::Test => "herald test message",
                _ => "herald alert",
            }
        } else {
            &self.title
        }
    }
}

/// Why a delivery failed. `message` is short and holds no secret (no
/// token-bearing URL, no password), so it may be stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// Trying again later may succeed: 5xx, 408, 429, connect failures and
    /// timeouts; not other 4xx, redirects or a rejected email.
    pub retryable: bool,
}

impl DeliveryError {
    fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false }
    }
}

/// Why a [`Sender`] could not be built: only at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("TLS client setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("HTTP client setup failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// Sends deliveries; cheap to clone, built once at start-up so the HTTP
/// connection pool and TLS sessions are shared by every delivery.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    http: http::Http,
    /// Trusted for SMTP as well as HTTP, on top of `webpki-roots`.
    extra_roots: Vec<CertificateDer<'static>>,
    timeouts: Timeouts,
}

/// How long a delivery may take.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    /// TCP connect of an HTTP delivery.
    connect: Duration,
    /// A whole HTTP delivery, and each SMTP command.
    total: Duration,
    /// A whole email: connect, greeting, STARTTLS, auth and the message.
    email: Duration,
}

const TIMEOUTS: Timeouts =
    Timeouts { connect: Duration::from_secs(5), total: Duration::from_secs(10), email: Duration::from_secs(30) };

impl Sender {
    /// A sender trusting the Mozilla root programme (`webpki-roots`).
    pub fn new() -> Result<Self, SenderError> {
        Self::with_extra_roots(Vec::new())
    }

    /// A sender that also trusts `roots`: a private CA, or a test's own.
    pub fn with_extra_roots(roots: Vec<CertificateDer<'static>>) -> Result<Self, SenderError> {
        Self::build(roots, TIMEOUTS)
    }

    fn build(roots: Vec<CertificateDer<'static>>, timeouts: Timeouts) -> Result<Self, SenderError> {
        let http = http::Http::new(&roots, timeouts)?;
        Ok(Self { inner: Arc::new(Inner { http, extra_roots: roots, timeouts }) })
    }

    /// Deliver once through `config`. `now` dates the webhook signature.
    /// An `in_app` config is refused: the caller delivers those itself.
    pub async fn send(
        &self,
        config: &ChannelConfig,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let http = &self.inner.http;
        match config {
            ChannelConfig::InApp => {
                Err(DeliveryError::permanent("in-app channels are delivered through the notifications service"))
            }
            ChannelConfig::Webhook(c) => webhook::send(http, c, delivery, now).await,
            ChannelConfig::Slack(c) => chat::send_slack(http, c, delivery).await,
            ChannelConfig::Discord(c) => chat::send_discord(http, c, delivery).await,
            ChannelConfig::Ntfy(c) => ntfy::send(http, c, delivery).await,
            ChannelConfig::Email(c) => email::send(c, delivery, &self.inner.extra_roots, self.inner.timeouts).await,
        }
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("extra_roots", &self.inner.extra_roots.len()).finish_non_exhaustive()
    }
}

/// At most `max` (≥ 1) characters of `s`, the last one `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().nth(max).is_none() {
        return s.to_string();
    }
    let keep = s.char_indices().nth(max.saturating_sub(1)).map_or(s.len(), |(at, _)| at);
    format!("{}…", &s[..keep])
}

/// `message` with every non-empty `secret` in it replaced by `***`: error
/// texts quote what servers answer, and a server may echo a request path.
fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut message = message.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        message = message.replace(secret, "***");
    }
    message
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` on one line (control characters become spaces), at most `max`
/// characters: for headers such as a subject or a title.
fn one_line(s: &str, max: usize) -> String {
    let line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    clip(line.trim(), max)
}
