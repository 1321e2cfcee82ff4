//! `/services/new` and `/services/{id}/edit`: one form for every kind.
//! The form is turned into the same input the JSON API takes, and the
//! service's own validation answers; its errors are shown next to the
//! fields they name. Fields of the other kinds are ignored (without the
//! script they are all on the page; the script shows the chosen kind's).

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::PageId;
use crate::monitoring::MonitoringError;
use crate::monitoring::domain::RawSettings;
use crate::monitoring::http::wire::ServiceOut;
use crate::monitoring::service::ServiceIn;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::csrf::CsrfForm;
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::Chrome;

pub const KINDS: [(&str, &str); 5] = [
    ("http", "HTTP(S): a web address answers"),
    ("tcp", "TCP: a port accepts connections"),
    ("dns", "DNS: a name resolves"),
    ("tls", "TLS: a certificate is valid and not expiring"),
    ("heartbeat", "Heartbeat: the service calls herald"),
];

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const RECORD_TYPES: [&str; 5] = ["A", "AAAA", "CNAME", "MX", "TXT"];

/// What the form holds, as typed (so a refused form comes back as it was).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ServiceForm {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub interval_seconds: String,
    pub timeout_seconds: String,
    pub failure_threshold: String,
    pub recovery_threshold: String,
    pub degraded_latency_ms: String,
    /// Checkboxes are sent only when ticked.
    pub enabled: Option<String>,
    pub public: Option<String>,
    pub tags: String,
    pub http_method: String,
    pub http_expected_status: String,
    pub http_keyword: String,
    pub http_keyword_absent: Option<String>,
    pub http_headers: String,
    pub http_secret_headers: String,
    pub http_body: String,
    pub http_max_redirects: String,
    /// Ticked means: do not verify (the default verifies).
    pub http_insecure: Option<String>,
    pub dns_record_type: String,
    pub dns_expected: String,
    pub dns_resolver: String,
    pub tls_expiry_warning_days: String,
    pub heartbeat_grace_seconds: String,
    /// Any other setting of the kind, as a JSON object (merged last).
    pub config_json: String,
    /// The form's own field, checked by [`CsrfForm`].
    pub csrf: String,
}

impl ServiceForm {
    fn blank() -> Self {
        Self { kind: "http".into(), enabled: Some("on".into()), http_method: "GET".into(), ..Self::default() }
    }

