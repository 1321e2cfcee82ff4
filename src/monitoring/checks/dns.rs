//! DNS checks with hickory-resolver.
//!
//! Resolvers keep no answer cache and ignore `/etc/hosts`: a DNS check
//! asks DNS every time, or it would report a cached answer after the
//! zone broke. The system resolver (from `/etc/resolv.conf`) is built
//! once; one resolver per `resolver` address a check names is built on
//! first use and kept (up to [`MAX_CUSTOM_RESOLVERS`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType as WireType};
use hickory_resolver::{ResolverBuilder, TokioResolver};

use super::config::{DnsProbe, RecordType};
use super::{Outcome, clip, tcp};

/// Distinct `resolver` addresses kept; past this the cache starts over.
pub const MAX_CUSTOM_RESOLVERS: usize = 64;

pub(super) struct Resolvers {
    system: Result<TokioResolver, String>,
    custom: Mutex<HashMap<SocketAddr, TokioResolver>>,
}

impl Resolvers {
    pub fn new() -> Self {
        let system = TokioResolver::builder_tokio()
            .and_then(build)
            .map_err(|e| format!("no usable system DNS configuration: {e}"));
        Self { system, custom: Mutex::new(HashMap::new()) }
    }

    fn get(&self, server: Option<SocketAddr>) -> Result<TokioResolver, String> {
        let Some(server) = server else { return self.system.clone() };
        let mut custom = self.custom.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(resolver) = custom.get(&server) {
            return Ok(resolver.clone());
        }
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let config = ResolverConfig::from_name_servers(vec![name_server]);
        let resolver = build(TokioResolver::builder_with_config(config, TokioRuntimeProvider::default()))
            .map_err(|e| format!("could not set up a resolver for {server}: {e}"))?;
        if custom.len() >= MAX_CUSTOM_RESOLVERS {
            custom.clear();
        }
        custom.insert(server, resolver.clone());
        Ok(resolver)
    }
}

fn build(mut builder: ResolverBuilder<TokioRuntimeProvider>) -> Result<TokioResolver, NetError> {
    let options: &mut ResolverOpts = builder.options_mut();
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    builder.build()
}

pub(super) async fn run(resolvers: &Resolvers, probe: &DnsProbe, start: Instant) -> Outcome {
    let resolver = match resolvers.get(probe.resolver) {
        Ok(resolver) => resolver,
        Err(e) => return Outcome::down(start.elapsed(), e),
    };
    let wire_type = match probe.record_type {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
        RecordType::Cname => WireType::CNAME,
        RecordType::Mx => WireType::MX,
        RecordType::Txt => WireType::TXT,
    };
    let kind = probe.record_type.as_str();
    let lookup = match resolver.lookup(probe.name.as_str(), wire_type).await {
        Ok(lookup) => lookup,
        Err(e) => return Outcome::down(start.elapsed(), describe(&e, kind)),
    };
    let latency = start.elapsed();
    let values: Vec<String> = lookup.answers().iter().filter_map(|r| record_text(&r.data, probe.record_type)).collect();
    let Some(expected) = &probe.expected else {
        return if values.is_empty() {
            Outcome::down(latency, format!("no {kind} records"))
        } else {
            Outcome::up(latency)
        };
    };
    let is_name = matches!(probe.record_type, RecordType::Cname | RecordType::Mx);
    let matches = |v: &String| if is_name { v.eq_ignore_ascii_case(expected) } else { v == expected };
    if values.iter().any(matches) {
        return Outcome::up(latency);
    }
    let got = if values.is_empty() { "none".to_string() } else { clip(&values.join(", "), 200) };
    Outcome::down(latency, format!("no {kind} record equals {:?} (got {got})", clip(expected, 100)))
}

/// A record of the asked type as the config writes it: IPs canonical,
/// names without the final dot (the MX exchange alone), TXT strings joined.
fn record_text(data: &RData, want: RecordType) -> Option<String> {
    let name = |n: &hickory_resolver::proto::rr::Name| n.to_ascii().trim_end_matches('.').to_string();
    match (data, want) {
        (RData::A(a), RecordType::A) => Some(a.0.to_string()),
        (RData::AAAA(a), RecordType::Aaaa) => Some(a.0.to_string()),
        (RData::CNAME(c), RecordType::Cname) => Some(name(&c.0)),
        (RData::MX(mx), RecordType::Mx) => Some(name(&mx.exchange)),
        (RData::TXT(txt), RecordType::Txt) => {
            Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
        }
        _ => None,
    }
}

fn describe(e: &NetError, kind: &str) -> String {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(none)) if none.response_code == ResponseCode::NXDomain => {
            "no such domain (NXDOMAIN)".into()
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => format!("no {kind} records"),
        NetError::Dns(DnsError::ResponseCode(code)) => format!("DNS server answered {}", code.to_str()),
        NetError::Timeout => "DNS query timed out".into(),
        NetError::Io(io) => format!("DNS query failed: {}", tcp::describe_io(io)),
        other => clip(&format!("DNS query failed: {other}"), 200),
    }
}
