use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::probe;
use crate::monitoring::checks::{Kind, Probe, parse};

/// The fields a rejected config names, sorted.
fn fields(kind: Kind, target: &str, config: Value) -> BTreeSet<String> {
    match parse(kind, target, &config) {
        Ok(p) => panic!("{config} should be rejected, parsed as {p:?}"),
        Err(errors) => errors.into_iter().map(|e| e.field).collect(),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Rendering then parsing gives the same probe and the same rendering.
fn assert_round_trips(p: &Probe) {
    let again = parse(p.kind(), &p.target(), &p.config_json()).unwrap();
    assert_eq!(&again, p);
    assert_eq!(again.config_json(), p.config_json());
}

#[test]
fn kinds_parse_from_their_names() {
    for kind in Kind::ALL {
        assert_eq!(Kind::parse(kind.as_str()), Ok(kind));
    }
    assert_eq!(Kind::Http.as_str(), "http");
    assert!(Kind::parse("HTTP").is_err());
    assert!(Kind::parse("ping").is_err());
}

#[test]
fn http_defaults_fill_in_for_null_and_empty() {
    let expected = json!({
        "method": "GET",
        "headers": {},
        "expected_status": ["2xx"],
        "keyword_absent": false,
        "max_redirects": 5,
        "verify_tls": true,
    });
    for config in [json!(null), json!({}), json!({"method": null, "keyword": null})] {
        let p = probe(Kind::Http, "https://Example.com", config);
        assert_eq!(p.config_json(), expected);
        assert_eq!(p.target(), "https://example.com/");
    }
}

#[test]
fn http_config_is_normalized_and_round_trips() {
    let p = probe(
        Kind::Http,
        "http://127.0.0.1:8080/health?full=1",
        json!({
            "method": "post",
            "headers": {"X-Check": "herald", "Authorization": "Bearer t"},
            "body": "{\"ping\":1}",
            "expected_status": [200, "3XX", " 200-204 ", "201"],
            "keyword": "ok",
            "keyword_absent": true,
            "json_pointer": "/status",
            "json_expected": null,
            "max_redirects": 0,
            "verify_tls": false,
        }),
    );
    assert_eq!(
        p.config_json(),
        json!({
            "method": "POST",
            "headers": {"x-check": "herald", "authorization": "Bearer t"},
            "body": "{\"ping\":1}",
            "expected_status": [200, "3xx", "200-204", 201],
            "keyword": "ok",
            "keyword_absent": true,
            "json_pointer": "/status",
            "json_expected": null,
            "max_redirects": 0,
            "verify_tls": false,
        })
    );
    assert_round_trips(&p);
}

#[test]
fn every_http_rule_names_its_field() {
    let big_body = "x".repeat(64 * 1024 + 1);
    let got = fields(
        Kind::Http,
        "ftp://example.com/",
        json!({
            "method": "FETCH",
            "headers": {"Host": "other", "bad name": "v", "X-Ok": "line\nbreak", "X-Num": 1},
            "body": big_body,
            "expected_status": [200, "6xx", "299-200", true],
            "keyword": "",
            "json_pointer": "status",
            "max_redirects": 11,
            "verify_tls": "yes",
            "timeout": 3,
        }),
    );
    let want = set(&[
        "target",
        "config.method",
        "config.headers.Host",
        "config.headers.bad name",
        "config.headers.X-Ok",
        "config.headers.X-Num",
        "config.body",
        "config.expected_status[1]",
        "config.expected_status[2]",
        "config.expected_status[3]",
        "config.keyword",
        "config.json_pointer",
        "config.max_redirects",
        "config.verify_tls",
        "config.timeout",
    ]);
    assert_eq!(got, want);
}

#[test]
fn http_rules_between_fields() {
    let got = fields(Kind::Http, "https://e.com", json!({"keyword_absent": true, "json_expected": 1}));
    assert_eq!(got, set(&["config.keyword_absent", "config.json_expected"]));
    let got = fields(Kind::Http, "https://e.com", json!({"method": "HEAD", "keyword": "ok", "json_pointer": ""}));
    assert_eq!(got, set(&["config.keyword", "config.json_pointer"]));
    assert_eq!(fields(Kind::Http, "https://e.com", json!({"expected_status": []})), set(&["config.expected_status"]));
    assert_eq!(fields(Kind::Http, "https://e.com", json!({"json_pointer": "/a~2b"})), set(&["config.json_pointer"]));
    assert_eq!(fields(Kind::Http, "not a url", json!({})), set(&["target"]));
    assert_eq!(fields(Kind::Http, "https://e.com", json!([1])), set(&["config"]));
}

#[test]
fn tcp_targets_are_host_and_port() {
    assert_eq!(probe(Kind::Tcp, "DB.Example.com:5432", json!(null)).target(), "db.example.com:5432");
    assert_eq!(probe(Kind::Tcp, "[::1]:443", json!({})).target(), "[::1]:443");
    assert_eq!(probe(Kind::Tcp, "127.0.0.1:1", json!({})).config_json(), json!({}));
    for bad in ["example.com", "::1:443", "[::1]", "host:0", "host:65536", "host:+80", "", "a b:80", "[nope]:80"] {
        assert_eq!(fields(Kind::Tcp, bad, json!({})), set(&["target"]), "{bad}");
    }
    assert_eq!(fields(Kind::Tcp, "h:1", json!({"port": 2})), set(&["config.port"]));
}

#[test]
fn tls_port_defaults_to_443_and_warning_days_are_bounded() {
    let p = probe(Kind::Tls, "example.com", json!(null));
    assert_eq!(p.target(), "example.com:443");
    assert_eq!(p.config_json(), json!({"expiry_warning_days": 14}));
    let p = probe(Kind::Tls, "[2001:db8::1]", json!({"expiry_warning_days": 30}));
    assert_eq!(p.target(), "[2001:db8::1]:443");
    assert_round_trips(&p);
    for days in [json!(0), json!(366), json!(1.5), json!("7")] {
        assert_eq!(
            fields(Kind::Tls, "e.com", json!({ "expiry_warning_days": days })),
            set(&["config.expiry_warning_days"])
        );
    }
}

#[test]
fn dns_config_is_checked_against_the_record_type() {
    let p = probe(Kind::Dns, "Example.com", json!(null));
    assert_eq!(p.target(), "example.com");
    assert_eq!(p.config_json(), json!({"record_type": "A"}));
    let p = probe(
        Kind::Dns,
        "example.com.",
        json!({"record_type": "mx", "expected": "Mail.Example.COM.", "resolver": "127.0.0.1"}),
    );
    assert_eq!(
        p.config_json(),
        json!({"record_type": "MX", "expected": "mail.example.com", "resolver": "127.0.0.1:53"})
    );
    assert_round_trips(&p);
    let p = probe(
        Kind::Dns,
        "e.com",
        json!({"record_type": "AAAA", "expected": "2001:DB8::0001", "resolver": "[::1]:5353"}),
    );
    assert_eq!(p.config_json(), json!({"record_type": "AAAA", "expected": "2001:db8::1", "resolver": "[::1]:5353"}));
    assert_eq!(fields(Kind::Dns, "e.com", json!({"expected": "2001:db8::1"})), set(&["config.expected"]));
    assert_eq!(
        fields(Kind::Dns, "e.com", json!({"record_type": "CNAME", "expected": "not a name"})),
        set(&["config.expected"])
    );
    assert_eq!(fields(Kind::Dns, "e.com", json!({"record_type": "SRV"})), set(&["config.record_type"]));
    assert_eq!(fields(Kind::Dns, "e.com", json!({"resolver": "dns.google"})), set(&["config.resolver"]));
    assert_eq!(fields(Kind::Dns, "exa mple.com", json!({"extra": 1})), set(&["target", "config.extra"]));
}

#[test]
fn heartbeat_needs_no_target_and_bounds_its_grace() {
    let p = probe(Kind::Heartbeat, "", json!({}));
    assert_eq!(p.target(), "");
    assert_eq!(p.config_json(), json!({"grace_seconds": 60}));
    let Probe::Heartbeat(beat) = probe(Kind::Heartbeat, "", json!({"grace_seconds": 0})) else { unreachable!() };
    assert_eq!(beat.grace(), Duration::ZERO);
    assert_eq!(fields(Kind::Heartbeat, "", json!({"grace_seconds": 86_401})), set(&["config.grace_seconds"]));
    assert_eq!(fields(Kind::Heartbeat, "https://e.com", json!({})), set(&["target"]));
}
