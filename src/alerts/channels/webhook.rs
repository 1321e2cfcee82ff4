//! The generic webhook: a JSON POST signed with the channel's secret.
//!
//! `X-Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the
//! HMAC is keyed with the secret over `"<t>.<raw body>"`. A receiver
//! recomputes it over the bytes it received (before parsing the JSON),
//! compares in constant time and refuses a `t` too far from its clock, so
//! a captured request cannot be replayed later. [`verify`] does all that;
//! it accepts several `v1=` values, so a receiver can be handed a header
//! signed with either of two secrets while one is being rotated.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use serde_json::json;
use sha2::Sha256;

use super::config::WebhookConfig;
use super::http::Http;
use super::{Delivery, DeliveryError};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Herald-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes a key of any length"),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The [`SIGNATURE_HEADER`] value for `body` sent at `t` (unix seconds):
/// `t=<t>,v1=<lowercase hex HMAC-SHA256 of "<t>.<body>">`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` with `secret`, made
/// within `tolerance` of `now`. Compares in constant time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: DateTime<Utc>, tolerance: Duration) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if t.is_none() => t = value.parse::<i64>().ok(),
            Some(("t", _)) => return false,
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now.timestamp().abs_diff(t) > tolerance.as_secs() {
        return false;
    }
    let expected = mac(secret, t, body);
    signatures.into_iter().filter_map(|s| hex::decode(s).ok()).any(|s| expected.clone().verify_slice(&s).is_ok())
}

pub(super) async fn send(
    http: &Http,
    config: &WebhookConfig,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let body = json!({ "event": delivery.event.as_str(), "alert": delivery.alert }).to_string().into_bytes();
    let signature = sign(config.secret.expose(), now.timestamp(), &body);
    let request = http
        .client()
        .post(config.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body);
    http.send(request, &[config.secret.expose()]).await
}
