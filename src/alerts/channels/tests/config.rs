//! Parsing and redaction of channel configs: pure, no network.

use serde_json::{Value, json};

use super::channel;
use crate::alerts::channels::{ChannelConfig, ChannelKind, FieldError, parse};

const SECRET: &str = "whsec-0123456789abcdef";
const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";
const NTFY_TOKEN: &str = "tk_ntfysecrettoken";
const PASSWORD: &str = "smtp-pa55word";

/// The errors for `config`, as (field, message) pairs.
fn errors(kind: ChannelKind, config: Value) -> Vec<(String, String)> {
    match parse(kind, &config, None) {
        Ok(parsed) => panic!("{kind} {config} should be refused, got {parsed:?}"),
        Err(errors) => errors.into_iter().map(|FieldError { field, message }| (field, message)).collect(),
    }
}

fn fields(kind: ChannelKind, config: Value) -> Vec<String> {
    errors(kind, config).into_iter().map(|(field, _)| field).collect()
}

/// One config of every kind that has secrets, with all of them set.
fn with_secrets() -> Vec<ChannelConfig> {
    vec![
        channel(ChannelKind::Webhook, json!({"url": "https://example.com/hook", "secret": SECRET})),
        channel(ChannelKind::Slack, json!({"url": SLACK_URL})),
        channel(ChannelKind::Discord, json!({"url": SLACK_URL})),
        channel(ChannelKind::Ntfy, json!({"url": "https://ntfy.sh/herald-alerts", "token": NTFY_TOKEN})),
        channel(
            ChannelKind::Email,
            json!({
                "host": "smtp.example.com",
                "username": "herald",
                "password": PASSWORD,
                "from": "Herald <alerts@example.com>",
                "to": ["ops@example.com"],
            }),
        ),
    ]
}

fn contains_a_secret(text: &str) -> bool {
    [SECRET, SLACK_URL, "XXXXSECRETXXXX", NTFY_TOKEN, PASSWORD].iter().any(|s| text.contains(s))
}

#[test]
fn in_app_takes_no_config() {
    assert_eq!(parse(ChannelKind::InApp, &json!({}), None), Ok(ChannelConfig::InApp));
    assert_eq!(parse(ChannelKind::InApp, &Value::Null, None), Ok(ChannelConfig::InApp));
    assert_eq!(
        errors(ChannelKind::InApp, json!({"url": "https://x.example"})),
        [("config.url".to_string(), "unknown key: this kind takes no config".to_string())]
    );
    assert_eq!(ChannelConfig::InApp.public_json(), json!({}));
}

#[test]
fn config_must_be_an_object() {
    assert_eq!(fields(ChannelKind::Webhook, json!(["https://x.example"])), ["config"]);
    assert_eq!(fields(ChannelKind::InApp, json!("x")), ["config"]);
}

#[test]
fn webhook_needs_url_and_secret() {
    assert_eq!(fields(ChannelKind::Webhook, json!({})), ["config.url", "config.secret"]);
    let all_wrong = json!({"url": "ftp://example.com", "secret": "short", "retries": 3});
    let got = errors(ChannelKind::Webhook, all_wrong);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], ("config.retries".into(), "unknown key; expected one of url, secret".into()));
    assert_eq!(got[1], ("config.url".into(), "must be an http:// or https:// URL".into()));
    assert_eq!(got[2], ("config.secret".into(), "must be 16 to 256 characters".into()));

    let with_credentials = json!({"url": "https://user:pw@example.com/hook", "secret": SECRET});
    assert_eq!(
        errors(ChannelKind::Webhook, with_credentials),
        [("config.url".into(), "must not contain credentials: the URL is shown to every admin".into())]
    );
    assert_eq!(fields(ChannelKind::Webhook, json!({"url": 5, "secret": SECRET})), ["config.url"]);
    assert_eq!(fields(ChannelKind::Webhook, json!({"url": "/relative", "secret": SECRET})), ["config.url"]);
    let long = "s".repeat(257);
    assert_eq!(fields(ChannelKind::Webhook, json!({"url": "http://h/", "secret": long})), ["config.secret"]);
    let padded = format!(" {SECRET}");
    assert_eq!(fields(ChannelKind::Webhook, json!({"url": "http://h/", "secret": padded})), ["config.secret"]);

    let parsed = channel(ChannelKind::Webhook, json!({"url": "http://127.0.0.1:9/hook", "secret": SECRET}));
    assert_eq!(parsed.public_json(), json!({"url": "http://127.0.0.1:9/hook", "secret_set": true}));
}

