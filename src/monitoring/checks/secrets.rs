//! Check secrets are write-only: what a check sends to prove who it is
//! (credential headers, the password of a target's user-info) is stored so
//! the check can send it, and shown to nobody.
//!
//! - [`public`] renders a stored target and config for reading: every
//!   secret replaced by [`MASK`]. It works on the stored JSON, so a service
//!   stored by an older herald (before secrets were masked) reads masked too,
//!   and keeps checking with its values untouched.
//! - [`restore`] takes a request's target and config on an update: a
//!   [`MASK`] sent back where a secret is stored keeps the stored value, as
//!   long as the target still points to the same origin (scheme, host and
//!   port); a secret is never carried to another host unless the operator
//!   types it again.
//! - [`HttpProbe::redact`](super::HttpProbe::redact) removes secret values from the texts a
//!   check produces (a server may echo a header back into an error).

use reqwest::Url;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use super::config::{FieldError, Kind};

/// What reads show in place of a secret. Sent back unchanged on an update
/// it means "keep the stored value".
pub const MASK: &str = "********";

/// Headers that always carry credentials.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];
/// A header whose (lower-case) name contains one of these is secret by default.
const SECRET_WORDS: [&str; 4] = ["token", "key", "secret", "auth"];

/// Whether a header's value is a secret: a credential header, a name with
/// a secret-sounding word, or one the operator listed in `secret_headers`.
pub fn is_secret_header(name: &str, marked: &[HeaderName]) -> bool {
    let name = name.to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&name.as_str())
        || SECRET_WORDS.iter().any(|word| name.contains(word))
        || marked.iter().any(|m| m.as_str() == name)
}

/// The header names listed in a stored config's `secret_headers`.
fn marked_headers(config: &Value) -> Vec<HeaderName> {
    config
        .get("secret_headers")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).filter_map(|n| HeaderName::try_from(n).ok()).collect())
        .unwrap_or_default()
}

/// A stored target and config as every reader sees them: secrets masked.
pub fn public(kind: &str, target: &str, config: &Value) -> (String, Value) {
    if kind != Kind::Http.as_str() {
        // No other kind has a secret: a heartbeat's secret is hashed and
        // lives outside the config.
        return (target.to_string(), config.clone());
    }
    (public_url(target), public_http_config(config))
}

/// The URL with its password (if any) masked.
fn public_url(target: &str) -> String {
    match Url::parse(target) {
        Ok(mut url) => {
            if url.password().is_some() {
                // Cannot fail: a URL with a password has a host.
                let _ = url.set_password(Some(MASK));
            }
            url.to_string()
        }
        // Stored targets were parsed as URLs; anything else is not shown.
        Err(_) if target.contains('@') => MASK.to_string(),
        Err(_) => target.to_string(),
    }
}

fn public_http_config(config: &Value) -> Value {
    let marked = marked_headers(config);
    let mut config = config.clone();
    if let Some(headers) = config.get_mut("headers").and_then(Value::as_object_mut) {
        for (name, value) in headers.iter_mut() {
            if is_secret_header(name, &marked) {
                *value = Value::from(MASK);
            }
        }
    }
    config
}

/// The origin a secret belongs to, `scheme://host:port`.
pub(super) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Replace masks in an update's target and HTTP config with the stored
/// values of `previous` (its parsed URL and header values), or report each
/// mask that cannot be restored. Other kinds pass through.
pub fn restore(
    kind: Kind,
    target: &str,
    config: &Value,
    previous: Option<(&Url, &reqwest::header::HeaderMap)>,
) -> Result<(String, Value), Vec<FieldError>> {
    if kind != Kind::Http {
        return Ok((target.to_string(), config.clone()));
    }
    let mut errors = Vec::new();
    let url = Url::parse(target).ok();
    let same_origin = match (&url, previous) {
        (Some(url), Some((before, _))) => origin(url) == origin(before),
        _ => false,
    };
    let moved = |what: &str| match previous {
        Some((before, _)) if !same_origin => format!(
            "{what} is stored for {} only; the target now points elsewhere, so send the value itself",
            origin(before)
        ),
        _ => format!("{MASK} stands for a stored secret, and none is stored here; send the value itself"),
    };

    let mut target = target.to_string();
    if let Some(mut url) = url.filter(|u| u.password() == Some(MASK)) {
        let stored = previous.filter(|(before, _)| same_origin && before.username() == url.username());
        match stored.and_then(|(before, _)| before.password()) {
            Some(password) => {
                let _ = url.set_password(Some(password));
                target = url.to_string();
            }
            None => errors.push(FieldError::new("target", moved("the password"))),
        }
    }

    let mut config = config.clone();
    let headers = config.get_mut("headers").and_then(Value::as_object_mut);
    if let Some(headers) = headers {
        restore_headers(headers, previous.map(|(_, h)| h).filter(|_| same_origin), &mut errors, &moved);
    }
    if errors.is_empty() { Ok((target, config)) } else { Err(errors) }
}

fn restore_headers(
    headers: &mut Map<String, Value>,
    stored: Option<&reqwest::header::HeaderMap>,
    errors: &mut Vec<FieldError>,
    moved: &dyn Fn(&str) -> String,
) {
    for (name, value) in headers.iter_mut() {
        if value.as_str() != Some(MASK) {
            continue;
        }
        let before = stored.and_then(|h| h.get(name.to_ascii_lowercase().as_str())).and_then(|v| v.to_str().ok());
        match before {
            Some(before) => *value = Value::from(before),
            None => errors.push(FieldError::new(format!("config.headers.{name}"), moved("this header's value"))),
        }
    }
}