    /// The form for an existing service, from what the API shows of it
    /// (secret header values read as the mask, which keeps them).
    fn of(s: &ServiceOut) -> Self {
        let c = &s.config;
        let text = |key: &str| match c.get(key) {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let flag = |key: &str| c.get(key).and_then(Value::as_bool).unwrap_or(false).then(|| "on".to_string());
        let headers = c
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| h.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        let list = |key: &str| {
            c.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        Self {
            name: s.name.clone(),
            kind: s.kind.as_str().to_string(),
            target: s.target.clone(),
            interval_seconds: s.interval_seconds.to_string(),
            timeout_seconds: s.timeout_seconds.to_string(),
            failure_threshold: s.failure_threshold.to_string(),
            recovery_threshold: s.recovery_threshold.to_string(),
            degraded_latency_ms: s.degraded_latency_ms.map(|v| v.to_string()).unwrap_or_default(),
            enabled: s.enabled.then(|| "on".into()),
            public: s.public.then(|| "on".into()),
            tags: s.tags.join(", "),
            http_method: text("method"),
            http_expected_status: list("expected_status"),
            http_keyword: text("keyword"),
            http_keyword_absent: flag("keyword_absent"),
            http_headers: headers,
            http_secret_headers: list("secret_headers"),
            http_body: text("body"),
            http_max_redirects: text("max_redirects"),
            http_insecure: (c.get("verify_tls").and_then(Value::as_bool) == Some(false)).then(|| "on".into()),
            dns_record_type: text("record_type"),
            dns_expected: text("expected"),
            dns_resolver: text("resolver"),
            tls_expiry_warning_days: text("expiry_warning_days"),
            heartbeat_grace_seconds: text("grace_seconds"),
            config_json: String::new(),
            csrf: String::new(),
        }
    }

    /// The API's input, or the fields that are not even numbers.
    fn to_input(&self, creating: bool) -> Result<ServiceIn, Vec<FieldError>> {
        let errors = std::cell::RefCell::new(Vec::new());
        let number = |field: &str, raw: &str| -> Option<i64> {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            raw.parse().map_err(|_| errors.borrow_mut().push(FieldError::new(field, "must be a whole number"))).ok()
        };
        let settings = RawSettings {
            name: Some(self.name.clone()),
            interval_seconds: number("interval_seconds", &self.interval_seconds),
            timeout_seconds: number("timeout_seconds", &self.timeout_seconds),
            failure_threshold: number("failure_threshold", &self.failure_threshold),
            recovery_threshold: number("recovery_threshold", &self.recovery_threshold),
            degraded_latency_ms: number("degraded_latency_ms", &self.degraded_latency_ms),
            enabled: Some(self.enabled.is_some()),
            public: Some(self.public.is_some()),
            tags: Some(self.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()),
        };
        let mut config = Map::new();
        let put_number = |config: &mut Map<String, Value>, key: &str, field: &str, raw: &str| {
            if let Some(v) = number(field, raw) {
                config.insert(key.into(), v.into());
            }
        };
        let put_text = |config: &mut Map<String, Value>, key: &str, raw: &str| {
            if !raw.trim().is_empty() {
                config.insert(key.into(), raw.trim().into());
            }
        };
        match self.kind.as_str() {
            "http" => {
                put_text(&mut config, "method", &self.http_method);
                let statuses: Vec<Value> = self
                    .http_expected_status
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(s)))
                    .collect();
                if !statuses.is_empty() {
                    config.insert("expected_status".into(), Value::Array(statuses));
                }
                if !self.http_keyword.is_empty() {
                    config.insert("keyword".into(), self.http_keyword.clone().into());
                }
                if self.http_keyword_absent.is_some() {
                    config.insert("keyword_absent".into(), true.into());
                }
                let mut headers = Map::new();
                for line in self.http_headers.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    match line.split_once(':') {
                        Some((name, value)) => {
                            headers.insert(name.trim().to_string(), value.trim().into());
                        }
                        None => errors
                            .borrow_mut()
                            .push(FieldError::new("http_headers", "one header per line, as Name: value")),
                    }
                }
                if !headers.is_empty() {
                    config.insert("headers".into(), Value::Object(headers));
                }
                let secret: Vec<Value> = self
                    .http_secret_headers
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Value::from)
                    .collect();
                if !secret.is_empty() {
                    config.insert("secret_headers".into(), Value::Array(secret));
                }
                if !self.http_body.is_empty() {
                    config.insert("body".into(), self.http_body.clone().into());
                }
                put_number(&mut config, "max_redirects", "http_max_redirects", &self.http_max_redirects);
                if self.http_insecure.is_some() {
                    config.insert("verify_tls".into(), false.into());
                }
            }
            "dns" => {
                put_text(&mut config, "record_type", &self.dns_record_type);
                put_text(&mut config, "expected", &self.dns_expected);
                put_text(&mut config, "resolver", &self.dns_resolver);
            }
            "tls" => {
                put_number(&mut config, "expiry_warning_days", "tls_expiry_warning_days", &self.tls_expiry_warning_days)
            }
            "heartbeat" => {
                put_number(&mut config, "grace_seconds", "heartbeat_grace_seconds", &self.heartbeat_grace_seconds)
            }
            _ => {}
        }
        if !self.config_json.trim().is_empty() {
            match serde_json::from_str::<Value>(&self.config_json) {
                Ok(Value::Object(extra)) => config.extend(extra),
                _ => errors
                    .borrow_mut()
                    .push(FieldError::new("config_json", "must be a JSON object, e.g. {\"max_redirects\": 2}")),
            }
        }
        let errors = errors.into_inner();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ServiceIn {
            kind: creating.then(|| self.kind.clone()),
            target: Some(self.target.trim().to_string()),
            config: Some(Value::Object(config)),
            settings,
        })
    }
}

/// The form field an API error names: `config.keyword` is `http_keyword`.
fn form_field(kind: &str, api_field: &str) -> String {
    match api_field.strip_prefix("config.") {
        Some(key) => {
            let key = key.split(['.', '[']).next().unwrap_or(key);
            let named = match (kind, key) {
                ("http", "verify_tls") => "http_insecure".to_string(),
                ("http" | "dns" | "tls" | "heartbeat", key) => format!("{kind}_{key}"),
                _ => "config_json".to_string(),
            };
            // A setting the form has no field for is the JSON box's.
            if FORM_FIELDS.contains(&named.as_str()) { named } else { "config_json".into() }
        }
        None if api_field == "config" => "config_json".into(),
        None => api_field.to_string(),
    }
}

const FORM_FIELDS: [&str; 26] = [
    "name",
    "kind",
    "target",
    "interval_seconds",
    "timeout_seconds",
    "failure_threshold",
    "recovery_threshold",
    "degraded_latency_ms",
    "enabled",
    "public",
    "tags",
    "http_method",
    "http_expected_status",
    "http_keyword",
    "http_keyword_absent",
    "http_headers",
    "http_secret_headers",
    "http_body",
    "http_max_redirects",
    "http_insecure",
    "dns_record_type",
    "dns_expected",
    "dns_resolver",
    "tls_expiry_warning_days",
    "heartbeat_grace_seconds",
    "config_json",
];

#[derive(Template)]
#[template(path = "service_form.html")]
struct FormPage {
    chrome: Chrome,
    /// `None` for a new service.
    id: Option<i64>,
    form: ServiceForm,
    errors: HashMap<String, String>,
    /// Errors about no field the form has.
    general: Vec<String>,
    kinds: &'static [(&'static str, &'static str)],
    methods: &'static [&'static str],
    record_types: &'static [&'static str],
}

