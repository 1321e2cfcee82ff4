//! Slack- and Discord-compatible webhooks against a recording receiver.

use serde_json::json;

use super::{Receiver, Reply, channel, closed_port, delivery, now};
use crate::alerts::channels::{ChannelKind, Delivery, Event, Sender, Severity};

const HOOK_PATH: &str = "/services/T000/B000/XXXXSECRETXXXX";

async fn send(kind: ChannelKind, receiver: &Receiver, delivery: &Delivery) {
    let config = channel(kind, json!({"url": receiver.url(HOOK_PATH)}));
    Sender::new().unwrap().send(&config, delivery, now()).await.unwrap();
}

#[tokio::test]
async fn slack_gets_title_and_text() {
    let receiver = Receiver::start().await;
    send(ChannelKind::Slack, &receiver, &delivery(Event::Firing, Severity::Warning)).await;
    let got = receiver.only();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, HOOK_PATH);
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.json(), json!({"text": "Pool utilization over 80 %\n85 % of 10 connections in use for 5 minutes."}));
}

#[tokio::test]
async fn slack_markup_in_an_alert_is_escaped() {
    let receiver = Receiver::start().await;
    let mut sent = delivery(Event::Firing, Severity::Critical);
    sent.title = "<!channel> db & cache".into();
    sent.text = "p95 > 1 s".into();
    send(ChannelKind::Slack, &receiver, &sent).await;
    assert_eq!(receiver.only().json(), json!({"text": "&lt;!channel&gt; db &amp; cache\np95 &gt; 1 s"}));
}

#[tokio::test]
async fn discord_gets_content_and_a_coloured_embed() {
    let receiver = Receiver::start().await;
    send(ChannelKind::Discord, &receiver, &delivery(Event::Firing, Severity::Critical)).await;
    send(ChannelKind::Discord, &receiver, &delivery(Event::Resolved, Severity::Critical)).await;
    let got = receiver.received();
    assert_eq!(
        got[0].json(),
        json!({
            "content": "Pool utilization over 80 %",
            "embeds": [{
                "title": "Pool utilization over 80 %",
                "description": "85 % of 10 connections in use for 5 minutes.",
                "color": 0xE74C3C,
            }],
            "allowed_mentions": {"parse": []},
        })
    );
    assert_eq!(got[1].json()["embeds"][0]["color"], 0x2ECC71, "a resolution is green");
}

#[tokio::test]
async fn discord_limits_are_kept() {
    let receiver = Receiver::start().await;
    let mut sent = delivery(Event::Firing, Severity::Info);
    sent.title = "t".repeat(3000);
    sent.text = "d".repeat(5000);
    send(ChannelKind::Discord, &receiver, &sent).await;
    let body = receiver.only().json();
    let chars = |v: &serde_json::Value| v.as_str().unwrap().chars().count();
    assert_eq!(chars(&body["content"]), 2000);
    assert!(body["content"].as_str().unwrap().ends_with('…'));
    assert_eq!(chars(&body["embeds"][0]["title"]), 256);
    assert_eq!(chars(&body["embeds"][0]["description"]), 4096);
}

#[tokio::test]
async fn the_hook_url_never_appears_in_errors() {
    let receiver = Receiver::start().await;
    // Mattermost and friends answer an unknown hook with a page naming the path.
    receiver.reply(Reply::EchoPath(404));
    let config = channel(ChannelKind::Slack, json!({"url": receiver.url(HOOK_PATH)}));
    let sender = Sender::new().unwrap();
    let error = sender.send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "HTTP 404: no webhook at ***");
    assert!(!error.retryable);

    let port = closed_port().await;
    let down = channel(ChannelKind::Discord, json!({"url": format!("http://127.0.0.1:{port}{HOOK_PATH}")}));
    let error = sender.send(&down, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "connection refused");
    assert!(error.retryable);
}