#[test]
fn chat_urls_are_required_http_urls() {
    for kind in [ChannelKind::Slack, ChannelKind::Discord] {
        assert_eq!(errors(kind, json!({})), [("config.url".into(), "is required".into())]);
        assert_eq!(fields(kind, json!({"url": "hooks.slack.com/services/x"})), ["config.url"]);
        assert_eq!(fields(kind, json!({"url": SLACK_URL, "channel": "#ops"})), ["config.channel"]);
        assert_eq!(channel(kind, json!({"url": SLACK_URL})).public_json(), json!({"url_set": true}));
    }
}

#[test]
fn ntfy_needs_a_topic_url() {
    assert_eq!(fields(ChannelKind::Ntfy, json!({})), ["config.url"]);
    assert_eq!(
        errors(ChannelKind::Ntfy, json!({"url": "https://ntfy.sh/"})),
        [("config.url".into(), "must be the full topic URL, e.g. https://ntfy.sh/my-alerts".into())]
    );
    let bad_token = json!({"url": "https://ntfy.sh/t", "token": "has space"});
    assert_eq!(fields(ChannelKind::Ntfy, bad_token), ["config.token"]);
    assert_eq!(fields(ChannelKind::Ntfy, json!({"url": "https://ntfy.sh/t", "token": ""})), ["config.token"]);

    let open = channel(ChannelKind::Ntfy, json!({"url": "https://ntfy.sh/t"}));
    assert_eq!(open.public_json(), json!({"url": "https://ntfy.sh/t", "token_set": false}));
}

