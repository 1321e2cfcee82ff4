//! Check secrets are write-only: what a check sends to prove who it is is
//! stored so the check can send it, and shown to nobody.
//!
//! What is secret in an `http` check: the values of credential headers and
//! of headers whose names say so ([`is_secret_header`]), and in the target
//! the user-info (the password, or the user name when it stands alone: a
//! token given as the user, `https://ghp_…@host/`) and the values of query
//! parameters whose names say so (`?api_key=…`). No other kind has a secret.
//!
//! - [`public`] renders a stored target and config for reading: every
//!   secret replaced by [`MASK`]. It works on the stored JSON, so a service
//!   stored by an older herald (before secrets were masked) reads masked too,
//!   and keeps checking with its values untouched.
//! - [`restore`] takes a request's target and config on an update: a
//!   [`MASK`] sent back where a secret is stored keeps the stored value, as
//!   long as the target still points to the same origin (scheme, host and
//!   port) and the value stays secret; a secret is never carried to another
//!   host, or turned into a readable value, unless the operator types it.
//! - [`secret_values`] lists every form of a probe's secrets, for
//!   [`HttpProbe::redact`] to remove from the texts a check produces (a
//!   server may echo a header back into an error).

use base64::Engine;
use reqwest::Url;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use super::config::Kind;
use super::http_config::HttpProbe;
use crate::validation::FieldError;

/// What reads show in place of a secret. Sent back unchanged on an update
/// it means "keep the stored value".
pub const MASK: &str = "********";

/// Headers that always carry credentials.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];
/// A header or query parameter whose lower-case name contains one of these is secret.
const SECRET_WORDS: [&str; 8] = ["token", "key", "secret", "auth", "pass", "session", "credential", "signature"];

/// Whether a header's value is a secret: a credential header, a name with
/// a secret-sounding word, or one the operator listed in `secret_headers`.
pub fn is_secret_header(name: &str, marked: &[HeaderName]) -> bool {
    let lower = name.to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&lower.as_str())
        || SECRET_WORDS.iter().any(|word| lower.contains(word))
        || marked.iter().any(|m| m.as_str() == lower)
}

/// Whether a name (a header's, a query parameter's) says its value is secret.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| lower.contains(word))
}

/// The header names listed in a config's `secret_headers`.
fn marked_headers(config: &Value) -> Vec<HeaderName> {
    config
        .get("secret_headers")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).filter_map(|n| HeaderName::try_from(n).ok()).collect())
        .unwrap_or_default()
}

/// A stored target and config as every reader sees them: secrets masked.
pub fn public(kind: Kind, target: &str, config: &Value) -> (String, Value) {
    if kind != Kind::Http {
        // No other kind has a secret: a heartbeat's secret is hashed and
        // lives outside the config.
        return (target.to_string(), config.clone());
    }
    let target = match Url::parse(target) {
        Ok(url) => masked_url(&url).to_string(),
        // Stored targets were parsed as URLs; anything else is not shown.
        Err(_) => MASK.to_string(),
    };
    (target, public_http_config(config))
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

/// `url` with its secret parts replaced by the mask.
pub(super) fn masked_url(url: &Url) -> Url {
    let mut url = url.clone();
    // Neither can fail: a URL with user-info has a host.
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    } else if !url.username().is_empty() {
        let _ = url.set_username(MASK);
    }
    if let Some(query) = url.query().map(|q| map_secret_params(q, |_, _| Some(MASK.to_string()))) {
        url.set_query(Some(&query));
    }
    url
}

/// Rewrite the values of a raw query's secret parameters with `value(name,
/// raw value)` (`None` leaves one as it is), leaving every other byte as
/// written: re-encoding the query could change what the target receives.
fn map_secret_params(query: &str, mut value: impl FnMut(&str, &str) -> Option<String>) -> String {
    let pairs = query.split('&').map(|pair| match pair.split_once('=') {
        Some((name, raw)) if is_secret_name(&decode(name)) => match value(name, raw) {
            Some(new) => format!("{name}={new}"),
            None => pair.to_string(),
        },
        _ => pair.to_string(),
    });
    pairs.collect::<Vec<_>>().join("&")
}

/// The raw values of a query's secret parameters, by raw name.
fn secret_params(url: &Url) -> Vec<(String, String)> {
    let Some(query) = url.query() else { return Vec::new() };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| is_secret_name(&decode(name)))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// `%XX` sequences (and `+` in a query, as forms write a space) decoded;
