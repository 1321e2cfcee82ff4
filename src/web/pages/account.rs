//! `/account`: the signed-in person's own settings — their password,
//! their API tokens, and signing out of every session.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::admin_users::{TokenForm, TokenItem, token_items};
use super::sign_in::ClientAddr;
use crate::accounts::{AccountError, Password};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::error::WebError;
use crate::web::session::{self, Viewer};
use crate::web::view::Chrome;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    email: String,
    role: &'static str,
    tokens: Vec<TokenItem>,
    token_form: TokenForm,
    token_error: Option<(String, String)>,
    minted: Option<String>,
    password_error: Option<String>,
    done: Option<&'static str>,
}

#[derive(Default)]
struct Outcome {
    token_form: TokenForm,
    token_error: Option<(String, String)>,
    minted: Option<String>,
    password_error: Option<String>,
    done: Option<&'static str>,
}

async fn render(state: &AppState, viewer: &Viewer, o: Outcome) -> Result<Response, WebError> {
    let now = state.monitoring.now();
    let principal = viewer.principal();
    let owners = std::iter::once((viewer.user.id, "you".to_string())).collect();
    let tokens = token_items(state.accounts.list_tokens(&principal, Some(viewer.user.id)).await?, &owners, now);
    let failed = o.token_error.is_some() || o.password_error.is_some();
    let page = AccountPage {
        chrome: Chrome::of(state, viewer, "account", "Your account").await?,
        email: viewer.user.email.clone().unwrap_or_default(),
        role: viewer.user.role.as_str(),
        tokens,
        token_form: o.token_form,
        token_error: o.token_error,
        minted: o.minted,
        password_error: o.password_error,
        done: o.done,
    };
    let status = if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, Html(page.render()?)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct AccountParams {
    #[serde(default)]
    done: String,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<AccountParams>,
) -> Result<Response, WebError> {
    let done = match params.done.as_str() {
        "password" => Some("Password changed. Your other sessions were signed out."),
        _ => None,
    };
    render(&state, &viewer, Outcome { done, ..Outcome::default() }).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
}

/// `POST /account/password`: the current password first (counted like a
/// sign-in, so it cannot be guessed here either); every session ends, and
/// this browser gets a new one.
pub async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response, WebError> {
    let refuse = |message: String| Outcome { password_error: Some(message), ..Outcome::default() };
    let email = viewer.user.email.clone().unwrap_or_default();
    match state.accounts.sign_in(&email, &form.current, client).await {
        Ok(_) => {}
        Err(AccountError::WrongPassword) => {
            return render(&state, &viewer, refuse("Your current password is not that.".into())).await;
        }
        Err(AccountError::Throttled { retry_after_seconds }) => {
            let minutes = retry_after_seconds.div_ceil(60);
            return render(&state, &viewer, refuse(format!("Too many wrong passwords. Try again in {minutes} min.")))
                .await;
        }
        Err(other) => return Err(other.into()),
    }
    if form.password != form.confirm {
        return render(&state, &viewer, refuse("The two new passwords are not the same.".into())).await;
    }
    let password = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(message) => return render(&state, &viewer, refuse(format!("The new password {message}."))).await,
    };
    state.accounts.set_password(viewer.user.id, &password).await?;
    let (raw, _) = state.accounts.start_session(&viewer.user).await?;
    let jar = jar.add(session::start_cookie(&raw, session::over_tls(&state, &headers)));
    Ok((jar, Redirect::to("/account?done=password")).into_response())
}

/// `POST /account/tokens`: a token for yourself, shown once.
pub async fn mint_token(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Response, WebError> {
    let request = match form.to_request() {
        Ok(r) => r,
        Err(e) => {
            return render(&state, &viewer, Outcome { token_form: form, token_error: Some(e), ..Outcome::default() })
                .await;
        }
    };
    match crate::accounts::http::mint(&state, viewer.user.id, request).await {
        Ok((_, created)) => {
            render(&state, &viewer, Outcome { minted: Some(created.0.token), ..Outcome::default() }).await
        }
        Err(ApiError::Validation(mut list)) if !list.is_empty() => {
            let e = list.remove(0);
            let o = Outcome { token_form: form, token_error: Some((e.field, e.message)), ..Outcome::default() };
            render(&state, &viewer, o).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /account/sign-out-everywhere`: every session of this person ends,
/// on every instance, this one included.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    viewer: Viewer,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    state.accounts.end_sessions(viewer.user.id).await?;
    Ok((jar.add(session::end_cookie()), Redirect::to("/login")).into_response())
}
