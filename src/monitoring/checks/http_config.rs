//! The `http` kind's config: what to send and what a healthy answer looks like.

use std::fmt;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Map, Value};

use super::secrets::{self, MASK, is_secret_header};
use crate::validation::{FieldError, Fields, http_url};

pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER_VALUE_BYTES: usize = 4096;
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
pub const MAX_KEYWORD_BYTES: usize = 1024;
pub const MAX_EXPECTED_STATUS: usize = 16;
pub const MAX_REDIRECTS: u32 = 10;

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers a check may not set: `Host` comes from the target URL, and the
/// framing and connection headers are the client's to compute — a wrong
/// `Content-Length` or `Transfer-Encoding` would corrupt the request.
const FORBIDDEN_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

const KEYS: [&str; 11] = [
    "method",
    "headers",
    "secret_headers",
    "body",
    "expected_status",
    "keyword",
    "keyword_absent",
    "json_pointer",
    "json_expected",
    "max_redirects",
    "verify_tls",
];

/// Which response statuses count as up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// One code, `200`.
    Code(u16),
    /// A class, `"2xx"`: the hundreds digit 1–5.
    Class(u16),
    /// An inclusive range, `"200-299"`.
    Range(u16, u16),
}

impl StatusMatch {
    fn parse(value: &Value) -> Result<Self, String> {
        let code = |n: u64| u16::try_from(n).ok().filter(|n| (100..=599).contains(n));
        let err = || "must be a status 100–599, a class like \"2xx\" or a range like \"200-299\"".to_string();
        match value {
            Value::Number(n) => n.as_u64().and_then(code).map(StatusMatch::Code).ok_or_else(err),
            Value::String(s) => {
                let s = s.trim();
                let digit = |s: &str| s.parse::<u64>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
                if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
                    digit(class).filter(|d| (1..=5).contains(d)).map(|d| StatusMatch::Class(d as u16)).ok_or_else(err)
                } else if let Some((lo, hi)) = s.split_once('-') {
                    match (digit(lo.trim()).and_then(code), digit(hi.trim()).and_then(code)) {
                        (Some(lo), Some(hi)) if lo <= hi => Ok(StatusMatch::Range(lo, hi)),
                        (Some(_), Some(_)) => Err("a range must go from low to high".into()),
                        _ => Err(err()),
                    }
                } else {
                    digit(s).and_then(code).map(StatusMatch::Code).ok_or_else(err)
                }
            }
            _ => Err(err()),
        }
    }

    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(c) => status == c,
            StatusMatch::Class(d) => status / 100 == d,
            StatusMatch::Range(lo, hi) => (lo..=hi).contains(&status),
        }
    }

    /// Codes render as numbers, classes and ranges as strings.
    fn to_json(self) -> Value {
        match self {
            StatusMatch::Code(c) => Value::from(c),
            other => Value::from(other.to_string()),
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(c) => write!(f, "{c}"),
            StatusMatch::Class(d) => write!(f, "{d}xx"),
            StatusMatch::Range(lo, hi) => write!(f, "{lo}-{hi}"),
        }
    }
}

/// A validated HTTP check. Its `Debug` shows no secret.
#[derive(Clone, PartialEq)]
pub struct HttpProbe {
    pub(super) url: Url,
    pub(super) method: Method,
    /// Secret values are marked sensitive (see [`secrets`]).
    pub(super) headers: HeaderMap,
    /// Headers the operator marked secret, beyond the default rule.
    pub(super) secret_headers: Vec<HeaderName>,
    pub(super) body: Option<String>,
    pub(super) expected_status: Vec<StatusMatch>,
    pub(super) keyword: Option<String>,
    /// With `keyword`: up when the keyword does NOT appear.
    pub(super) keyword_absent: bool,
    /// RFC 6901 pointer into a JSON body; must exist (and equal `json_expected` when set).
    pub(super) json_pointer: Option<String>,
    pub(super) json_expected: Option<Value>,
    /// 0 = do not follow: a 3xx is judged by `expected_status` like any answer.
    pub(super) max_redirects: u32,
    pub(super) verify_tls: bool,
    /// A secret header reqwest would forward on a redirect to another host
    /// is set (reqwest drops only the standard credential headers there),
    /// so the check must not follow redirects off its host. Worked out once
    /// here, not on every check.
    pub(super) same_host_redirects: bool,
}

