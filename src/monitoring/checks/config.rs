//! What a check is told to do, parsed once: the kind, the normalized
//! target and the kind's `config` object with every default filled in.
//! A [`Probe`] cannot hold an invalid value, so running one never has to
//! re-validate, and [`Probe::config_json`] renders exactly what was parsed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Map, Value, json};

pub use crate::validation::FieldError;
use crate::validation::Fields;

use super::http_config::HttpProbe;
use super::secrets;
use super::target::{HostPort, parse_host_name};

/// What kind of check a service has. Stored as text, decoded at the
/// storage boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = CheckKind)]
pub enum Kind {
    Http,
    Tcp,
    Dns,
    Tls,
    /// Pushed by the service itself; never polled by the [`super::Checker`].
    Heartbeat,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Http, Kind::Tcp, Kind::Dns, Kind::Tls, Kind::Heartbeat];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| "must be one of http, tcp, dns, tls, heartbeat".to_string())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tcp => "tcp",
            Kind::Dns => "dns",
            Kind::Tls => "tls",
            Kind::Heartbeat => "heartbeat",
        }
    }
}

impl TryFrom<String> for Kind {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Kind::parse(&raw).map_err(|_| format!("unknown check kind {raw:?}"))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated check of one kind, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Boxed: an HTTP probe is several times the size of the others.
    Http(Box<HttpProbe>),
    Tcp(TcpProbe),
    Dns(DnsProbe),
    Tls(TlsProbe),
    Heartbeat(HeartbeatProbe),
}

/// Parse a service's target and `config` for its kind. `config` may be
/// `null` or `{}` for all defaults; every broken rule is reported at once.
pub fn parse(kind: Kind, target: &str, config: &Value) -> Result<Probe, Vec<FieldError>> {
    match kind {
        Kind::Http => HttpProbe::parse(target, config).map(|p| Probe::Http(Box::new(p))),
        Kind::Tcp => TcpProbe::parse(target, config).map(Probe::Tcp),
        Kind::Dns => DnsProbe::parse(target, config).map(Probe::Dns),
        Kind::Tls => TlsProbe::parse(target, config).map(Probe::Tls),
        Kind::Heartbeat => HeartbeatProbe::parse(target, config).map(Probe::Heartbeat),
    }
}

/// Parse a request's target and `config`: like [`parse`], and where a
/// secret comes back as [`secrets::MASK`] (what reads show), the stored value
/// of `previous` is kept — if the target still points to its origin. A
/// mask with no stored secret behind it is an error naming the field.
pub fn parse_input(
    kind: Kind,
    target: &str,
    config: &Value,
    previous: Option<&Probe>,
) -> Result<Probe, Vec<FieldError>> {
    let stored = match previous {
        Some(Probe::Http(p)) => Some(p.as_ref()),
        _ => None,
    };
    let (target, config) = secrets::restore(kind, target, config, stored)?;
    parse(kind, &target, &config)
}

impl Probe {
    pub fn kind(&self) -> Kind {
        match self {
            Probe::Http(_) => Kind::Http,
            Probe::Tcp(_) => Kind::Tcp,
            Probe::Dns(_) => Kind::Dns,
            Probe::Tls(_) => Kind::Tls,
            Probe::Heartbeat(_) => Kind::Heartbeat,
        }
    }

    /// The normalized target, as it should be stored and shown.
    pub fn target(&self) -> String {
        match self {
            Probe::Http(p) => p.url().to_string(),
            Probe::Tcp(p) => p.address.to_string(),
            Probe::Dns(p) => p.name.clone(),
            Probe::Tls(p) => p.address.to_string(),
            Probe::Heartbeat(_) => String::new(),
        }
    }

    /// The normalized config with defaults filled in: what the API returns
    /// and what `parse` accepts back unchanged.
    pub fn config_json(&self) -> Value {
        match self {
            Probe::Http(p) => p.config_json(),
            Probe::Tcp(_) => json!({}),
            Probe::Dns(p) => p.config_json(),
            Probe::Tls(p) => json!({ "expiry_warning_days": p.expiry_warning_days }),
            Probe::Heartbeat(p) => json!({ "grace_seconds": p.grace_seconds }),
        }
    }
}

/// Up when a TCP connection to `host:port` opens. Takes no config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpProbe {
    pub(super) address: HostPort,
}

