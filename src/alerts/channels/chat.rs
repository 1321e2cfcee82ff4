//! Slack- and Discord-compatible incoming webhooks. Their URL is the
//! credential, so it and its path are cut out of every error message.

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::config::ChatConfig;
use super::http::Http;
use super::{Delivery, DeliveryError, Event, Severity, clip};

/// Slack truncates longer messages; 4 000 is its recommended bound.
const SLACK_MAX_CHARS: usize = 4000;
/// Discord's limits: message content, embed title, embed description.
const DISCORD_CONTENT_CHARS: usize = 2000;
const DISCORD_TITLE_CHARS: usize = 256;
const DISCORD_DESCRIPTION_CHARS: usize = 4096;

/// `{"text": "<title>\n<text>"}`, with `&`, `<` and `>` escaped as Slack
/// asks (otherwise `<!channel>` in an alert would ping a whole channel).
pub(super) async fn send_slack(http: &Http, config: &ChatConfig, delivery: &Delivery) -> Result<(), DeliveryError> {
    let text = clip(&format!("{}\n{}", delivery.heading(), delivery.text), SLACK_MAX_CHARS);
    post(http, config, json!({ "text": slack_escape(&text) })).await
}

/// The title as `content` (what a push notification shows) and an embed
/// with title, text and a colour: green for a resolution, else by severity.
/// Mentions are disabled, so `@everyone` in an alert pings no one.
pub(super) async fn send_discord(http: &Http, config: &ChatConfig, delivery: &Delivery) -> Result<(), DeliveryError> {
    let mut embed = json!({
        "title": clip(delivery.heading(), DISCORD_TITLE_CHARS),
        "color": discord_color(delivery),
    });
    if !delivery.text.trim().is_empty() {
        embed["description"] = clip(&delivery.text, DISCORD_DESCRIPTION_CHARS).into();
    }
    let body = json!({
        "content": clip(delivery.heading(), DISCORD_CONTENT_CHARS),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    });
    post(http, config, body).await
}

fn discord_color(delivery: &Delivery) -> u32 {
    match (delivery.event, delivery.severity) {
        (Event::Resolved, _) => 0x2E_CC_71,
        (_, Severity::Info) => 0x34_98_DB,
        (_, Severity::Warning) => 0xF3_9C_12,
        (_, Severity::Critical) => 0xE7_4C_3C,
    }
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn post(http: &Http, config: &ChatConfig, body: Value) -> Result<(), DeliveryError> {
    let url = config.url.expose();
    // The path (or the query) carries the token: `/services/T…/B…/XXXX`.
    let parsed = Url::parse(url).ok();
    let path = parsed.as_ref().map_or("", Url::path);
    let query = parsed.as_ref().and_then(Url::query).unwrap_or("");
    let request = http.client().post(url).header(CONTENT_TYPE, "application/json").body(body.to_string().into_bytes());
    http.send(request, &[url, path, query]).await
}
