//! Email against aiosmtpd, a real SMTP server (Python, installed into
//! `.tools/venv` by `scripts/setup`), on 127.0.0.1: STARTTLS and TLS with
//! a certificate from a test CA, AUTH, and plain SMTP on loopback.
//!
//! Without the venv the tests skip loudly, unless `CI` is set (to anything
//! but "0"), where they fail: the same rule as the PostgreSQL tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::{TestCa, channel, closed_port, delivery, now, pem};
use crate::alerts::channels::{ChannelConfig, ChannelKind, Event, Sender, Severity};

const USER: &str = "herald";
const PASSWORD: &str = "smtp-pa55word";

/// The SMTP server: records each accepted message as a JSON line.
/// RCPT to `reject@…` is refused for good (550), to `busy@…` for now (451).
const SERVER: &str = r#"
import asyncio, json, ssl, sys, warnings
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

mode, out, cert, key, user, password = sys.argv[1:7]
# Implicit TLS is TLS too; aiosmtpd warns because it only knows STARTTLS.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        login = session.login_data.decode() if session.login_data else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "login": login,
            "starttls": session.ssl is not None,
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 accepted"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

context = None
if cert != "-":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

def smtp():
    options = dict(hostname="herald-test")
    if user != "-":
        options.update(authenticator=authenticator, auth_required=True, auth_require_tls=mode == "starttls")
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    return SMTP(Handler(), **options)

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(smtp, "127.0.0.1", 0, ssl=context if mode == "tls" else None)
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    # Runs until the test closes stdin, or ends, or dies.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()

asyncio.run(main())
"#;

/// The venv's Python, or `None` (skip) when it is missing outside CI.
fn python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("{} not found, and CI requires the SMTP tests: run scripts/setup", python.display());
    }
    eprintln!("\n*** SKIPPING SMTP test: {} not found; run scripts/setup ***\n", python.display());
    None
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    StartTls,
    Tls,
    Plain,
}

