use serde_json::json;
use tokio::net::TcpListener;

use super::{error, run};
use crate::monitoring::checks::{CheckStatus, Kind};

#[tokio::test]
async fn open_port_is_up_and_closed_port_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let outcome = run(Kind::Tcp, &target, json!(null)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);

    drop(listener);
    let outcome = run(Kind::Tcp, &target, json!(null)).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "connection refused");
}

#[tokio::test]
async fn ipv6_loopback_target_connects() {
    // Skipped where the machine has no IPv6 loopback.
    let Ok(listener) = TcpListener::bind("[::1]:0").await else { return };
    let target = format!("[::1]:{}", listener.local_addr().unwrap().port());
    let outcome = run(Kind::Tcp, &target, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
}
