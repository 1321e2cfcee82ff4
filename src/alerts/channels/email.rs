//! Email over SMTP with lettre: STARTTLS, TLS or plain, with AUTH when a
//! username is set; one plain-text message per delivery, on a fresh
//! connection (alerts are rare; a pool would hold idle connections open).

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::CertificateDer;

use super::config::{EmailConfig, SmtpSecurity};
use super::http::describe_io;
use super::{Delivery, DeliveryError, Timeouts, clip, one_line, scrub};

pub(super) async fn send(
    config: &EmailConfig,
    delivery: &Delivery,
    roots: &[CertificateDer<'static>],
    timeouts: Timeouts,
) -> Result<(), DeliveryError> {
    let message = message(config, delivery)?;
    let transport = transport(config, roots, timeouts)?;
    let secrets: Vec<&str> = config.password.iter().map(|p| p.expose()).collect();
    match tokio::time::timeout(timeouts.email, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(describe(&e, &secrets)),
        Err(_) => Err(DeliveryError::retryable(format!("timed out after {} s", timeouts.email.as_secs()))),
    }
}

fn message(config: &EmailConfig, delivery: &Delivery) -> Result<Message, DeliveryError> {
    let mut builder = Message::builder()
        .from(config.from.clone())
        .subject(one_line(delivery.heading(), 200))
        .header(ContentType::TEXT_PLAIN);
    for to in &config.to {
        builder = builder.to(to.clone());
    }
    builder.body(delivery.text.clone()).map_err(|e| DeliveryError::permanent(format!("could not build the email: {e}")))
}

fn transport(
    config: &EmailConfig,
    roots: &[CertificateDer<'static>],
    timeouts: Timeouts,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let tls = match config.security {
        SmtpSecurity::StartTls => Tls::Required(tls_parameters(&config.host, roots)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&config.host, roots)?),
        SmtpSecurity::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port)
        .tls(tls)
        .timeout(Some(timeouts.total));
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(username.clone(), password.expose().to_string()));
    }
    Ok(builder.build())
}

/// Certificates are verified against `webpki-roots` plus the sender's
/// extra roots, for the configured host name (or IP address).
fn tls_parameters(host: &str, roots: &[CertificateDer<'static>]) -> Result<TlsParameters, DeliveryError> {
    let setup = |e: lettre::transport::smtp::Error| DeliveryError::permanent(format!("TLS setup failed: {e}"));
    let mut builder = TlsParameters::builder(host.to_string());
    for root in roots {
        builder = builder.add_root_certificate(Certificate::from_der(root.to_vec()).map_err(setup)?);
    }
    builder.build_rustls().map_err(setup)
}

/// A rejection (5xx) or a client-side impossibility (no shared AUTH
/// mechanism) will not change by retrying; a 4xx reply, a network or TLS
/// failure may. A reply is quoted as the server gave it; other failures
/// by their innermost cause (lettre's own text repeats its layers).
fn describe(e: &lettre::transport::smtp::Error, secrets: &[&str]) -> DeliveryError {
    let text = if e.status().is_some() {
        e.to_string()
    } else if e.is_timeout() {
        "timed out waiting for the SMTP server".to_string()
    } else {
        innermost(e)
    };
    let message = scrub(&clip(&text, 300), secrets);
    if e.is_permanent() || e.is_client() {
        DeliveryError::permanent(message)
    } else {
        DeliveryError::retryable(message)
    }
}

fn innermost(e: &lettre::transport::smtp::Error) -> String {
    let mut deepest: &dyn std::error::Error = e;
    while let Some(cause) = deepest.source() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return describe_io(io);
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
        deepest = cause;
    }
    deepest.to_string()
}
