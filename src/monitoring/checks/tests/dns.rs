//! The dns kind against a tiny UDP DNS server: `A 192.0.2.10` and
//! `TXT "v=herald1"` for any name, NXDOMAIN for names under `missing.`.

use std::net::{Ipv4Addr, SocketAddr};

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, TXT};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

use super::{error, run};
use crate::monitoring::checks::{CheckStatus, Kind, Outcome};

fn answer(query: &Message) -> Message {
    let mut response = Message::response(query.metadata.id, OpCode::Query);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    for q in &query.queries {
        response.add_query(q.clone());
        if q.name().to_ascii().starts_with("missing.") {
            response.metadata.response_code = ResponseCode::NXDomain;
            continue;
        }
        let data = match q.query_type() {
            RecordType::A => RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
            RecordType::TXT => RData::TXT(TXT::new(vec!["v=herald1".to_string()])),
            _ => continue,
        };
        response.add_answer(Record::from_rdata(q.name().clone(), 60, data));
    }
    response
}

async fn dns_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            if let Ok(bytes) = answer(&query).to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    addr
}

async fn check(name: &str, mut config: Value) -> Outcome {
    config["resolver"] = json!(dns_server().await.to_string());
    run(Kind::Dns, name, config).await
}

#[tokio::test]
async fn a_record_equal_to_expected_is_up() {
    let outcome = check("www.herald.test", json!({"expected": "192.0.2.10"})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);
    let outcome = check("www.herald.test", json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "any A record will do without expected");
}

#[tokio::test]
async fn a_record_different_from_expected_is_down() {
    let outcome = check("www.herald.test", json!({"expected": "192.0.2.99"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "no A record equals \"192.0.2.99\" (got 192.0.2.10)");
}

#[tokio::test]
async fn txt_record_is_compared_exactly() {
    let outcome = check("herald.test", json!({"record_type": "TXT", "expected": "v=herald1"})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let outcome = check("herald.test", json!({"record_type": "TXT", "expected": "V=HERALD1"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert!(error(&outcome).contains("got v=herald1"), "{outcome:?}");
}

#[tokio::test]
async fn missing_records_and_names_are_down() {
    let outcome = check("www.herald.test", json!({"record_type": "AAAA"})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "no AAAA records");
    let outcome = check("missing.herald.test", json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "no such domain (NXDOMAIN)");
}
