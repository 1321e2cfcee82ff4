//! One way to read and report a field. Domain parsers (a check's target and
//! `config`, an alert channel's `config`, a service's settings, a
//! notification's content) report each broken rule as a [`FieldError`]
//! named by its JSON path (`interval_seconds`, `config.headers.X-Foo`,
//! `config.to[1]`), all at once; the API renders them unchanged in a 422
//! problem (`crate::http::error::ApiError::Validation`).
//!
//! [`Fields`] reads a JSON object of settings (a `config`): unknown keys are
//! errors, `null` reads as absent unless asked for, and each typed getter
//! records what is wrong with its key.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// One offending field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path (`pool.max`, `items[2].title`, `config.headers.X-Foo`) or parameter name.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The longest URL a setting may hold.
pub const MAX_URL_BYTES: usize = 2048;

/// An absolute `http://` or `https://` URL with a host, at most
/// [`MAX_URL_BYTES`]: a check's target, a channel's endpoint.
pub fn http_url(raw: &str) -> Result<reqwest::Url, String> {
    if raw.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    Ok(url)
}

/// Whether `raw` is a host name: letters, digits, `-` and `_` in
/// dot-separated labels of 1–63 characters, at most 253 in all, with an
/// optional final dot (a check's target, an SMTP server).
pub fn is_host_name(raw: &str) -> bool {
    let name = raw.strip_suffix('.').unwrap_or(raw);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Collect a parse failure of `field` into `errors`; `None` when it failed.
pub fn check<T>(errors: &mut Vec<FieldError>, field: &str, parsed: Result<T, String>) -> Option<T> {
    parsed.map_err(|message| errors.push(FieldError::new(field, message))).ok()
}

/// A JSON object being read, its keys reported as `<prefix>.<key>`.
pub struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    prefix: &'static str,
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Read `value` (an object, or `null` for all defaults) as the field
    /// `prefix`. Keys outside `known` are errors, except `ignored` ones
    /// (accepted and dropped: the `*_set` flags a read shows for secrets).
    pub fn new(value: &'a Value, prefix: &'static str, known: &[&str], ignored: &[&str]) -> Self {
        let mut errors = Vec::new();
        let map = match value {
            Value::Null => None,
            Value::Object(map) => {
                for key in map.keys().filter(|k| !known.contains(&k.as_str()) && !ignored.contains(&k.as_str())) {
                    let hint = if known.is_empty() {
                        "unknown key: this kind takes no config".to_string()
                    } else {
                        format!("unknown key; expected one of {}", known.join(", "))
                    };
                    errors.push(FieldError::new(format!("{prefix}.{key}"), hint));
                }
                Some(map)
            }
            _ => {
                errors.push(FieldError::new(prefix, "must be a JSON object"));
                None
            }
        };
        Self { map, prefix, errors }
    }

    /// The value of `key` even when it is `null` (for keys where `null`
    /// means something); `None` when absent.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key))
    }

    /// The value of `key`, `None` when absent or `null`.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.raw(key).filter(|v| !v.is_null())
    }

    /// Report `key` (under the prefix) as broken.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(format!("{}.{key}", self.prefix), message));
    }

    /// Report a field outside the object (a check's `target`).
    pub fn error_at(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Records the error and yields nothing, for `and_then` chains.
    pub fn error_none<T>(&mut self, key: &str, message: impl Into<String>) -> Option<T> {
        self.error(key, message);
        None
    }

    /// The value of a parse of `key`, or its error recorded.
    pub fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.error(key, m)).ok()
    }

    pub fn string(&mut self, key: &str) -> Option<&'a str> {
        match self.value(key) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => self.error_none(key, "must be a string"),
        }
    }

    pub fn required(&mut self, key: &str) -> Option<&'a str> {
        match self.value(key) {
            None => self.error_none(key, "is required"),
            Some(_) => self.string(key),
        }
    }

    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.value(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(key, "must be true or false");
                default
            }
        }
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn int(&mut self, key: &str, min: u32, max: u32, default: u32) -> u32 {
        let Some(value) = self.value(key) else { return default };
        match value.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| (min..=max).contains(n)) {
            Some(n) => n,
            None => {
                self.error(key, format!("must be an integer from {min} to {max}"));
                default
            }
        }
    }

    /// `value` when no rule was broken, else every error.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.errors) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields_of(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_reported_together() {
        let config = json!({"url": 5, "extra": true, "flag": "yes", "n": 99, "secret_set": true});
        let mut f = Fields::new(&config, "config", &["url", "flag", "n"], &["secret_set"]);
        assert_eq!(f.string("url"), None);
        assert!(!f.bool("flag", false));
        assert_eq!(f.int("n", 1, 10, 3), 3);
        let errors = f.finish(()).unwrap_err();
        assert_eq!(fields_of(&errors), ["config.extra", "config.url", "config.flag", "config.n"]);
    }

    #[test]
    fn null_reads_as_absent_unless_asked_for() {
        let config = json!({"a": null});
        let mut f = Fields::new(&config, "config", &["a", "b"], &[]);
        assert_eq!(f.value("a"), None);
        assert_eq!(f.raw("a"), Some(&Value::Null));
        assert_eq!(f.required("b"), None);
        assert_eq!(fields_of(&f.errors), ["config.b"]);
        assert!(Fields::new(&Value::Null, "config", &[], &[]).finish(1).is_ok());
        let not_an_object = Fields::new(&json!([1]), "config", &[], &[]).finish(());
        assert_eq!(fields_of(&not_an_object.unwrap_err()), ["config"]);
    }
}
