//! ntfy: the text POSTed to the topic URL, the rest in headers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::CONTENT_TYPE;

use super::config::NtfyConfig;
use super::http::Http;
use super::{Delivery, DeliveryError, Event, Severity, clip_bytes, one_line};

/// ntfy keeps messages up to 4 096 bytes; longer ones become attachments
/// (or are refused where attachments are off), so the text is cut there.
const MAX_MESSAGE_BYTES: usize = 4096;

pub(super) async fn send(http: &Http, config: &NtfyConfig, delivery: &Delivery) -> Result<(), DeliveryError> {
    let mut request = http
        .client()
        .post(config.url.clone())
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("Title", header_text(&one_line(delivery.heading(), 250)))
        .header("Priority", priority(delivery).to_string())
        .header("Tags", tag(delivery))
        .body(clip_bytes(&delivery.text, MAX_MESSAGE_BYTES).to_string());
    let mut secrets = Vec::new();
    if let Some(token) = &config.token {
        request = request.bearer_auth(token.expose());
        secrets.push(token.expose());
    }
    http.send(request, &secrets).await
}

/// ntfy's 1–5 scale: info 3 (default), warning 4 (high), critical 5
/// (urgent). A resolution is good news, sent at the default 3.
pub(super) fn priority(delivery: &Delivery) -> u8 {
    match (delivery.event, delivery.severity) {
        (Event::Resolved, _) | (_, Severity::Info) => 3,
        (_, Severity::Warning) => 4,
        (_, Severity::Critical) => 5,
    }
}

/// An emoji short code ntfy shows before the title.
fn tag(delivery: &Delivery) -> &'static str {
    match (delivery.event, delivery.severity) {
        (Event::Resolved, _) => "white_check_mark",
        (Event::Test, _) => "test_tube",
        (_, Severity::Info) => "information_source",
        (_, Severity::Warning) => "warning",
        (_, Severity::Critical) => "rotating_light",
    }
}

/// ASCII as is; anything else as an RFC 2047 encoded word, which ntfy
/// decodes (an HTTP header value cannot carry UTF-8 reliably).
fn header_text(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
    }
}
