//! A deliberately tiny HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Benchmarks poll readiness thousands of times; a raw request keeps the
//! client's own cost negligible and adds no dependency to measure around.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Status line is within the first few dozen bytes; stop reading there.
const MAX_STATUS_LINE: usize = 1024;

/// Status code of `GET path`, or the I/O error (connection refused while the
/// server is still starting is the common one). Each step is bounded by
/// `timeout` so a stuck server cannot hang the caller.
pub fn get_status(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;

    let mut head = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_STATUS_LINE {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    parse_status_line(&head)
}

/// "HTTP/1.1 200 OK\r\n..." -> 200.
fn parse_status_line(head: &[u8]) -> io::Result<u16> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(code))) if version.starts_with("HTTP/") => Ok(code),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP status line: {line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_status_line;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n").ok(), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\nx").ok(), Some(503));
        assert!(parse_status_line(b"").is_err());
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n").is_err());
    }
}
