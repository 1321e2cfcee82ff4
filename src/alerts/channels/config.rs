//! A channel's `config`, parsed once into a [`ChannelConfig`] that cannot
//! hold an invalid value, and rendered two ways: [`ChannelConfig::public_json`]
//! for the API (no secret in it) and [`ChannelConfig::to_stored_json`] for
//! the database (secrets included).
//!
//! Secrets are write-only. On an update the caller passes the stored
//! config as `previous`: a secret key that is absent keeps the stored
//! value, so a client can send back what it read (the `*_set` flags that
//! [`ChannelConfig::public_json`] adds are accepted and ignored). An
//! optional secret (the ntfy `token`) is removed with an explicit `null`.

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;

pub use super::email_config::{EmailConfig, SmtpSecurity};
use crate::secret::Secret;
pub use crate::validation::FieldError;
pub(super) use crate::validation::Fields;
use crate::validation::http_url;

pub const MIN_WEBHOOK_SECRET_CHARS: usize = 16;
pub const MAX_WEBHOOK_SECRET_CHARS: usize = 256;
pub const MAX_TOKEN_BYTES: usize = 512;
pub const MAX_RECIPIENTS: usize = 20;

/// How a channel delivers.
/// Stored as text, decoded at the storage boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A notification to every operator and admin; delivered by the
    /// caller through the notifications service, not by [`super::Sender`].
    InApp,
    Webhook,
    Slack,
    Discord,
    Email,
    Ntfy,
}

impl TryFrom<String> for ChannelKind {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|_| format!("unknown channel kind {raw:?}"))
    }
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 6] = [
        ChannelKind::InApp,
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Discord,
        ChannelKind::Email,
        ChannelKind::Ntfy,
    ];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| "must be one of in_app, webhook, slack, discord, email, ntfy".to_string())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::InApp => "in_app",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Email => "email",
            ChannelKind::Ntfy => "ntfy",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated channel config of one kind. `Debug` never shows a secret.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelConfig {
    InApp,
    Webhook(WebhookConfig),
    Slack(ChatConfig),
    Discord(ChatConfig),
    Email(EmailConfig),
    Ntfy(NtfyConfig),
}

/// A generic webhook: a signed JSON POST.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub(super) url: Url,
    /// Keys the `X-Herald-Signature` HMAC.
    pub(super) secret: Secret,
}

/// A Slack- or Discord-compatible incoming webhook. The URL itself is the
/// credential (it embeds the token), so it is kept as a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatConfig {
    pub(super) url: Secret,
}

/// An ntfy topic.
#[derive(Debug, Clone, PartialEq)]
pub struct NtfyConfig {
    /// The full topic URL, `https://ntfy.sh/my-alerts`.
    pub(super) url: Url,
    /// Sent as `Authorization: Bearer …` when set.
    pub(super) token: Option<Secret>,
}

/// Parse a channel's `config` for its kind; every broken rule is reported
/// at once. `previous` is the stored config on an update: absent secrets
/// keep its values (when it is of the same kind).
pub fn parse(
    kind: ChannelKind,
    config: &Value,
    previous: Option<&ChannelConfig>,
) -> Result<ChannelConfig, Vec<FieldError>> {
    if !matches!(config, Value::Null | Value::Object(_)) {
        return Err(vec![FieldError::new("config", "must be a JSON object")]);
    }
    match (kind, previous) {
        (ChannelKind::InApp, _) => Fields::new(config, "config", &[], &[]).finish(Parsed::InApp),
        (ChannelKind::Webhook, Some(ChannelConfig::Webhook(p))) => WebhookConfig::parse(config, Some(p)),
        (ChannelKind::Webhook, _) => WebhookConfig::parse(config, None),
        (ChannelKind::Slack, Some(ChannelConfig::Slack(p))) => ChatConfig::parse(config, Some(p)),
        (ChannelKind::Slack, _) => ChatConfig::parse(config, None),
        (ChannelKind::Discord, Some(ChannelConfig::Discord(p))) => ChatConfig::parse(config, Some(p)),
        (ChannelKind::Discord, _) => ChatConfig::parse(config, None),
        (ChannelKind::Email, Some(ChannelConfig::Email(p))) => EmailConfig::parse(config, Some(p)),
        (ChannelKind::Email, _) => EmailConfig::parse(config, None),
        (ChannelKind::Ntfy, Some(ChannelConfig::Ntfy(p))) => NtfyConfig::parse(config, Some(p)),
        (ChannelKind::Ntfy, _) => NtfyConfig::parse(config, None),
    }
    .map(|parsed| match parsed {
        Parsed::Webhook(c) => ChannelConfig::Webhook(c),
        Parsed::Chat(c) if kind == ChannelKind::Slack => ChannelConfig::Slack(c),
        Parsed::Chat(c) => ChannelConfig::Discord(c),
        Parsed::Email(c) => ChannelConfig::Email(c),
        Parsed::Ntfy(c) => ChannelConfig::Ntfy(c),
        Parsed::InApp => ChannelConfig::InApp,
    })
}

