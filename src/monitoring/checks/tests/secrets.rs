//! Check secrets: which headers are secret, how reads mask them, how an
//! update's masks are restored (same origin only), and what is redacted.

use serde_json::{Value, json};

use super::probe;
use crate::monitoring::checks::secrets::{MASK, is_secret_header, public};
use crate::monitoring::checks::{Kind, Probe, parse_input};

fn http(target: &str, config: Value) -> Probe {
    probe(Kind::Http, target, config)
}

fn fields(result: Result<Probe, Vec<crate::monitoring::checks::FieldError>>) -> Vec<String> {
    result.expect_err("refused").into_iter().map(|e| e.field).collect()
}

#[test]
fn credential_headers_and_secret_sounding_names_are_secret() {
    let marked = [reqwest::header::HeaderName::from_static("x-tenant")];
    let secret =
        ["Authorization", "proxy-authorization", "Cookie", "X-Api-Key", "x-auth-user", "X-Token", "client-secret"];
    for name in secret.into_iter().chain(["X-Password", "X-Session-Id", "X-Credential", "X-Amz-Signature"]) {
        assert!(is_secret_header(name, &[]), "{name}");
    }
    for name in ["X-Trace", "Accept", "User-Agent", "x-tenant"] {
        assert!(!is_secret_header(name, &[]), "{name}");
    }
    assert!(is_secret_header("X-Tenant", &marked), "marked by the operator");
}

#[test]
fn reads_mask_secret_headers_and_the_target_password() {
    let p = http(
        "https://ops:p%40ss@example.com/health",
        json!({"headers": {"Authorization": "Bearer t0k", "X-Tenant": "s", "X-Trace": "t"}, "secret_headers": ["X-Tenant"]}),
    );
    let (target, config) = public(Kind::Http, &p.target(), &p.config_json());
    assert_eq!(target, format!("https://ops:{MASK}@example.com/health"));
    assert_eq!(config["headers"], json!({"authorization": MASK, "x-tenant": MASK, "x-trace": "t"}));
    assert_eq!(config["secret_headers"], json!(["x-tenant"]));
    // A user name standing alone is a token; secret query values are masked, the rest kept as written.
    let token = http("https://ghp_abc@example.com/x?api_key=k%2B1&page=2&q=a+b", json!({}));
    let (target, _) = public(Kind::Http, &token.target(), &token.config_json());
    assert_eq!(target, format!("https://{MASK}@example.com/x?api_key={MASK}&page=2&q=a+b"));
    // Other kinds have nothing to mask.
    let tcp = probe(Kind::Tcp, "example.com:25", json!({}));
    assert_eq!(public(Kind::Tcp, &tcp.target(), &tcp.config_json()), (tcp.target(), tcp.config_json()));
}

#[test]
fn a_mask_sent_back_keeps_the_stored_secret_on_the_same_origin_only() {
    let stored =
        http("https://ops:pw@example.com/a", json!({"headers": {"Authorization": "Bearer t0k", "X-Trace": "t"}}));
    let (target, config) = public(Kind::Http, &stored.target(), &stored.config_json());

    // Echoed whole, even with another path: the stored values come back.
    let moved_path = target.replace("/a", "/b");
    let kept = parse_input(Kind::Http, &moved_path, &config, Some(&stored)).expect("kept");
    let Probe::Http(kept) = &kept else { panic!("http") };
    assert_eq!(kept.url().as_str(), "https://ops:pw@example.com/b");
    assert_eq!(kept.headers.get("authorization").unwrap(), "Bearer t0k");

    // A new value replaces the stored one.
    let mut fresh = config.clone();
    fresh["headers"]["authorization"] = json!("Bearer new");
    let replaced = parse_input(Kind::Http, &target, &fresh, Some(&stored)).expect("replaced");
    let Probe::Http(replaced) = &replaced else { panic!("http") };
    assert_eq!(replaced.headers.get("authorization").unwrap(), "Bearer new");

    // Another origin (host, port or scheme) must be given the secrets again.
    for other in ["https://ops:********@evil.example/a", "https://ops:********@example.com:8443/a"] {
        assert_eq!(
            fields(parse_input(Kind::Http, other, &config, Some(&stored))),
            ["target", "config.headers.authorization"]
        );
    }
    assert_eq!(
        fields(parse_input(Kind::Http, "http://ops:********@example.com/a", &config, Some(&stored))),
        ["target", "config.headers.authorization"]
    );
    // Another user name is another credential.
    assert_eq!(
        fields(parse_input(Kind::Http, "https://root:********@example.com/a", &fresh, Some(&stored))),
        ["target"]
    );
    // Nothing stored: the mask is refused, not sent.
    assert_eq!(fields(parse_input(Kind::Http, &target, &config, None)), ["target", "config.headers.authorization"]);
}

