//! The `email` kind's config: the SMTP server, how to reach it safely,
//! and who gets the message.

use std::net::IpAddr;

use lettre::message::Mailbox;
use serde_json::Value;

use super::config::{FieldError, Fields, MAX_RECIPIENTS, Parsed};
use crate::secret::Secret;
use crate::validation::is_host_name;

const MAX_USERNAME_CHARS: usize = 256;
const MAX_PASSWORD_CHARS: usize = 1024;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connect, then STARTTLS, required (port 587 by default).
    StartTls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
    /// No encryption (port 25 by default); credentials only on loopback.
    None,
}

impl SmtpSecurity {
    const ALL: [SmtpSecurity; 3] = [SmtpSecurity::StartTls, SmtpSecurity::Tls, SmtpSecurity::None];

    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }
}

/// Email through an SMTP submission server.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// A lowercased host name or an IP address.
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) security: SmtpSecurity,
    /// With `password`: authenticate. Never one without the other.
    pub(super) username: Option<String>,
    pub(super) password: Option<Secret>,
    pub(super) from: Mailbox,
    /// 1 to [`MAX_RECIPIENTS`].
    pub(super) to: Vec<Mailbox>,
}

impl EmailConfig {
    pub(super) fn parse(config: &Value, previous: Option<&Self>) -> Result<Parsed, Vec<FieldError>> {
        let mut f = Fields::new(
            config,
            "config",
            &["host", "port", "security", "username", "password", "from", "to"],
            &["password_set"],
        );
        let host = f.required("host").and_then(|raw| f.check("host", smtp_host(raw)));
        let security = match f.string("security") {
            None => SmtpSecurity::StartTls,
            Some(raw) => SmtpSecurity::ALL.into_iter().find(|s| s.as_str() == raw).unwrap_or_else(|| {
                f.error("security", "must be one of starttls, tls, none");
                SmtpSecurity::StartTls
            }),
        };
        let port = match f.value("port") {
            None => security.default_port(),
            Some(v) => match v.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|&n| n > 0) {
                Some(port) => port,
                None => {
                    f.error("port", "must be an integer from 1 to 65535");
                    security.default_port()
                }
            },
        };
        let username = f.string("username").and_then(|raw| {
            let ok = !raw.is_empty() && raw.chars().count() <= MAX_USERNAME_CHARS && !raw.chars().any(char::is_control);
            if ok { Some(raw.to_string()) } else { f.error_none("username", "must be 1 to 256 characters") }
        });
        let password = match (f.string("password"), &username) {
            (Some(_), None) => f.error_none("password", "needs config.username"),
            (Some(raw), Some(_)) => {
                let ok = !raw.is_empty() && raw.chars().count() <= MAX_PASSWORD_CHARS;
                if ok { Some(Secret::new(raw)) } else { f.error_none("password", "must be 1 to 1024 characters") }
            }
            (None, Some(_)) => match previous.and_then(|p| p.password.clone()) {
                Some(stored) => Some(stored),
                None => f.error_none("password", "is required when config.username is set"),
            },
            (None, None) => None,
        };
        if username.is_some() && security == SmtpSecurity::None && host.as_deref().is_some_and(|h| !is_loopback(h)) {
            f.error("security", "credentials are only sent over starttls or tls (or to a loopback host)");
        }
        let from = f.required("from").and_then(|raw| f.check("from", mailbox(raw)));
        let to = parse_recipients(&mut f);
        match (host, from) {
            (Some(host), Some(from)) => {
                f.finish(Parsed::Email(Self { host, port, security, username, password, from, to }))
            }
            _ => Err(f.errors),
        }
    }
}

fn parse_recipients(f: &mut Fields<'_>) -> Vec<Mailbox> {
    let Some(value) = f.value("to") else {
        f.error("to", "is required: 1 to 20 addresses");
        return Vec::new();
    };
    let Some(list) = value.as_array().filter(|l| (1..=MAX_RECIPIENTS).contains(&l.len())) else {
        f.error("to", format!("must be a list of 1 to {MAX_RECIPIENTS} addresses"));
        return Vec::new();
    };
    let mut to = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = format!("to[{i}]");
        match item.as_str().map(mailbox) {
            Some(Ok(address)) => to.push(address),
            Some(Err(message)) => f.error(&field, message),
            None => f.error(&field, "must be a string"),
        }
    }
    to
}

/// A host name or an IP address (IPv6 without brackets), lowercased.
fn smtp_host(raw: &str) -> Result<String, String> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = raw.strip_suffix('.').unwrap_or(raw);
    if is_host_name(raw) { Ok(name.to_ascii_lowercase()) } else { Err("must be a host name or an IP address".into()) }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `alerts@example.com` or `Herald <alerts@example.com>`.
fn mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.trim().parse::<Mailbox>().map_err(|_| format!("{raw:?} is not an email address"))
}