impl FormPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn invalid(&self, field: &str) -> &'static str {
        if self.errors.contains_key(field) { "true" } else { "false" }
    }

    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/services/{id}/edit"),
            None => "/services/new".into(),
        }
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    id: Option<i64>,
    form: ServiceForm,
    refused: Vec<FieldError>,
) -> Result<Response, WebError> {
    let status = if refused.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut errors = HashMap::new();
    let mut general = Vec::new();
    for e in refused {
        let field = form_field(&form.kind, &e.field);
        if FORM_FIELDS.contains(&field.as_str()) {
            errors.entry(field).or_insert(e.message);
        } else {
            general.push(format!("{}: {}", e.field, e.message));
        }
    }
    let title = if id.is_some() { format!("Edit {}", form.name) } else { "Add a service".into() };
    let page = FormPage {
        chrome: Chrome::of(state, viewer, "overview", title).await?,
        id,
        form,
        errors,
        general,
        kinds: &KINDS,
        methods: &METHODS,
        record_types: &RECORD_TYPES,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /services/new`.
pub async fn new_form(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require_staff()?;
    render(&state, &viewer, None, ServiceForm::blank(), Vec::new()).await
}

/// `POST /services/new`: created → its page (a heartbeat's URL shown once).
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<ServiceForm>,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    let input = match form.to_input(true) {
        Ok(input) => input,
        Err(errors) => return render(&state, &viewer, None, form, errors).await,
    };
    match state.monitoring.create(input).await {
        Ok(created) => {
            let id = created.service.id;
            tracing::info!(service_id = id, by = viewer.user.id, "service created from the web app");
            match created.heartbeat_secret {
                Some(secret) => super::services::heartbeat_shown_once(&state, &viewer, id, &secret).await,
                None => Ok(Redirect::to(&format!("/services/{id}?done=created")).into_response()),
            }
        }
        Err(MonitoringError::Invalid(errors)) => render(&state, &viewer, None, form, errors).await,
        Err(other) => Err(other.into()),
    }
}

/// `GET /services/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    let service = state.monitoring.shown(id).await?;
    render(&state, &viewer, Some(id), ServiceForm::of(&service), Vec::new()).await
}

/// `POST /services/{id}/edit`.
pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(mut form): CsrfForm<ServiceForm>,
) -> Result<Response, WebError> {
    viewer.require_staff()?;
    // The kind cannot change: the stored one decides which fields count.
    form.kind = state.monitoring.get(id).await?.kind.as_str().to_string();
    let input = match form.to_input(false) {
        Ok(input) => input,
        Err(errors) => return render(&state, &viewer, Some(id), form, errors).await,
    };
    match state.monitoring.update(id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/services/{id}?done=saved")).into_response()),
        Err(MonitoringError::Invalid(errors)) => render(&state, &viewer, Some(id), form, errors).await,
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_land_on_the_fields_that_caused_them() {
        assert_eq!(form_field("http", "config.keyword"), "http_keyword");
        assert_eq!(form_field("http", "config.expected_status[1]"), "http_expected_status");
        assert_eq!(form_field("http", "config.verify_tls"), "http_insecure");
        assert_eq!(form_field("dns", "config.record_type"), "dns_record_type");
        assert_eq!(form_field("http", "config.json_pointer"), "config_json");
        assert_eq!(form_field("tcp", "target"), "target");
    }

    #[test]
    fn a_filled_form_is_the_apis_input() {
        let form = ServiceForm {
            name: "shop".into(),
            kind: "http".into(),
            target: " https://shop.example/health ".into(),
            interval_seconds: "30".into(),
            http_expected_status: "200, 3xx".into(),
            http_headers: "Authorization: Bearer x\nX-Env: prod".into(),
            http_secret_headers: "Authorization".into(),
            config_json: r#"{"json_pointer": "/ok"}"#.into(),
            enabled: Some("on".into()),
            ..ServiceForm::default()
        };
        let input = form.to_input(true).unwrap();
        assert_eq!(input.kind.as_deref(), Some("http"));
        assert_eq!(input.target.as_deref(), Some("https://shop.example/health"));
        assert_eq!(input.settings.interval_seconds, Some(30));
        assert_eq!(input.settings.public, Some(false));
        let config = input.config.unwrap();
        assert_eq!(config["expected_status"], serde_json::json!([200, "3xx"]));
        assert_eq!(config["headers"]["X-Env"], "prod");
        assert_eq!(config["secret_headers"], serde_json::json!(["Authorization"]));
        assert_eq!(config["json_pointer"], "/ok");
        let bad = ServiceForm { interval_seconds: "soon".into(), config_json: "[1]".into(), ..form };
        let errors = bad.to_input(true).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["interval_seconds", "config_json"]);
    }
}