impl TcpProbe {
    fn parse(target: &str, config: &Value) -> Result<Self, Vec<FieldError>> {
        let mut fields = Fields::new(config, "config", &[], &[]);
        let address = HostPort::parse(target, None).map_err(|m| fields.error_at("target", m));
        match address {
            Ok(address) => fields.finish(Self { address }),
            Err(()) => Err(fields.errors),
        }
    }
}

/// The DNS record types a check may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
}

impl RecordType {
    const ALL: [RecordType; 5] = [RecordType::A, RecordType::Aaaa, RecordType::Cname, RecordType::Mx, RecordType::Txt];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
        }
    }
}

/// Up when `name` resolves to at least one record of `record_type`, and,
/// when `expected` is set, one of them equals it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsProbe {
    pub(super) name: String,
    pub(super) record_type: RecordType,
    /// Normalized: a canonical IP for A/AAAA, a lowercase name without the
    /// final dot for CNAME/MX (the exchange), the exact text for TXT.
    pub(super) expected: Option<String>,
    /// The DNS server to ask; `None` means the system's resolver configuration.
    pub(super) resolver: Option<SocketAddr>,
}

const MAX_TXT_CHARS: usize = 4096;

impl DnsProbe {
    fn parse(target: &str, config: &Value) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &["record_type", "expected", "resolver"], &[]);
        let name = parse_host_name(target).map_err(|m| f.error_at("target", m)).ok();
        let record_type = match f.string("record_type") {
            None => RecordType::A,
            Some(raw) => {
                RecordType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(raw)).unwrap_or_else(|| {
                    f.error("record_type", "must be one of A, AAAA, CNAME, MX, TXT");
                    RecordType::A
                })
            }
        };
        let expected = f.string("expected").and_then(|raw| {
            let parsed = match record_type {
                RecordType::A => raw.parse::<Ipv4Addr>().map(|ip| ip.to_string()).map_err(|_| "an IPv4 address"),
                RecordType::Aaaa => raw.parse::<Ipv6Addr>().map(|ip| ip.to_string()).map_err(|_| "an IPv6 address"),
                RecordType::Cname | RecordType::Mx => {
                    parse_host_name(raw).map(|n| n.trim_end_matches('.').to_string()).map_err(|_| "a host name")
                }
                RecordType::Txt if raw.chars().count() <= MAX_TXT_CHARS => Ok(raw.to_string()),
                RecordType::Txt => Err("at most 4096 characters"),
            };
            parsed
                .map_err(|what| f.error("expected", format!("must be {what} for {} records", record_type.as_str())))
                .ok()
        });
        let resolver = f.string("resolver").and_then(|raw| {
            let parsed = raw.parse::<SocketAddr>().or_else(|_| raw.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
            match parsed {
                Ok(addr) if addr.port() != 0 => Some(addr),
                _ => {
                    f.error("resolver", "must be ip:port of a DNS server, e.g. 1.1.1.1:53 or [2606:4700::1111]:53");
                    None
                }
            }
        });
        match name {
            Some(name) => f.finish(Self { name, record_type, expected, resolver }),
            None => Err(f.errors),
        }
    }

    fn config_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("record_type".into(), self.record_type.as_str().into());
        if let Some(expected) = &self.expected {
            map.insert("expected".into(), expected.as_str().into());
        }
        if let Some(resolver) = self.resolver {
            map.insert("resolver".into(), resolver.to_string().into());
        }
        Value::Object(map)
    }
}

/// Connects with TLS to `host:port` (443 by default) and judges the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProbe {
    pub(super) address: HostPort,
    /// Degraded when the certificate expires within this many days.
    pub(super) expiry_warning_days: u32,
}

impl TlsProbe {
    fn parse(target: &str, config: &Value) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &["expiry_warning_days"], &[]);
        let address = HostPort::parse(target, Some(443)).map_err(|m| f.error_at("target", m));
        let expiry_warning_days = f.int("expiry_warning_days", 1, 365, 14);
        match address {
            Ok(address) => f.finish(Self { address, expiry_warning_days }),
            Err(()) => Err(f.errors),
        }
    }
}

/// A heartbeat's settings; the beats themselves are pushed to the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatProbe {
    grace_seconds: u32,
}

impl HeartbeatProbe {
    /// How late a beat may arrive past the interval before the service is down.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(u64::from(self.grace_seconds))
    }

    fn parse(target: &str, config: &Value) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(config, "config", &["grace_seconds"], &[]);
        if !target.is_empty() {
            f.error_at("target", "must be empty: a heartbeat is pushed by the service");
        }
        let grace_seconds = f.int("grace_seconds", 0, 86_400, 60);
        f.finish(Self { grace_seconds })
    }
}