impl HttpProbe {
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub(super) fn parse(target: &str, config: &Value) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &KEYS, &[]);
        let url = http_url(target).map_err(|m| f.error_at("target", m)).ok();
        let method = match f.string("method") {
            None => Method::GET,
            Some(raw) => match METHODS.iter().find(|m| m.eq_ignore_ascii_case(raw)) {
                Some(m) => Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET),
                None => {
                    f.error("method", format!("must be one of {}", METHODS.join(", ")));
                    Method::GET
                }
            },
        };
        let secret_headers = parse_secret_headers(&mut f);
        let mut headers = parse_headers(&mut f);
        for (name, value) in headers.iter_mut() {
            if is_secret_header(name.as_str(), &secret_headers) {
                value.set_sensitive(true);
            }
        }
        let body = f.string("body").map(str::to_string);
        if body.as_ref().is_some_and(|b| b.len() > MAX_REQUEST_BODY_BYTES) {
            f.error("body", format!("must be at most {MAX_REQUEST_BODY_BYTES} bytes"));
        }
        let expected_status = parse_expected_status(&mut f);
        let keyword = f.string("keyword").map(str::to_string);
        if keyword.as_ref().is_some_and(|k| k.is_empty() || k.len() > MAX_KEYWORD_BYTES) {
            f.error("keyword", format!("must be 1 to {MAX_KEYWORD_BYTES} bytes"));
        }
        let keyword_absent = f.bool("keyword_absent", false);
        if keyword_absent && keyword.is_none() {
            f.error("keyword_absent", "needs config.keyword");
        }
        let json_pointer = f.string("json_pointer").map(str::to_string);
        if let Some(pointer) = &json_pointer {
            if let Err(m) = check_pointer(pointer) {
                f.error("json_pointer", m);
            }
        }
        let json_expected = f.raw("json_expected").cloned();
        if json_expected.is_some() && json_pointer.is_none() {
            f.error("json_expected", "needs config.json_pointer");
        }
        if method == Method::HEAD {
            if keyword.is_some() {
                f.error("keyword", "a HEAD response has no body to search");
            }
            if json_pointer.is_some() {
                f.error("json_pointer", "a HEAD response has no body to search");
            }
        }
        let max_redirects = f.int("max_redirects", 0, MAX_REDIRECTS, 5);
        let verify_tls = f.bool("verify_tls", true);
        let Some(url) = url else { return Err(f.errors) };
        const DROPPED_BY_REQWEST: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "cookie2"];
        let same_host_redirects = headers.keys().any(|name| {
            is_secret_header(name.as_str(), &secret_headers) && !DROPPED_BY_REQWEST.contains(&name.as_str())
        });
        f.finish(Self {
            url,
            method,
            headers,
            secret_headers,
            body,
            expected_status,
            keyword,
            keyword_absent,
            json_pointer,
            json_expected,
            max_redirects,
            verify_tls,
            same_host_redirects,
        })
    }

    pub(super) fn config_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("method".into(), self.method.as_str().into());
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), Value::from(value.to_str().unwrap_or_default())))
            .collect();
        map.insert("headers".into(), Value::Object(headers));
        if !self.secret_headers.is_empty() {
            let names = self.secret_headers.iter().map(|n| Value::from(n.as_str())).collect();
            map.insert("secret_headers".into(), Value::Array(names));
        }
        if let Some(body) = &self.body {
            map.insert("body".into(), body.as_str().into());
        }
        let expected: Vec<Value> = self.expected_status.iter().map(|s| s.to_json()).collect();
        map.insert("expected_status".into(), Value::Array(expected));
        if let Some(keyword) = &self.keyword {
            map.insert("keyword".into(), keyword.as_str().into());
        }
        map.insert("keyword_absent".into(), self.keyword_absent.into());
        if let Some(pointer) = &self.json_pointer {
            map.insert("json_pointer".into(), pointer.as_str().into());
        }
        if let Some(expected) = &self.json_expected {
            map.insert("json_expected".into(), expected.clone());
        }
        map.insert("max_redirects".into(), self.max_redirects.into());
        map.insert("verify_tls".into(), self.verify_tls.into());
        Value::Object(map)
    }

    /// `text` with every secret of this check replaced by the mask, in
    /// every form it may take ([`secrets::secret_values`]). A server can
    /// echo what it was sent into a body that an error message quotes.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in secrets::secret_values(self) {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), MASK);
            }
        }
        text
    }

    /// The expected statuses as the API renders them, for error messages.
    pub(super) fn expected_status_text(&self) -> String {
        self.expected_status.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProbe")
            .field("url", &secrets::masked_url(&self.url).as_str())
            .field("method", &self.method)
            // Sensitive values print as `Sensitive`.
            .field("headers", &self.headers)
            .field("secret_headers", &self.secret_headers)
            .field("body", &self.body.as_ref().map(String::len))
            .field("expected_status", &self.expected_status)
            .field("keyword", &self.keyword)
            .field("json_pointer", &self.json_pointer)
            .field("max_redirects", &self.max_redirects)
            .field("verify_tls", &self.verify_tls)
            .finish_non_exhaustive()
    }
}