#[test]
fn email_names_every_broken_field() {
    let broken = json!({
        "host": "smtp example com",
        "port": 0,
        "security": "ssl",
        "username": "",
        "from": "not an address",
        "to": ["ops@example.com", "nobody", 7],
    });
    let got = fields(ChannelKind::Email, broken);
    assert_eq!(
        got,
        [
            "config.host",
            "config.security",
            "config.port",
            "config.username",
            "config.from",
            "config.to[1]",
            "config.to[2]"
        ]
    );

    assert_eq!(fields(ChannelKind::Email, json!({})), ["config.host", "config.from", "config.to"]);
    let base = || json!({"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]});
    let with = |key: &str, value: Value| {
        let mut c = base();
        c[key] = value;
        c
    };
    assert_eq!(fields(ChannelKind::Email, with("to", json!([]))), ["config.to"]);
    let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
    assert_eq!(fields(ChannelKind::Email, with("to", json!(many))), ["config.to"]);
    assert_eq!(fields(ChannelKind::Email, with("to", json!("b@example.com"))), ["config.to"]);
    assert_eq!(fields(ChannelKind::Email, with("port", json!(70000))), ["config.port"]);
    assert_eq!(
        errors(ChannelKind::Email, with("password", json!("pw"))),
        [("config.password".into(), "needs config.username".into())]
    );
    assert_eq!(
        errors(ChannelKind::Email, with("username", json!("herald"))),
        [("config.password".into(), "is required when config.username is set".into())]
    );
    let mut cleartext = with("username", json!("herald"));
    cleartext["password"] = json!(PASSWORD);
    cleartext["security"] = json!("none");
    assert_eq!(fields(ChannelKind::Email, cleartext.clone()), ["config.security"]);
    cleartext["host"] = json!("127.0.0.1");
    assert!(parse(ChannelKind::Email, &cleartext, None).is_ok(), "credentials in clear are fine on loopback");
}

#[test]
fn email_fills_defaults_and_normalizes() {
    let parsed = channel(
        ChannelKind::Email,
        json!({
            "host": "SMTP.Example.com",
            "from": "Herald <alerts@example.com>",
            "to": ["ops@example.com", " Oncall <oncall@example.com> "],
        }),
    );
    assert_eq!(
        parsed.public_json(),
        json!({
            "host": "smtp.example.com",
            "port": 587,
            "security": "starttls",
            "password_set": false,
            "from": "Herald <alerts@example.com>",
            "to": ["ops@example.com", "Oncall <oncall@example.com>"],
        })
    );
    let port_of = |security: &str| {
        let c = json!({"host": "::1", "security": security, "from": "a@b.example", "to": ["c@d.example"]});
        channel(ChannelKind::Email, c).public_json()["port"].clone()
    };
    assert_eq!([port_of("starttls"), port_of("tls"), port_of("none")], [json!(587), json!(465), json!(25)]);
}

#[test]
fn secrets_never_shown() {
    for parsed in with_secrets() {
        let public = parsed.public_json().to_string();
        assert!(!contains_a_secret(&public), "{public}");
        let debug = format!("{parsed:?}");
        assert!(!contains_a_secret(&debug), "{debug}");
        assert!(public.contains("_set\":true"), "{public}");
    }
}

#[test]
fn stored_form_keeps_secrets_and_reads_back() {
    for parsed in with_secrets() {
        let stored = parsed.to_stored_json();
        assert!(contains_a_secret(&stored.to_string()), "{stored}");
        assert_eq!(ChannelConfig::from_stored_json(parsed.kind(), &stored), Ok(parsed.clone()));
    }
}

#[test]
fn update_without_secret_keeps_the_stored_one() {
    for stored in with_secrets() {
        // What a client read back, sent again unchanged.
        let public = stored.public_json();
        assert_eq!(parse(stored.kind(), &public, Some(&stored)), Ok(stored.clone()), "{public}");
        // The same without the *_set flags.
        let mut bare = public.clone();
        bare.as_object_mut().unwrap().retain(|k, _| !k.ends_with("_set"));
        assert_eq!(parse(stored.kind(), &bare, Some(&stored)), Ok(stored.clone()), "{bare}");
        // Without `previous` (a create) the secret is required again.
        if stored.kind() != ChannelKind::Ntfy {
            assert!(parse(stored.kind(), &bare, None).is_err(), "{bare}");
        }
    }
}

#[test]
fn update_with_a_secret_replaces_it() {
    let stored = channel(ChannelKind::Webhook, json!({"url": "https://example.com/a", "secret": SECRET}));
    let new_secret = "another-secret-of-length";
    let updated =
        parse(ChannelKind::Webhook, &json!({"url": "https://example.com/b", "secret": new_secret}), Some(&stored))
            .unwrap();
    assert!(updated.to_stored_json().to_string().contains(new_secret));
    assert_eq!(updated.public_json()["url"], "https://example.com/b");
}

#[test]
fn null_token_removes_it() {
    let stored = channel(ChannelKind::Ntfy, json!({"url": "https://ntfy.sh/t", "token": NTFY_TOKEN}));
    let kept = parse(ChannelKind::Ntfy, &json!({"url": "https://ntfy.sh/t"}), Some(&stored)).unwrap();
    assert_eq!(kept.public_json()["token_set"], true);
    let removed = parse(ChannelKind::Ntfy, &json!({"url": "https://ntfy.sh/t", "token": null}), Some(&stored)).unwrap();
    assert_eq!(removed.public_json()["token_set"], false);
}

#[test]
fn secrets_do_not_carry_across_kinds() {
    let slack = channel(ChannelKind::Slack, json!({"url": SLACK_URL}));
    assert_eq!(fields(ChannelKind::Discord, json!({})), ["config.url"]);
    assert!(parse(ChannelKind::Discord, &json!({}), Some(&slack)).is_err());
    assert!(parse(ChannelKind::Slack, &json!({}), Some(&slack)).is_ok());
}

#[test]
fn email_password_kept_while_username_stays() {
    let stored = with_secrets().pop().unwrap();
    let mut public = stored.public_json();
    public["to"] = json!(["ops@example.com", "dev@example.com"]);
    let updated = parse(ChannelKind::Email, &public, Some(&stored)).unwrap();
    assert!(updated.to_stored_json().to_string().contains(PASSWORD));
    // Dropping the username drops the password with it.
    public.as_object_mut().unwrap().remove("username");
    let anonymous = parse(ChannelKind::Email, &public, Some(&stored)).unwrap();
    assert_eq!(anonymous.public_json()["password_set"], false);
    assert!(!anonymous.to_stored_json().to_string().contains(PASSWORD));
}