/// invalid UTF-8 is replaced.
fn decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// The origin a secret belongs to, `scheme://host:port`.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Every form in which `probe`'s secrets could show up in a text: as
/// written in the target and config, percent-decoded, as the Basic
/// credentials the user-info is sent as, and JSON-escaped (an error may
/// quote a JSON document that echoes them).
pub(super) fn secret_values(probe: &HttpProbe) -> Vec<String> {
    let mut secrets: Vec<String> = probe
        .headers
        .iter()
        .filter(|(name, _)| is_secret_header(name.as_str(), &probe.secret_headers))
        .filter_map(|(_, value)| value.to_str().ok().map(str::to_string))
        .collect();
    let url = &probe.url;
    let (user, password) = (url.username(), url.password());
    if password.is_some() || !user.is_empty() {
        let credentials = format!("{}:{}", decode(user), password.map(decode).unwrap_or_default());
        secrets.push(base64::engine::general_purpose::STANDARD.encode(credentials));
        let secret = password.unwrap_or(user);
        secrets.extend([secret.to_string(), decode(secret)]);
    }
    for (_, value) in secret_params(url) {
        secrets.extend([decode(&value.replace('+', " ")), value]);
    }
    let escaped: Vec<String> = secrets
        .iter()
        .filter_map(|s| serde_json::to_string(s).ok())
        .map(|quoted| quoted.trim_matches('"').to_string())
        .collect();
    secrets.extend(escaped);
    secrets.retain(|s| !s.is_empty() && s != MASK);
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// Replace masks in an update's target and HTTP config with the stored
/// values of `previous`, or report each mask that cannot be restored.
/// Other kinds pass through.
pub fn restore(
    kind: Kind,
    target: &str,
    config: &Value,
    previous: Option<&HttpProbe>,
) -> Result<(String, Value), Vec<FieldError>> {
    if kind != Kind::Http {
        return Ok((target.to_string(), config.clone()));
    }
    let url = Url::parse(target).ok();
    let same_origin = match (&url, previous) {
        (Some(url), Some(before)) => origin(url) == origin(&before.url),
        _ => false,
    };
    let stored = previous.filter(|_| same_origin);
    let refusal = |what: &str| match previous {
        Some(before) if !same_origin => format!(
            "{what} is stored for {} only; the target now points elsewhere, so send the value itself",
            origin(&before.url)
        ),
        _ => format!("{what}: {MASK} stands for a stored secret, and none is stored here; send the value itself"),
    };
    let mut errors = Vec::new();
    let target = match url {
        Some(url) => match restore_url(url, stored.map(|p| &p.url)) {
            Ok(url) => url.to_string(),
            Err(what) => {
                errors.push(FieldError::new("target", refusal(what)));
                target.to_string()
            }
        },
        None => target.to_string(),
    };
    let mut config = config.clone();
    let marked = marked_headers(&config);
    if let Some(headers) = config.get_mut("headers").and_then(Value::as_object_mut) {
        restore_headers(headers, &marked, stored, &mut errors, &refusal);
    }
    if errors.is_empty() { Ok((target, config)) } else { Err(errors) }
}

/// The URL with masked user-info and query values taken from `stored`;
/// `Err` names the part that could not be restored.
fn restore_url(mut url: Url, stored: Option<&Url>) -> Result<Url, &'static str> {
    if url.password() == Some(MASK) {
        // The password belongs to its user name: another user, another credential.
        let password = stored.filter(|s| s.username() == url.username()).and_then(Url::password);
        let password = password.ok_or("the password")?.to_string();
        let _ = url.set_password(Some(&password));
    } else if url.password().is_none() && url.username() == MASK {
        let user = stored.filter(|s| s.password().is_none() && !s.username().is_empty()).map(Url::username);
        let user = user.ok_or("the user name")?.to_string();
        let _ = url.set_username(&user);
    }
    if let Some(query) = url.query().filter(|q| q.contains(MASK)) {
        let before = stored.map(secret_params).unwrap_or_default();
        let mut missing = false;
        let restored = map_secret_params(query, |name, raw| {
            if raw != MASK {
                return None;
            }
            let value = before.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            missing |= value.is_none();
            value
        });
        if missing {
            return Err("a query parameter's value");
        }
        url.set_query(Some(&restored));
    }
    Ok(url)
}

/// Masked header values back from the stored probe, for headers that were
/// secret there and are still secret in the new config: a mask must not
/// become a readable value by dropping a name from `secret_headers`.
fn restore_headers(
    headers: &mut Map<String, Value>,
    marked: &[HeaderName],
    stored: Option<&HttpProbe>,
    errors: &mut Vec<FieldError>,
    refusal: &dyn Fn(&str) -> String,
) {
    for (name, value) in headers.iter_mut() {
        if value.as_str() != Some(MASK) {
            continue;
        }
        let field = format!("config.headers.{name}");
        if !is_secret_header(name, marked) {
            errors.push(FieldError::new(
                field,
                "keeps its stored secret only while it stays secret: send the value to store it readable",
            ));
            continue;
        }
        let before = stored
            .filter(|p| is_secret_header(name, &p.secret_headers))
            .and_then(|p| p.headers.get(name.to_ascii_lowercase().as_str()))
            .and_then(|v| v.to_str().ok());
        match before {
            Some(before) => *value = Value::from(before),
            None => errors.push(FieldError::new(field, refusal("this header's value"))),
        }
    }
}
