//! How a page fails: an HTML page in words, with the status the API would
//! give; internal detail goes to the log only (as for the API). An API
//! error reached from a page handler is shown with its status and detail.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::view::Chrome;
use crate::http::error::{ApiError, InternalDetail};

#[derive(Debug)]
pub enum WebError {
    /// No live session: sign in, then come back to `next`.
    SignIn { next: String },
    /// Signed in, but the role does not reach this page.
    Forbidden,
    /// The form's token or origin is not this session's page.
    CrossSite,
    /// A form or query that cannot be read at all.
    BadRequest(String),
    /// Whatever a service said, as the API would say it.
    Api(ApiError),
}

impl WebError {
    pub fn not_found() -> Self {
        WebError::Api(ApiError::NotFound)
    }
}

impl<E> From<E> for WebError
where
    E: Into<ApiError> + ServiceError,
{
    fn from(e: E) -> Self {
        WebError::Api(e.into())
    }
}

/// The layers' error types a page handler may meet, mapped as the API maps them.
pub trait ServiceError {}
impl ServiceError for ApiError {}
impl ServiceError for crate::accounts::AccountError {}
impl ServiceError for crate::monitoring::MonitoringError {}
impl ServiceError for crate::notifications::NotificationError {}
impl ServiceError for crate::alerts::AlertError {}
impl ServiceError for crate::storage::StorageError {}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Api(ApiError::Internal(format!("rendering a page: {e}")))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub heading: String,
    pub detail: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, detail, internal) = match self {
            WebError::SignIn { next } => {
                let target = format!("/login?next={}", percent_encoding::utf8_percent_encode(&next, super::QUERY));
                return Redirect::to(&target).into_response();
            }
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not for your role".to_string(),
                "Your account cannot open this page. Your inbox and your account are always open to you.".to_string(),
                None,
            ),
            WebError::CrossSite => (
                StatusCode::FORBIDDEN,
                "Refused: not sent by this page".to_string(),
                "The form did not come from a herald page of your current session (another site, or a page \
                 older than your sign-in). Reload the page and try again."
                    .to_string(),
                None,
            ),
            WebError::BadRequest(detail) => {
                (StatusCode::BAD_REQUEST, "The request could not be read".to_string(), detail, None)
            }
            WebError::Api(e) => {
                let (status, _, detail, _) = e.parts();
                let heading = match status {
                    StatusCode::NOT_FOUND => "Not found".to_string(),
                    StatusCode::UNAUTHORIZED => "Please sign in".to_string(),
                    s => s.canonical_reason().unwrap_or("Error").to_string(),
                };
                let internal = if let ApiError::Internal(d) = e { Some(d) } else { None };
                (status, heading, detail, internal)
            }
        };
        let page = ErrorPage { chrome: Chrome::bare(), status: status.as_u16(), heading, detail };
        let mut response = match page.render() {
            Ok(html) => (status, axum::response::Html(html)).into_response(),
            Err(e) => (status, format!("{status}: rendering the error page failed: {e}")).into_response(),
        };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(detail) = internal {
            response.extensions_mut().insert(InternalDetail(detail));
        }
        response
    }
}