fn parse_headers(f: &mut Fields<'_>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(value) = f.value("headers") else { return headers };
    let Some(map) = value.as_object() else {
        f.error("headers", "must be an object of header name to value");
        return headers;
    };
    if map.len() > MAX_HEADERS {
        f.error("headers", format!("at most {MAX_HEADERS} headers"));
        return headers;
    }
    for (name, value) in map {
        let field = format!("headers.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            f.error(&field, "is not a valid header name");
            continue;
        };
        if FORBIDDEN_HEADERS.contains(&header.as_str()) {
            f.error(&field, "is set by the client and may not be overridden");
            continue;
        }
        if headers.contains_key(&header) {
            f.error(&field, "is given twice (header names are case-insensitive)");
            continue;
        }
        let parsed = match value {
            Value::String(s) if s.len() <= MAX_HEADER_VALUE_BYTES => HeaderValue::from_str(s).ok(),
            _ => None,
        };
        match parsed {
            Some(v) => {
                headers.insert(header, v);
            }
            None => f.error(
                &field,
                format!("must be a string of at most {MAX_HEADER_VALUE_BYTES} visible ASCII characters"),
            ),
        }
    }
    headers
}

/// `secret_headers`: names of headers whose values are secret beyond the
/// default rule (see [`secrets`]), lower-cased, each once.
fn parse_secret_headers(f: &mut Fields<'_>) -> Vec<HeaderName> {
    let Some(value) = f.value("secret_headers") else { return Vec::new() };
    let Some(items) = value.as_array().filter(|items| items.len() <= MAX_HEADERS) else {
        f.error("secret_headers", format!("must be a list of at most {MAX_HEADERS} header names"));
        return Vec::new();
    };
    let mut names: Vec<HeaderName> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(|s| HeaderName::from_bytes(s.as_bytes())) {
            Some(Ok(name)) if !names.contains(&name) => names.push(name),
            Some(Ok(_)) => {}
            _ => f.error(&format!("secret_headers[{i}]"), "must be a header name"),
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names
}

fn parse_expected_status(f: &mut Fields<'_>) -> Vec<StatusMatch> {
    let default = vec![StatusMatch::Class(2)];
    let Some(value) = f.value("expected_status") else { return default };
    let items = match value {
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_EXPECTED_STATUS => items,
        _ => {
            f.error("expected_status", format!("must be a list of 1 to {MAX_EXPECTED_STATUS} statuses"));
            return default;
        }
    };
    let mut matches = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match StatusMatch::parse(item) {
            Ok(m) => matches.push(m),
            Err(message) => f.error(&format!("expected_status[{i}]"), message),
        }
    }
    matches
}

/// RFC 6901: empty (the whole document) or `/`-separated tokens in which
/// `~` only appears as `~0` or `~1`.
fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err("must be empty or start with / (RFC 6901), e.g. /status".into());
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("~ must be followed by 0 or 1 (RFC 6901)".into());
        }
    }
    Ok(())
}