#[test]
fn redaction_covers_every_form_of_a_secret() {
    let p = http("http://ops:p%40ss@example.com/", json!({"headers": {"X-Api-Key": "key-123", "X-Trace": "visible"}}));
    let Probe::Http(h) = &p else { panic!("http") };
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("ops:p@ss");
    let text = format!("echo key-123 p%40ss p@ss Basic {basic} visible");
    assert_eq!(h.redact(&text), format!("echo {MASK} {MASK} {MASK} Basic {MASK} visible"));
    let debug = format!("{p:?}");
    assert!(!debug.contains("key-123") && !debug.contains("p%40ss"), "{debug}");
}

#[test]
fn masked_user_names_and_query_values_come_back_from_the_stored_target() {
    let stored = http("https://ghp_abc@example.com/x?api_key=k%2B1&page=2", json!({}));
    let (target, config) = public(Kind::Http, &stored.target(), &stored.config_json());
    let kept = parse_input(Kind::Http, &target.replace("page=2", "page=3"), &config, Some(&stored)).expect("kept");
    assert_eq!(kept.target(), "https://ghp_abc@example.com/x?api_key=k%2B1&page=3");
    // A parameter that was not stored cannot be restored.
    let other = target.replace("api_key", "token");
    assert_eq!(fields(parse_input(Kind::Http, &other, &config, Some(&stored))), ["target"]);
}

#[test]
fn a_mask_does_not_turn_into_a_readable_value() {
    let stored = http("https://example.com/", json!({"headers": {"X-Tenant": "t-1"}, "secret_headers": ["X-Tenant"]}));
    let (target, mut config) = public(Kind::Http, &stored.target(), &stored.config_json());
    assert_eq!(config["headers"]["x-tenant"], MASK);
    // Unmarking the header while sending its mask back would store the secret readable.
    config["secret_headers"] = json!([]);
    assert_eq!(fields(parse_input(Kind::Http, &target, &config, Some(&stored))), ["config.headers.x-tenant"]);
    // A header that was readable is not restored from behind a mask either.
    let plain = http("https://example.com/", json!({"headers": {"X-Trace": "t"}}));
    let masked = json!({"headers": {"X-Trace": MASK}, "secret_headers": ["X-Trace"]});
    assert_eq!(fields(parse_input(Kind::Http, &plain.target(), &masked, Some(&plain))), ["config.headers.X-Trace"]);
}

#[test]
fn escaped_and_long_secrets_are_redacted_too() {
    let long = format!("Bearer {}", "j".repeat(300));
    let quoted = r#"Digest username="ops", response="abc\def""#;
    let p = http("http://example.com/", json!({"headers": {"Authorization": long, "Proxy-Authorization": quoted}}));
    let Probe::Http(h) = &p else { panic!("http") };
    let echoed = json!({"a": long, "b": quoted}).to_string();
    let redacted = h.redact(&echoed);
    assert!(!redacted.contains("jjjj") && !redacted.contains("abc"), "{redacted}");
}
