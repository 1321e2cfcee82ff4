//! Signing in and out, and choosing a password through a setup link.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::Form;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::accounts::{AccountError, Password, User};
use crate::state::AppState;
use crate::web::csrf::{self, CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::{self, Viewer};
use crate::web::view::Chrome;

/// The client's address, when the server knows it (it always does when
/// serving; a router driven without a socket does not).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only a path of this site is a place to go back to (never `//evil`).
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") { next } else { "/" }
}

fn home_of(user: &User) -> &'static str {
    if user.role.is_staff() { "/" } else { "/inbox" }
}

/// `GET /login`.
pub async fn form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    // Already signed in: on to where they were going.
    if let Some(raw) = session::session_id(&headers)
        && let Ok(s) = state.accounts.session(&raw).await
    {
        let next = if q.next.is_empty() { home_of(&s.user) } else { safe_next(&q.next) };
        return Redirect::to(next).into_response();
    }
    render_form(StatusCode::OK, String::new(), q.next, None)
}

fn render_form(status: StatusCode, email: String, next: String, error: Option<String>) -> Response {
    let page = SignInPage { chrome: Chrome::titled("Sign in"), email, next, error };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a new session (and a new id) on success.
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    // No session to hold a token yet; the origin shows it is our page
    // (a forged sign-in would put the victim in the attacker's account).
    if !csrf::same_origin(&headers) {
        return Err(WebError::CrossSite);
    }
    let user = match state.accounts.sign_in(&form.email, &form.password, client).await {
        Ok(user) => user,
        Err(AccountError::WrongPassword) => {
            let error = "That email and password do not match an account that can sign in.".to_string();
            return Ok(render_form(StatusCode::UNAUTHORIZED, form.email, form.next, Some(error)));
        }
        Err(AccountError::Throttled { retry_after_seconds }) => {
            let minutes = retry_after_seconds.div_ceil(60);
            let error = format!(
                "Too many failed sign-ins for this account or from this address. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = render_form(StatusCode::TOO_MANY_REQUESTS, form.email, form.next, Some(error));
            if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(response);
        }
        Err(other) => return Err(other.into()),
    };
    let (raw, _) = match state.accounts.start_session(&user).await {
        Ok(started) => started,
        Err(AccountError::SenderPassword) => {
            let error = "This account is an application (a sender): it uses API tokens, not the web app.".to_string();
            return Ok(render_form(StatusCode::FORBIDDEN, form.email, form.next, Some(error)));
        }
        Err(other) => return Err(other.into()),
    };
    let jar = jar.add(session::start_cookie(&raw, session::over_tls(&state, &headers)));
    let next = if form.next.is_empty() { home_of(&user) } else { safe_next(&form.next) };
    Ok((jar, Redirect::to(next)).into_response())
}

/// `POST /logout`: the session's row is gone, so its cookie is refused
/// by every instance from now on.
pub async fn sign_out(
    State(state): State<AppState>,
    viewer: Viewer,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    state.accounts.end_session(&viewer.session).await?;
    tracing::info!(user_id = viewer.user.id, "signed out");
    Ok((jar.add(session::end_cookie()), Redirect::to("/login")).into_response())
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

fn render_setup(status: StatusCode, token: String, error: Option<String>) -> Response {
    let page = SetupPage { chrome: Chrome::titled("Choose your password"), token, error };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// `GET /setup?token=…`: the form. Whether the link still works is only
/// known (and spent) when the form is sent.
pub async fn setup_form(Query(q): Query<SetupQuery>) -> Response {
    render_setup(StatusCode::OK, q.token, None)
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /setup`: set the password, spend the link, and sign in.
pub async fn setup_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    if !csrf::same_origin(&headers) {
        return Err(WebError::CrossSite);
    }
    if form.password != form.confirm {
        let error = "The two passwords are not the same.".to_string();
        return Ok(render_setup(StatusCode::UNPROCESSABLE_ENTITY, form.token, Some(error)));
    }
    let password = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(message) => {
            let error = format!("The password {message}.");
            return Ok(render_setup(StatusCode::UNPROCESSABLE_ENTITY, form.token, Some(error)));
        }
    };
    let user = match state.accounts.redeem_setup_token(&form.token, &password).await {
        Ok(user) => user,
        Err(AccountError::Unauthenticated) => {
            let error = "This setup link is unknown, already used or expired. Ask an admin for a new one, or run \
                         `herald user password` on the server."
                .to_string();
            return Ok(render_setup(StatusCode::GONE, String::new(), Some(error)));
        }
        Err(other) => return Err(other.into()),
    };
    let (raw, _) = state.accounts.start_session(&user).await?;
    let jar = jar.add(session::start_cookie(&raw, session::over_tls(&state, &headers)));
    Ok((jar, Redirect::to(home_of(&user))).into_response())
}
