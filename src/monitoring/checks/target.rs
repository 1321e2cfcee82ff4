//! Targets: host names and `host:port` addresses, normalized.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::validation::is_host_name;

/// A host name ([`is_host_name`]), lowercased.
pub(super) fn parse_host_name(raw: &str) -> Result<String, String> {
    if is_host_name(raw) { Ok(raw.to_ascii_lowercase()) } else { Err(format!("{raw:?} is not a valid host name")) }
}

/// A `host:port` address; an IPv6 host is written in brackets (`[::1]:443`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Lowercased name or IP address, without brackets.
    pub(super) host: String,
    pub(super) port: u16,
}

impl HostPort {
    /// Parse `host:port`; without a port, `default_port` is used when given.
    pub fn parse(raw: &str, default_port: Option<u16>) -> Result<Self, String> {
        let need_port = || match default_port {
            Some(port) => Ok(port),
            None => Err("needs a port: host:port".to_string()),
        };
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or("has an unclosed [")?;
            let ip: Ipv6Addr = inside.parse().map_err(|_| format!("{inside:?} is not an IPv6 address"))?;
            let port = match after {
                "" => need_port()?,
                _ => parse_port(after.strip_prefix(':').ok_or("expected :port after ]")?)?,
            };
            (ip.to_string(), port)
        } else {
            match raw.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err("IPv6 addresses need brackets, e.g. [::1]:443".into());
                }
                Some((host, port)) => (parse_host(host)?, parse_port(port)?),
                None if raw.parse::<Ipv6Addr>().is_ok() => {
                    return Err("IPv6 addresses need brackets, e.g. [::1]:443".into());
                }
                None => (parse_host(raw)?, need_port()?),
            }
        };
        Ok(Self { host, port })
    }
}

fn parse_host(raw: &str) -> Result<String, String> {
    match raw.parse::<Ipv4Addr>() {
        Ok(ip) => Ok(ip.to_string()),
        Err(_) => parse_host_name(raw),
    }
}

fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.parse::<u16>() {
        Ok(port) if port > 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("port {raw:?} must be a number from 1 to 65535")),
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}