/// A running aiosmtpd, stopped on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts a server; with `ca`, its certificate for 127.0.0.1 comes from it.
    fn start(mode: Mode, ca: Option<&TestCa>, auth: bool) -> Option<Self> {
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, SERVER).unwrap();
        let (cert, key) = match ca {
            Some(ca) => {
                let (cert, key) = ca.leaf("127.0.0.1");
                let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
                std::fs::write(&cert_path, pem("CERTIFICATE", &cert)).unwrap();
                std::fs::write(&key_path, pem("PRIVATE KEY", &key)).unwrap();
                (cert_path.display().to_string(), key_path.display().to_string())
            }
            None => ("-".into(), "-".into()),
        };
        let out = dir.path().join("received.jsonl");
        let mode_name = match mode {
            Mode::StartTls => "starttls",
            Mode::Tls => "tls",
            Mode::Plain => "none",
        };
        let (user, password) = if auth { (USER, PASSWORD) } else { ("-", "-") };
        let mut child = Command::new(python)
            .arg(&script)
            .args([mode_name, &out.display().to_string(), &cert, &key, user, password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(port) = line.strip_prefix("listening ").and_then(|p| p.trim().parse().ok()) else {
            let _ = child.kill();
            panic!("aiosmtpd did not start: {line:?} (see its stderr above)");
        };
        Some(Self { child, port, out, _dir: dir })
    }

    /// The messages accepted so far.
    fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn config(&self, security: &str, auth: Option<&str>, to: &[&str]) -> ChannelConfig {
        let mut config = json!({
            "host": "127.0.0.1",
            "port": self.port,
            "security": security,
            "from": "Herald <alerts@example.com>",
            "to": to,
        });
        if let Some(password) = auth {
            config["username"] = json!(USER);
            config["password"] = json!(password);
        }
        channel(ChannelKind::Email, config)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TO: [&str; 2] = ["ops@example.com", "Oncall <oncall@example.com>"];

#[tokio::test]
async fn starttls_with_auth_delivers() {
    let ca = TestCa::new();
    let Some(server) = SmtpServer::start(Mode::StartTls, Some(&ca), true) else { return };
    let sender = Sender::with_extra_roots(vec![ca.cert.clone()]).unwrap();
    let config = server.config("starttls", Some(PASSWORD), &TO);
    sender.send(&config, &delivery(Event::Firing, Severity::Critical), now()).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let message = &received[0];
    assert_eq!(message["mail_from"], "alerts@example.com");
    assert_eq!(message["rcpt_tos"], json!(["ops@example.com", "oncall@example.com"]));
    assert_eq!(message["login"], USER);
    assert_eq!(message["starttls"], true);
    let data = message["data"].as_str().unwrap();
    assert!(data.contains("Subject: Pool utilization over 80 %\r\n"), "{data}");
    assert!(data.contains("From: Herald <alerts@example.com>\r\n"), "{data}");
    assert!(data.contains("To: ops@example.com, Oncall <oncall@example.com>\r\n"), "{data}");
    assert!(data.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{data}");
    assert!(data.contains("85 % of 10 connections in use for 5 minutes."), "{data}");
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers() {
    let ca = TestCa::new();
    let Some(server) = SmtpServer::start(Mode::Tls, Some(&ca), true) else { return };
    let sender = Sender::with_extra_roots(vec![ca.cert.clone()]).unwrap();
    sender
        .send(&server.config("tls", Some(PASSWORD), &TO[..1]), &delivery(Event::Test, Severity::Info), now())
        .await
        .unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["login"], USER);
}

#[tokio::test]
async fn plain_smtp_on_loopback_delivers() {
    let Some(server) = SmtpServer::start(Mode::Plain, None, false) else { return };
    let sender = Sender::new().unwrap();
    sender.send(&server.config("none", None, &TO), &delivery(Event::Resolved, Severity::Warning), now()).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["starttls"], false);
    assert_eq!(received[0]["login"], Value::Null);
}

#[tokio::test]
async fn a_wrong_password_is_not_retried_and_not_quoted() {
    let ca = TestCa::new();
    let Some(server) = SmtpServer::start(Mode::StartTls, Some(&ca), true) else { return };
    let sender = Sender::with_extra_roots(vec![ca.cert.clone()]).unwrap();
    let config = server.config("starttls", Some("wrong-password-xyz"), &TO);
    let error = sender.send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert!(!error.retryable, "{error:?}");
    assert!(error.message.contains("535"), "{}", error.message);
    assert!(!error.message.contains("wrong-password-xyz"));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn refused_recipients_are_permanent_deferred_ones_retried() {
    let Some(server) = SmtpServer::start(Mode::Plain, None, false) else { return };
    let sender = Sender::new().unwrap();
    let test = delivery(Event::Test, Severity::Info);
    let error = sender.send(&server.config("none", None, &["reject@example.com"]), &test, now()).await.unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "permanent error (550): 5.1.1 no such mailbox");
    let error = sender.send(&server.config("none", None, &["busy@example.com"]), &test, now()).await.unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.message, "transient error (451): 4.3.0 try again later");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_stops_the_delivery() {
    let ca = TestCa::new();
    let Some(server) = SmtpServer::start(Mode::StartTls, Some(&ca), true) else { return };
    let sender = Sender::new().unwrap();
    let config = server.config("starttls", Some(PASSWORD), &TO);
    let error = sender.send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert_eq!(error.message, "TLS: invalid peer certificate: UnknownIssuer");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn no_server_is_retried() {
    let port = closed_port().await;
    let config = channel(
        ChannelKind::Email,
        json!({"host": "127.0.0.1", "port": port, "security": "none", "from": "a@example.com", "to": ["b@example.com"]}),
    );
    let error = Sender::new().unwrap().send(&config, &delivery(Event::Test, Severity::Info), now()).await.unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.message, "connection refused");
}
