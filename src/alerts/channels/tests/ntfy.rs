//! ntfy against a recording receiver.

use base64::Engine as _;
use serde_json::json;

use super::{Receiver, Reply, channel, delivery, now};
use crate::alerts::channels::{ChannelKind, Event, Sender, Severity};

#[tokio::test]
async fn text_is_the_body_and_the_rest_are_headers() {
    let receiver = Receiver::start().await;
    let config = channel(ChannelKind::Ntfy, json!({"url": receiver.url("/herald-alerts")}));
    Sender::new().unwrap().send(&config, &delivery(Event::Firing, Severity::Critical), now()).await.unwrap();
    let got = receiver.only();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/herald-alerts");
    assert_eq!(got.text(), "85 % of 10 connections in use for 5 minutes.");
    assert_eq!(got.header("title"), "Pool utilization over 80 %");
    assert_eq!(got.header("priority"), "5");
    assert_eq!(got.header("tags"), "rotating_light");
    assert_eq!(got.header("content-type"), "text/plain; charset=utf-8");
    assert!(got.headers.get("authorization").is_none());
}

#[tokio::test]
async fn priority_and_tag_follow_severity_and_event() {
    let receiver = Receiver::start().await;
    let config = channel(ChannelKind::Ntfy, json!({"url": receiver.url("/t")}));
    let sender = Sender::new().unwrap();
    let cases = [
        (Event::Firing, Severity::Info, "3", "information_source"),
        (Event::Firing, Severity::Warning, "4", "warning"),
        (Event::Firing, Severity::Critical, "5", "rotating_light"),
        (Event::Resolved, Severity::Critical, "3", "white_check_mark"),
        (Event::Test, Severity::Warning, "4", "test_tube"),
    ];
    for (event, severity, _, _) in cases {
        sender.send(&config, &delivery(event, severity), now()).await.unwrap();
    }
    let got: Vec<_> =
        receiver.received().iter().map(|r| (r.header("priority").to_string(), r.header("tags").to_string())).collect();
    let expected: Vec<_> = cases.iter().map(|(_, _, p, t)| (p.to_string(), t.to_string())).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn token_is_sent_as_bearer_and_never_quoted() {
    let receiver = Receiver::start().await;
    let config = channel(ChannelKind::Ntfy, json!({"url": receiver.url("/t"), "token": "tk_secrettoken123"}));
    let sender = Sender::new().unwrap();
    sender.send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap();
    assert_eq!(receiver.only().header("authorization"), "Bearer tk_secrettoken123");

    // A server that quotes the request back must not leak the token.
    receiver.reply(Reply::Status(403, "forbidden for Bearer tk_secrettoken123"));
    let error = sender.send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "HTTP 403: forbidden for Bearer ***");
    assert!(!error.retryable);
}

#[tokio::test]
async fn a_non_ascii_title_is_an_encoded_word() {
    let receiver = Receiver::start().await;
    let config = channel(ChannelKind::Ntfy, json!({"url": receiver.url("/t")}));
    let mut sent = delivery(Event::Firing, Severity::Warning);
    sent.title = "Ausfall: Datenbank überlastet\nzweite Zeile".into();
    Sender::new().unwrap().send(&config, &sent, now()).await.unwrap();
    let title = receiver.only().header("title").to_string();
    let encoded = title.strip_prefix("=?UTF-8?B?").and_then(|t| t.strip_suffix("?=")).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "Ausfall: Datenbank überlastet zweite Zeile");
}
