//! `/admin/channels`: where alerts go — every channel kind, created,
//! edited, tested and deleted. Secrets are write-only: an edit form says
//! that one is set and never holds its value; left empty, it stays.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::PageId;
use crate::alerts::store::ChannelRow;
use crate::alerts::{AlertError, ChannelIn};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::Viewer;
use crate::web::view::Chrome;

pub const KINDS: [(&str, &str); 6] = [
    ("webhook", "Webhook: a signed JSON POST"),
    ("slack", "Slack incoming webhook"),
    ("discord", "Discord webhook"),
    ("email", "Email over SMTP"),
    ("ntfy", "ntfy topic"),
    ("in_app", "herald inbox of every operator and admin"),
];

/// The form's group of fields for a kind (Slack and Discord share one).
fn group(kind: &str) -> &str {
    match kind {
        "slack" | "discord" => "chat",
        other => other,
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ChannelForm {
    pub name: String,
    pub kind: String,
    pub min_severity: String,
    pub source_database: Option<String>,
    pub source_service: Option<String>,
    pub enabled: Option<String>,
    pub webhook_url: String,
    pub webhook_secret: String,
    pub chat_url: String,
    pub ntfy_url: String,
    pub ntfy_token: String,
    pub email_host: String,
    pub email_port: String,
    pub email_security: String,
    pub email_username: String,
    pub email_password: String,
    pub email_from: String,
    pub email_to: String,
}

/// Which secrets a stored channel has (shown as "set", never as values).
#[derive(Debug, Default, Clone)]
pub struct SecretsSet {
    pub webhook_secret: bool,
    pub chat_url: bool,
    pub ntfy_token: bool,
    pub email_password: bool,
}

impl ChannelForm {
    fn blank() -> Self {
        Self {
            kind: "webhook".into(),
            min_severity: "warning".into(),
            source_database: Some("on".into()),
            source_service: Some("on".into()),
            enabled: Some("on".into()),
            email_security: "starttls".into(),
            email_port: "587".into(),
            ..Self::default()
        }
    }

    /// The form of a stored channel: its public config only.
    fn of(c: &ChannelRow) -> (Self, SecretsSet) {
        let public = crate::alerts::public_config(c);
        let text = |key: &str| match public.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let set = |key: &str| public.get(key).and_then(Value::as_bool).unwrap_or(false);
        let has = |s: &str| c.sources.0.iter().any(|x| x == s).then(|| "on".to_string());
        let kind = c.kind.as_str().to_string();
        let form = Self {
            name: c.name.clone(),
            min_severity: c.min_severity.as_str().into(),
            source_database: has("database"),
            source_service: has("service"),
            enabled: c.enabled.then(|| "on".into()),
            webhook_url: if kind == "webhook" { text("url") } else { String::new() },
            ntfy_url: if kind == "ntfy" { text("url") } else { String::new() },
            email_host: text("host"),
            email_port: text("port"),
            email_security: text("security"),
            email_username: text("username"),
            email_from: text("from"),
            email_to: public
                .get("to")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            kind,
            ..Self::default()
        };
        let secrets = SecretsSet {
            webhook_secret: set("secret_set"),
            chat_url: set("url_set"),
            ntfy_token: set("token_set"),
            email_password: set("password_set"),
        };
        (form, secrets)
    }

    fn to_input(&self, creating: bool) -> ChannelIn {
        let mut config = Map::new();
        let mut put = |key: &str, raw: &str| {
            if !raw.trim().is_empty() {
                config.insert(key.into(), raw.trim().into());
            }
        };
        match group(&self.kind) {
            "webhook" => {
                put("url", &self.webhook_url);
                put("secret", &self.webhook_secret);
            }
            "chat" => put("url", &self.chat_url),
            "ntfy" => {
                put("url", &self.ntfy_url);
                put("token", &self.ntfy_token);
            }
            "email" => {
                put("host", &self.email_host);
                put("security", &self.email_security);
                put("username", &self.email_username);
                put("password", &self.email_password);
                put("from", &self.email_from);
                match self.email_port.trim().parse::<u64>() {
                    Ok(port) => {
                        config.insert("port".into(), port.into());
                    }
                    Err(_) if self.email_port.trim().is_empty() => {}
                    Err(_) => {
                        config.insert("port".into(), self.email_port.trim().into());
                    }
                }
                let to: Vec<Value> =
                    self.email_to.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Value::from).collect();
                config.insert("to".into(), Value::Array(to));
            }
            _ => {}
        }
        let mut sources = Vec::new();
        if self.source_database.is_some() {
            sources.push("database".to_string());
        }
        if self.source_service.is_some() {
            sources.push("service".to_string());
        }
        ChannelIn {
            name: Some(self.name.clone()),
            kind: creating.then(|| self.kind.clone()),
            config: Some(Value::Object(config)),
            min_severity: Some(self.min_severity.clone()),
            sources: Some(sources),
            enabled: Some(self.enabled.is_some()),
        }
    }
}

/// The form field an API error names: `config.url` of a webhook is `webhook_url`.
fn form_field(kind: &str, api_field: &str) -> String {
    match api_field.strip_prefix("config.") {
        Some(key) => {
            let key = key.split(['.', '[']).next().unwrap_or(key);
            format!("{}_{key}", group(kind))
        }
        None => api_field.to_string(),
    }
}

pub struct ChannelItem {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub min_severity: &'static str,
    pub sources: String,
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "admin_channels.html")]
struct ChannelsPage {
    chrome: Chrome,
    channels: Vec<ChannelItem>,
    done: Option<String>,
    failed: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneParams {
    #[serde(default)]
    done: String,
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<DoneParams>,
) -> Result<Html<String>, WebError> {
    viewer.require_admin()?;
    list_page(&state, &viewer, &params.done, None).await
}

async fn list_page(
    state: &AppState,
    viewer: &Viewer,
    done: &str,
    failed: Option<String>,
) -> Result<Html<String>, WebError> {
    let channels = state
        .alerts
        .channels()
        .await?
        .into_iter()
        .map(|c| ChannelItem {
            id: c.id,
            name: c.name,
            kind: c.kind.as_str(),
            min_severity: c.min_severity.as_str(),
            sources: c.sources.0.join(", "),
            enabled: c.enabled,
        })
        .collect();
    let done = match done {
        "created" => Some("Channel added.".to_string()),
        "saved" => Some("Channel saved.".to_string()),
        "deleted" => Some("Channel deleted.".to_string()),
        "tested" => Some("The test message was delivered.".to_string()),
        _ => None,
    };
    let chrome = Chrome::of(state, viewer, "admin", "Alert channels").await?;
    Ok(Html(ChannelsPage { chrome, channels, done, failed }.render()?))
}

#[derive(Template)]
#[template(path = "admin_channel_form.html")]
struct FormPage {
    chrome: Chrome,
    id: Option<i64>,
    form: ChannelForm,
    secrets: SecretsSet,
    errors: HashMap<String, String>,
    general: Vec<String>,
    kinds: &'static [(&'static str, &'static str)],
}

impl FormPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/admin/channels/{id}"),
            None => "/admin/channels/new".into(),
        }
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    id: Option<i64>,
    mut form: ChannelForm,
    secrets: SecretsSet,
    refused: Vec<FieldError>,
) -> Result<Response, WebError> {
    let status = if refused.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    // A refused form comes back without the secrets typed into it.
    form.webhook_secret.clear();
    form.chat_url.clear();
    form.ntfy_token.clear();
    form.email_password.clear();
    let mut errors = HashMap::new();
    let mut general = Vec::new();
    for e in refused {
        let field = form_field(&form.kind, &e.field);
        if errors.contains_key(&field) {
            continue;
        }
        if field == "config" || field == "body" {
            general.push(e.message);
        } else {
            errors.insert(field, e.message);
        }
    }
    let title = if id.is_some() { format!("Edit {}", form.name) } else { "Add an alert channel".into() };
    let chrome = Chrome::of(state, viewer, "admin", title).await?;
    let page = FormPage { chrome, id, form, secrets, errors, general, kinds: &KINDS };
    Ok((status, Html(page.render()?)).into_response())
}

