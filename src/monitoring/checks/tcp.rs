//! TCP: up when a connection opens. The name is resolved by the system
//! resolver (as any client of the service would), each address tried in turn.

use std::io;
use std::time::Instant;

use tokio::net::TcpStream;

use super::Outcome;
use super::config::TcpProbe;

pub(super) async fn run(probe: &TcpProbe, start: Instant) -> Outcome {
    match TcpStream::connect((probe.address.host.as_str(), probe.address.port)).await {
        Ok(_stream) => Outcome::up(start.elapsed()),
        Err(e) => Outcome::down(start.elapsed(), describe_io(&e)),
    }
}

/// A connection-level failure in a few words.
pub(super) fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        io::ErrorKind::UnexpectedEof => "connection closed unexpectedly".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        _ => {
            let text = e.to_string();
            // getaddrinfo's failures come through as a plain message.
            match text.strip_prefix("failed to lookup address information: ") {
                Some(reason) => format!("could not resolve host: {reason}"),
                None => super::clip(&text, 200),
            }
        }
    }
}
