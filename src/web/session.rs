//! The session cookie: who a browser is. The cookie holds a random id
//! ([`RawSessionId`]); the account service knows what it stands for. The
//! same cookie authenticates the web app's own calls to the JSON API and
//! its WebSocket, under the rules of [`super::csrf`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::csrf;
use super::error::WebError;
use crate::accounts::{AccountError, Principal, RawSessionId, Role, User};
use crate::http::error::ApiError;
use crate::state::AppState;

/// The cookie's name.
pub const COOKIE: &str = "herald_session";

/// The signed-in person behind a page request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub session: std::sync::Arc<RawSessionId>,
}

impl Viewer {
    /// The token every form and script call of this session must carry.
    pub fn csrf(&self) -> String {
        self.session.csrf_token()
    }

    /// Operators and admins see monitoring; members only their inbox and account.
    pub fn is_staff(&self) -> bool {
        self.user.role.is_staff()
    }

    /// The viewer as the services' callers are named (no API token: a session).
    pub fn principal(&self) -> Principal {
        Principal { user: self.user.clone(), token_id: None }
    }

    pub fn require_staff(&self) -> Result<(), WebError> {
        if self.is_staff() { Ok(()) } else { Err(WebError::Forbidden) }
    }

    pub fn require_admin(&self) -> Result<(), WebError> {
        if self.user.role == Role::Admin { Ok(()) } else { Err(WebError::Forbidden) }
    }
}

/// A page for signed-in people: without a live session a GET is sent to
/// the sign-in page (and back here after), anything else is refused. The
/// viewer is kept in the request, so a later extractor (a form) reads it
/// without a second lookup.
impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        if let Some(viewer) = parts.extensions.get::<Viewer>() {
            return Ok(viewer.clone());
        }
        match live_session(state, &parts.headers).await {
            Ok(Some(viewer)) => {
                parts.extensions.insert(viewer.clone());
                Ok(viewer)
            }
            Ok(None) | Err(AccountError::Unauthenticated) => Err(if parts.method == Method::GET {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                WebError::SignIn { next: next.to_string() }
            } else {
                WebError::Api(ApiError::Unauthorized)
            }),
            Err(other) => Err(WebError::Api(other.into())),
        }
    }
}

/// The session id in the request's cookie, if it has the shape of one.
pub fn session_id(headers: &HeaderMap) -> Option<RawSessionId> {
    let jar = CookieJar::from_headers(headers);
    jar.get(COOKIE).and_then(|c| RawSessionId::parse(c.value()))
}

/// The viewer behind the cookie, when it names a live session.
async fn live_session(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, AccountError> {
    let Some(raw) = session_id(headers) else { return Ok(None) };
    let session = state.accounts.session(&raw).await?;
    tracing::Span::current().record("user_id", session.user.id);
    Ok(Some(Viewer { user: session.user, session: std::sync::Arc::new(raw) }))
}

/// The principal of a JSON API call made with the cookie instead of a
/// bearer token (the web app's script). A call that changes something
/// must come from herald's own page and carry the session's token in
/// `X-Csrf-Token`: a cookie is sent by the browser whoever made the page.
pub async fn api_principal(state: &AppState, headers: &HeaderMap, method: &Method) -> Result<Principal, ApiError> {
    let viewer = match live_session(state, headers).await {
        Ok(Some(viewer)) => viewer,
        Ok(None) => return Err(ApiError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    if !csrf::is_safe(method) {
        let token = headers.get(csrf::HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !csrf::same_origin(headers) || !viewer.session.csrf_matches(token) {
            return Err(ApiError::CrossSite);
        }
    }
    Ok(viewer.principal())
}

/// The principal of a WebSocket opened by herald's own page with the
/// cookie. Browsers send `Origin` on every WebSocket; one from another
/// site is not given the session (cross-site WebSocket hijacking), so its
/// socket must authenticate with a token like any other client.
pub async fn socket_principal(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    if headers.get(header::ORIGIN).is_none() || !csrf::same_origin(headers) {
        return None;
    }
    let viewer = live_session(state, headers).await.ok()??;
    Some(viewer.principal())
}

/// The cookie that starts a session. `Secure` when configured, or when the
/// request came over TLS through a proxy that says so.
pub fn start_cookie(raw: &RawSessionId, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, raw.expose().to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

/// The cookie that clears it.
pub fn end_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build((COOKIE, "")).http_only(true).same_site(SameSite::Lax).path("/").build();
    cookie.make_removal();
    cookie
}

/// Whether this request reached herald over TLS (`web.secure_cookies`, or a
/// proxy's `X-Forwarded-Proto: https`).
pub fn over_tls(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.web.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}