pub async fn new_form(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require_admin()?;
    render(&state, &viewer, None, ChannelForm::blank(), SecretsSet::default(), Vec::new()).await
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<ChannelForm>,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    match state.alerts.create_channel(form.to_input(true)).await {
        Ok(c) => {
            tracing::info!(channel_id = c.id, by = viewer.user.id, "alert channel created from the web app");
            Ok(Redirect::to("/admin/channels?done=created").into_response())
        }
        Err(AlertError::Invalid(errors)) => render(&state, &viewer, None, form, SecretsSet::default(), errors).await,
        Err(other) => Err(other.into()),
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    let (form, secrets) = ChannelForm::of(&state.alerts.channel(id).await?);
    render(&state, &viewer, Some(id), form, secrets, Vec::new()).await
}

pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(mut form): CsrfForm<ChannelForm>,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    let stored = state.alerts.channel(id).await?;
    form.kind = stored.kind.as_str().to_string();
    match state.alerts.update_channel(id, form.to_input(false)).await {
        Ok(_) => Ok(Redirect::to("/admin/channels?done=saved").into_response()),
        Err(AlertError::Invalid(errors)) => {
            let (_, secrets) = ChannelForm::of(&stored);
            render(&state, &viewer, Some(id), form, secrets, errors).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /admin/channels/{id}/test`: a test message now; the list says how it went.
pub async fn test(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    viewer.require_admin()?;
    match state.alerts.test_channel(id).await {
        Ok(()) => Ok(Redirect::to("/admin/channels?done=tested").into_response()),
        Err(AlertError::Delivery(detail)) => {
            let failed = Some(format!("The test message was not delivered: {detail}"));
            Ok((StatusCode::BAD_GATEWAY, list_page(&state, &viewer, "", failed).await?).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require_admin()?;
    state.alerts.delete_channel(id).await?;
    Ok(Redirect::to("/admin/channels?done=deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_errors_land_on_their_fields() {
        assert_eq!(form_field("webhook", "config.url"), "webhook_url");
        assert_eq!(form_field("discord", "config.url"), "chat_url");
        assert_eq!(form_field("email", "config.to[1]"), "email_to");
        assert_eq!(form_field("email", "name"), "name");
    }

    #[test]
    fn empty_secret_fields_are_left_out_so_the_stored_ones_stay() {
        let form = ChannelForm {
            kind: "webhook".into(),
            webhook_url: "https://hooks.example/x".into(),
            ..ChannelForm::blank()
        };
        let input = form.to_input(false);
        let config = input.config.unwrap();
        assert_eq!(config["url"], "https://hooks.example/x");
        assert!(config.get("secret").is_none());
        assert_eq!(input.kind, None, "the kind never changes");
    }
}
