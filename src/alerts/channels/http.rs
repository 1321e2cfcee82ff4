//! HTTP deliveries: one reqwest client over rustls (HTTP/1.1, no
//! redirects, bounded time), one POST helper that judges the answer, and
//! failures described without the URL, which may hold a token.

use std::error::Error as _;
use std::io;
use std::sync::Arc;

use reqwest::redirect::Policy;
use reqwest::{Client, RequestBuilder, Response};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::{DeliveryError, SenderError, Timeouts, clip, scrub};

const USER_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));

/// How much of an error answer is read to quote in the message.
const MAX_HINT_BYTES: usize = 1024;
/// How much of a success answer is drained so the connection can be reused.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// The client every HTTP channel shares, and how long it may take.
pub(super) struct Http {
    client: Client,
    timeouts: Timeouts,
}

impl Http {
    pub fn new(roots: &[CertificateDer<'static>], timeouts: Timeouts) -> Result<Self, SenderError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for root in roots {
            store.add(root.clone())?;
        }
        let mut tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .build()?;
        Ok(Self { client, timeouts })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Send `request`; a 2xx is success. `secrets` are cut out of any
    /// error message (a receiver may quote the request path back).
    pub async fn send(&self, request: RequestBuilder, secrets: &[&str]) -> Result<(), DeliveryError> {
        let mut response = request.send().await.map_err(|e| self.describe(&e, secrets))?;
        let status = response.status();
        if status.is_success() {
            // Drained (a little of it) so the connection goes back to the pool.
            let _ = read_some(&mut response, MAX_DRAIN_BYTES).await;
            return Ok(());
        }
        let code = status.as_u16();
        let retryable = status.is_server_error() || code == 408 || code == 429;
        let message = if status.is_redirection() {
            format!("HTTP {code}: the receiver redirects, and deliveries do not follow redirects")
        } else {
            match read_some(&mut response, MAX_HINT_BYTES).await {
                Some(hint) => format!("HTTP {code}: {hint}"),
                None => format!("HTTP {code}"),
            }
        };
        Err(DeliveryError { message: scrub(&message, secrets), retryable })
    }

    /// A reqwest failure in a few words, from the most specific cause in its
    /// chain, never with the URL.
    fn describe(&self, e: &reqwest::Error, secrets: &[&str]) -> DeliveryError {
        if e.is_builder() {
            return DeliveryError::permanent(scrub(&clip(&without_url(e), 200), secrets));
        }
        if e.is_timeout() {
            let (what, limit) =
                if e.is_connect() { ("connect", self.timeouts.connect) } else { ("delivery", self.timeouts.total) };
            return DeliveryError::retryable(format!("{what} timed out after {} s", limit.as_secs()));
        }
        let mut dns = false;
        let mut deepest = None;
        let mut source = e.source();
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                let text = describe_io(io);
                let text = if dns { format!("could not resolve host: {text}") } else { text };
                return DeliveryError::retryable(scrub(&text, secrets));
            }
            if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
                return DeliveryError::retryable(format!("TLS: {tls}"));
            }
            dns |= cause.to_string() == "dns error";
            deepest = Some(cause);
            source = cause.source();
        }
        let text = deepest.map_or_else(|| without_url(e), ToString::to_string);
        DeliveryError::retryable(scrub(&clip(&text, 200), secrets))
    }
}

/// reqwest's own text for `e`, which names the URL, with the URL cut out.
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(&format!(" for url ({url})"), "").replace(url.as_str(), "the receiver"),
        None => text,
    }
}

/// An I/O failure in a few words; a TLS failure as `TLS: …`.
pub(super) fn describe_io(io: &io::Error) -> String {
    let inner = io.get_ref();
    // Some layers wrap the TLS stream's io::Error in another.
    if let Some(nested) = inner.and_then(|inner| inner.downcast_ref::<io::Error>()) {
        return describe_io(nested);
    }
    if let Some(tls) = inner.and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return format!("TLS: {tls}");
    }
    match io.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the receiver".into(),
        io::ErrorKind::UnexpectedEof => "the receiver closed the connection".into(),
        _ => clip(&io.to_string(), 200),
    }
}

/// Up to `max` bytes of the body as one line of text; `None` when empty
/// or unreadable.
async fn read_some(response: &mut Response, max: usize) -> Option<String> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&body).split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() { None } else { Some(clip(&text, 200)) }
}
