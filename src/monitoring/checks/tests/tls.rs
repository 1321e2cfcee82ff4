//! The tls kind against a rustls server with certificates made per test,
//! plus the helpers the HTTPS tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use time::{Duration as Days, OffsetDateTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{TIMEOUT, error, probe};
use crate::monitoring::checks::{CheckStatus, Checker, Kind, Outcome};

/// A certificate authority made for one test.
pub(super) struct TestCa {
    pub cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "herald test CA");
        let cert = params.self_signed(&key).unwrap();
        Self { cert: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A leaf for `name`, valid from a day ago until `not_after`.
    pub fn leaf(
        &self,
        name: &str,
        not_after: OffsetDateTime,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.not_before = OffsetDateTime::now_utc() - Days::days(60);
        params.not_after = not_after;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (vec![cert.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
    }
}

/// Answers every request on a connection with `200 ok`, keeping it alive.
pub(super) async fn serve_ok<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..end);
        if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
            return;
        }
    }
}

/// A plain HTTP server answering `200 ok`; counts the connections it accepts.
pub(super) async fn counting_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_ok(stream));
        }
    });
    (addr, accepted)
}

/// A TLS server presenting `chain`, answering HTTP requests with `200 ok`.
pub(super) async fn tls_server(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve_ok(tls).await;
                }
            });
        }
    });
    addr
}

fn days_from_now(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Days::days(days)
}

/// Check a server whose leaf for `name` expires at `not_after`, trusting the CA or not.
async fn check(name: &str, not_after: OffsetDateTime, trusted: bool, config: serde_json::Value) -> Outcome {
    let ca = TestCa::new();
    let (chain, key) = ca.leaf(name, not_after);
    let addr = tls_server(chain, key).await;
    let checker = if trusted { Checker::with_extra_roots(vec![ca.cert.clone()]) } else { Checker::new() }.unwrap();
    checker.run(&probe(Kind::Tls, &addr.to_string(), config), TIMEOUT).await
}

#[tokio::test]
async fn trusted_certificate_far_from_expiry_is_up() {
    let not_after = days_from_now(90);
    let outcome = check("127.0.0.1", not_after, true, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.cert_expires_at.map(|at| at.timestamp()), Some(not_after.unix_timestamp()));
    assert!(outcome.latency > std::time::Duration::ZERO);
}

#[tokio::test]
async fn certificate_expiring_in_three_days_is_degraded() {
    let outcome = check("127.0.0.1", days_from_now(3), true, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Degraded, "{outcome:?}");
    assert!(error(&outcome).starts_with("certificate expires in 3 days ("), "{outcome:?}");
    assert!(outcome.cert_expires_at.is_some());
}

#[tokio::test]
async fn warning_window_follows_expiry_warning_days() {
    let outcome = check("127.0.0.1", days_from_now(20), true, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let outcome = check("127.0.0.1", days_from_now(20), true, json!({"expiry_warning_days": 30})).await;
    assert_eq!(outcome.status, CheckStatus::Degraded, "{outcome:?}");
}

#[tokio::test]
async fn expired_certificate_is_down() {
    let outcome = check("127.0.0.1", days_from_now(-1), true, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert!(error(&outcome).starts_with("certificate expired on "), "{outcome:?}");
    assert!(outcome.cert_expires_at.is_some_and(|at| at < chrono::Utc::now()));
}

#[tokio::test]
async fn untrusted_certificate_is_down_but_still_read() {
    let outcome = check("127.0.0.1", days_from_now(90), false, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "certificate verify failed: issuer not trusted");
    assert!(outcome.cert_expires_at.is_some(), "the expiry of a bad certificate is still reported");
}

#[tokio::test]
async fn certificate_for_another_name_is_down() {
    let outcome = check("other.example", days_from_now(90), true, json!({})).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert!(error(&outcome).contains("not valid for name"), "{outcome:?}");
}

#[tokio::test]
async fn closed_port_is_down() {
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let outcome = Checker::new().unwrap().run(&probe(Kind::Tls, &addr.to_string(), json!({})), TIMEOUT).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(error(&outcome), "connection refused");
    assert_eq!(outcome.cert_expires_at, None);
}

#[tokio::test]
async fn plain_http_server_fails_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut hello = [0u8; 512];
            let _ = stream.read(&mut hello).await;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    let outcome = Checker::new().unwrap().run(&probe(Kind::Tls, &addr.to_string(), json!({})), TIMEOUT).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert!(error(&outcome).starts_with("TLS handshake failed"), "{outcome:?}");
}
