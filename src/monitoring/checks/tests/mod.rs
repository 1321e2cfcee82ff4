//! Checks against real servers on 127.0.0.1, started by each test.

mod config;
mod dns;
mod http;
mod secrets;
mod tcp;
mod tls;

use std::time::Duration;

use serde_json::{Value, json};

use super::{Checker, Kind, Outcome, Probe, parse};

/// Generous: a passing check takes milliseconds; only the timeout tests wait.
const TIMEOUT: Duration = Duration::from_secs(5);

fn probe(kind: Kind, target: &str, config: Value) -> Probe {
    match parse(kind, target, &config) {
        Ok(probe) => probe,
        Err(errors) => panic!("{kind} {target} {config} should parse: {errors:?}"),
    }
}

async fn run(kind: Kind, target: &str, config: Value) -> Outcome {
    let checker = Checker::new().unwrap();
    checker.run(&probe(kind, target, config), TIMEOUT).await
}

/// The error of an outcome, for `contains` assertions.
fn error(outcome: &Outcome) -> &str {
    outcome.error.as_deref().unwrap_or("")
}

#[tokio::test]
async fn heartbeat_is_never_polled() {
    let outcome = run(Kind::Heartbeat, "", json!(null)).await;
    assert_eq!(outcome.status, super::CheckStatus::Down);
    assert_eq!(error(&outcome), "heartbeats are pushed, not polled");
}

#[test]
fn status_names() {
    use super::CheckStatus::*;
    assert_eq!([Up.as_str(), Degraded.as_str(), Down.as_str()], ["up", "degraded", "down"]);
}

#[test]
fn checker_builds_outside_a_runtime() {
    // Start-up may build it before entering tokio; only running needs the runtime.
    assert!(Checker::new().is_ok());
}
