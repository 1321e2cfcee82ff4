//! TLS: the shared rustls setup (one provider, one root store) and the
//! `tls` kind's certificate check.
//!
//! Trust comes from `webpki-roots` (Mozilla's programme, compiled in) plus
//! any extra roots given at start-up, not from the host's store: a check
//! then means the same on every machine and in a bare container, and a
//! private CA is one explicit setting away.
//!
//! A certificate check must see the certificate even when it is bad (to
//! report when an untrusted one expires), so the handshake runs with
//! [`DeferredVerifier`], which accepts any chain but still checks the
//! handshake signatures, and the real webpki verifier is asked afterwards
//! about the chain the server presented.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::TlsProbe;
use super::{CheckStatus, CheckerError, Outcome, tcp};

const HANDSHAKE_FAILED: &str = "TLS handshake failed";

/// The pieces every TLS client of the checker is built from.
pub(super) struct TlsSetup {
    provider: Arc<CryptoProvider>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl TlsSetup {
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> Result<Self, CheckerError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for root in extra_roots {
            roots.add(root)?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
        Ok(Self { provider, webpki })
    }

    /// A client config that verifies certificates (`verify` = true) or
    /// accepts any (still checking handshake signatures).
    pub fn client_config(&self, verify: bool) -> Result<ClientConfig, CheckerError> {
        let verifier: Arc<dyn ServerCertVerifier> =
            if verify { self.webpki.clone() } else { Arc::new(DeferredVerifier(self.webpki.clone())) };
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }
}

/// Accepts any certificate chain during the handshake; the chain is
/// judged afterwards (tls kind) or not at all (`verify_tls: false`).
#[derive(Debug)]
struct DeferredVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for DeferredVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Performs `tls` checks.
pub(super) struct TlsChecker {
    connector: TlsConnector,
    webpki: Arc<WebPkiServerVerifier>,
}

impl TlsChecker {
    pub fn new(setup: &TlsSetup) -> Result<Self, CheckerError> {
        let mut config = setup.client_config(false)?;
        // Every check must see the certificate the server serves now, so
        // no session is resumed.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self { connector: TlsConnector::from(Arc::new(config)), webpki: setup.webpki.clone() })
    }
}

pub(super) async fn run(checker: &TlsChecker, probe: &TlsProbe, start: Instant) -> Outcome {
    let host = probe.address.host.as_str();
    let Ok(server_name) = ServerName::try_from(host.to_string()) else {
        return Outcome::down(start.elapsed(), format!("{host:?} is not a valid TLS server name"));
    };
    let stream = match TcpStream::connect((host, probe.address.port)).await {
        Ok(stream) => stream,
        Err(e) => return Outcome::down(start.elapsed(), tcp::describe_io(&e)),
    };
    let tls = match checker.connector.connect(server_name.clone(), stream).await {
        Ok(tls) => tls,
        Err(e) => {
            let text = describe_io(&e);
            let text = if text.starts_with(HANDSHAKE_FAILED) { text } else { format!("{HANDSHAKE_FAILED}: {text}") };
            return Outcome::down(start.elapsed(), text);
        }
    };
    let latency = start.elapsed();
    // Dropping the stream closes the connection without a close_notify:
    // waiting on a peer that never reads would turn a verdict into a timeout.
    judge(checker, tls.get_ref().1.peer_certificates().unwrap_or_default(), &server_name, probe, latency)
}

fn judge(
    checker: &TlsChecker,
    chain: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    probe: &TlsProbe,
    latency: std::time::Duration,
) -> Outcome {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Outcome::down(latency, "the server sent no certificate");
    };
    let expires_at = match not_after(leaf) {
        Ok(at) => at,
        Err(e) => return Outcome::down(latency, format!("could not parse the certificate: {e}")),
    };
    let mut outcome = Outcome::up(latency);
    outcome.cert_expires_at = Some(expires_at);
    let now = Utc::now();
    let at = expires_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    if expires_at <= now {
        outcome.status = CheckStatus::Down;
        outcome.error = Some(format!("certificate expired on {at}"));
    } else if let Err(e) = checker.webpki.verify_server_cert(leaf, intermediates, server_name, &[], UnixTime::now()) {
        outcome.status = CheckStatus::Down;
        outcome.error = Some(describe_verify_error(&e));
    } else {
        let left = expires_at - now;
        if left < chrono::Duration::days(i64::from(probe.expiry_warning_days)) {
            let when = match left.num_hours() {
                0 => "less than an hour".to_string(),
                hours @ 1..24 => plural(hours, "hour"),
                hours => plural((hours + 12) / 24, "day"),
            };
            outcome.status = CheckStatus::Degraded;
            outcome.error = Some(format!("certificate expires in {when} ({at})"));
        }
    }
    outcome
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// The leaf's notAfter.
fn not_after(der: &CertificateDer<'_>) -> Result<DateTime<Utc>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    let timestamp = cert.validity().not_after.timestamp();
    DateTime::from_timestamp(timestamp, 0).ok_or_else(|| format!("notAfter {timestamp} is out of range"))
}

/// A certificate problem in a few words.
pub(super) fn describe_verify_error(e: &rustls::Error) -> String {
    let reason = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "issuer not trusted".to_string(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                c.to_string().replace("certificate not valid", "not valid")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate expired".to_string(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".to_string()
            }
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    };
    format!("certificate verify failed: {reason}")
}

/// An I/O error from a TLS stream, which may carry a rustls error inside.
pub(super) fn describe_io(e: &io::Error) -> String {
    let inner = e.get_ref();
    // Some layers wrap the TLS stream's io::Error in another.
    if let Some(nested) = inner.and_then(|inner| inner.downcast_ref::<io::Error>()) {
        return describe_io(nested);
    }
    match inner.and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls @ rustls::Error::InvalidCertificate(_)) => describe_verify_error(tls),
        Some(tls) => format!("{HANDSHAKE_FAILED}: {tls}"),
        None => tcp::describe_io(e),
    }
}
