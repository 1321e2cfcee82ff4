//! Cross-site request forgery: a browser sends the session cookie with any
//! request to herald, whoever made the page that sends it. A request that
//! changes something with the cookie must therefore show that herald's own
//! page sent it, twice over: the session's token (a hidden `csrf` field in
//! every form, the `X-Csrf-Token` header on the script's API calls), and an
//! `Origin` that is herald's own. Bearer-token API calls carry no cookie
//! and are not concerned. (Miniflux and kanidm do the same.)

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;

use super::error::WebError;
use super::session::Viewer;
use crate::state::AppState;

/// The header the script sends its token in.
pub const HEADER: &str = "x-csrf-token";

/// Methods that change nothing, and need no token.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request was sent by a page of this host. `Origin` when the
/// browser sends one (every modern browser does on a POST); without it,
/// `Sec-Fetch-Site` (sent by the same browsers on every request); a client
/// that sends neither is not a browser acting for someone else, and the
/// token alone decides.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
        }
        // An `Origin` that is not text, or `null` (a sandboxed frame, a redirect chain).
        Some(Err(_)) => false,
        None => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site) => site == "same-origin" || site == "none",
            None => true,
        },
    }
}

/// A form posted by one of herald's pages: urlencoded, from this origin,
/// with the signed-in session's token in its `csrf` field. Anything else
/// is refused with the 403 page before the handler runs.
pub struct CsrfForm<T>(pub T);

/// A form that carries nothing but its token (a button: sign out, pause, delete).
#[derive(serde::Deserialize)]
pub struct NoFields {}

#[derive(serde::Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let viewer =
            <Viewer as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            tracing::warn!(user_id = viewer.user.id, "form refused: posted from another origin");
            return Err(WebError::CrossSite);
        }
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| WebError::BadRequest(e.body_text()))?;
        let token: Token = serde_urlencoded::from_bytes(&bytes).map_err(|e| WebError::BadRequest(e.to_string()))?;
        if !viewer.session.csrf_matches(&token.csrf) {
            tracing::warn!(user_id = viewer.user.id, "form refused: missing or wrong CSRF token");
            return Err(WebError::CrossSite);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| WebError::BadRequest(e.to_string()))?;
        Ok(CsrfForm(form))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_hosts_pages_count_as_same_origin() {
        assert!(same_origin(&headers(&[("host", "herald.example:8080"), ("origin", "http://herald.example:8080")])));
        assert!(same_origin(&headers(&[("host", "herald.example"), ("origin", "https://HERALD.example")])));
        assert!(!same_origin(&headers(&[("host", "herald.example"), ("origin", "https://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "herald.example:8080"), ("origin", "http://herald.example:9090")])));
        assert!(!same_origin(&headers(&[("host", "herald.example"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("host", "herald.example"), ("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[("host", "herald.example"), ("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&headers(&[("host", "herald.example")])));
    }
}