/// What a kind's parser returns; slack and discord share one.
pub(super) enum Parsed {
    InApp,
    Webhook(WebhookConfig),
    Chat(ChatConfig),
    Email(EmailConfig),
    Ntfy(NtfyConfig),
}

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelConfig::InApp => ChannelKind::InApp,
            ChannelConfig::Webhook(_) => ChannelKind::Webhook,
            ChannelConfig::Slack(_) => ChannelKind::Slack,
            ChannelConfig::Discord(_) => ChannelKind::Discord,
            ChannelConfig::Email(_) => ChannelKind::Email,
            ChannelConfig::Ntfy(_) => ChannelKind::Ntfy,
        }
    }

    /// The config as the API returns it: every secret replaced by a
    /// `<name>_set` flag. [`parse`] with this config as `previous` accepts
    /// the result back unchanged.
    pub fn public_json(&self) -> Value {
        self.render(false)
    }

    /// The config with its secrets, for the caller to store; read back
    /// with [`ChannelConfig::from_stored_json`]. Never log or return it.
    pub fn to_stored_json(&self) -> Value {
        self.render(true)
    }

    /// A config stored by [`ChannelConfig::to_stored_json`].
    pub fn from_stored_json(kind: ChannelKind, stored: &Value) -> Result<Self, Vec<FieldError>> {
        parse(kind, stored, None)
    }

    fn render(&self, secrets: bool) -> Value {
        let secret = |name: &str, value: Option<&Secret>| -> (String, Value) {
            if secrets {
                (name.to_string(), value.map_or(Value::Null, |s| s.expose().into()))
            } else {
                (format!("{name}_set"), value.is_some().into())
            }
        };
        let mut map = Map::new();
        let mut put = |(key, value): (String, Value)| {
            if !value.is_null() {
                map.insert(key, value);
            }
        };
        match self {
            ChannelConfig::InApp => {}
            ChannelConfig::Webhook(c) => {
                put(("url".into(), c.url.as_str().into()));
                put(secret("secret", Some(&c.secret)));
            }
            ChannelConfig::Slack(c) | ChannelConfig::Discord(c) => put(secret("url", Some(&c.url))),
            ChannelConfig::Ntfy(c) => {
                put(("url".into(), c.url.as_str().into()));
                put(secret("token", c.token.as_ref()));
            }
            ChannelConfig::Email(c) => {
                put(("host".into(), c.host.as_str().into()));
                put(("port".into(), c.port.into()));
                put(("security".into(), c.security.as_str().into()));
                put(("username".into(), c.username.as_deref().into()));
                put(secret("password", c.password.as_ref()));
                put(("from".into(), c.from.to_string().into()));
                put(("to".into(), json!(c.to.iter().map(ToString::to_string).collect::<Vec<_>>())));
            }
        }
        Value::Object(map)
    }
}

impl WebhookConfig {
    fn parse(config: &Value, previous: Option<&Self>) -> Result<Parsed, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &["url", "secret"], &["secret_set"]);
        let url = f.required("url").and_then(|raw| f.check("url", public_url(raw)));
        let secret = match f.string("secret") {
            Some(raw) => f.check("secret", webhook_secret(raw)),
            None => match previous {
                Some(p) => Some(p.secret.clone()),
                None => f.error_none("secret", "is required"),
            },
        };
        match (url, secret) {
            (Some(url), Some(secret)) => f.finish(Parsed::Webhook(Self { url, secret })),
            _ => Err(f.errors),
        }
    }
}

impl ChatConfig {
    fn parse(config: &Value, previous: Option<&Self>) -> Result<Parsed, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &["url"], &["url_set"]);
        let url = match f.string("url") {
            Some(raw) => f.check("url", http_url(raw)).map(|url| Secret::new(url.as_str())),
            None => match previous {
                Some(p) => Some(p.url.clone()),
                None => f.error_none("url", "is required"),
            },
        };
        match url {
            Some(url) => f.finish(Parsed::Chat(Self { url })),
            None => Err(f.errors),
        }
    }
}

impl NtfyConfig {
    fn parse(config: &Value, previous: Option<&Self>) -> Result<Parsed, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &["url", "token"], &["token_set"]);
        let url = f.required("url").and_then(|raw| f.check("url", public_url(raw).and_then(topic_url)));
        let token = match f.raw("token") {
            // Absent keeps the stored token; `null` removes it.
            None => previous.and_then(|p| p.token.clone()),
            Some(Value::Null) => None,
            Some(_) => f.string("token").and_then(|raw| f.check("token", token(raw))),
        };
        match url {
            Some(url) => f.finish(Parsed::Ntfy(Self { url, token })),
            None => Err(f.errors),
        }
    }
}

/// An [`http_url`] that the API shows, so it may not carry credentials.
fn public_url(raw: &str) -> Result<Url, String> {
    let url = http_url(raw)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials: the URL is shown to every admin".into());
    }
    Ok(url)
}

fn topic_url(url: Url) -> Result<Url, String> {
    if url.path().trim_matches('/').is_empty() {
        return Err("must be the full topic URL, e.g. https://ntfy.sh/my-alerts".into());
    }
    Ok(url)
}

fn webhook_secret(raw: &str) -> Result<Secret, String> {
    let chars = raw.chars().count();
    if !(MIN_WEBHOOK_SECRET_CHARS..=MAX_WEBHOOK_SECRET_CHARS).contains(&chars) {
        return Err(format!("must be {MIN_WEBHOOK_SECRET_CHARS} to {MAX_WEBHOOK_SECRET_CHARS} characters"));
    }
    if raw.chars().any(char::is_control) || raw.trim() != raw {
        return Err("must not contain control characters or start or end with whitespace".into());
    }
    Ok(Secret::new(raw))
}

fn token(raw: &str) -> Result<Secret, String> {
    let ok = !raw.is_empty() && raw.len() <= MAX_TOKEN_BYTES && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(Secret::new(raw)) } else { Err(format!("must be 1 to {MAX_TOKEN_BYTES} visible ASCII characters")) }
}
