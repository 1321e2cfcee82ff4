//! The API's one error type, rendered as `application/problem+json`
//! (RFC 9457). Lower layers' errors are mapped here, once. Internal detail
//! never reaches a body: it is attached to the response for the logging
//! middleware, which writes it once with the request's span.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::AccountError;
use crate::storage::StorageError;

pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::validation::FieldError;

/// The problem document every error answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`; `code` is the machine-readable kind.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable error code, e.g. `validation_failed`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { detail: String, field: Option<String> },
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    /// A call made with the session cookie that herald's own page did not send.
    #[error("cross-site request refused")]
    CrossSite,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {detail}")]
    Conflict { field: String, detail: String },
    #[error("payload too large")]
    PayloadTooLarge(usize),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("service unavailable")]
    Unavailable,
    /// Refused for now; `Retry-After` says when to come back.
    #[error("too many requests")]
    TooManyRequests { retry_after_seconds: u64, detail: String },
    /// Something herald called on the client's behalf refused or failed
    /// (a notification channel under test); the detail says what.
    #[error("upstream failed: {0}")]
    BadGateway(String),
    #[error("internal error")]
    Internal(String),
}

/// Internal detail carried to the logging middleware, never to the client.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    /// A 422 about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }

    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String, Vec<FieldError>) {
        match self {
            ApiError::BadRequest { detail, field } => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                detail.clone(),
                field.iter().map(|f| FieldError { field: f.clone(), message: detail.clone() }).collect(),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required: Authorization: Bearer <token>".into(),
                vec![],
            ),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "your role does not allow this".into(), vec![]),
            ApiError::CrossSite => (
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "a change made with the session cookie needs the page's X-Csrf-Token header and this site's Origin"
                    .into(),
                vec![],
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such resource".into(), vec![]),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not support the method".into(),
                vec![],
            ),
            ApiError::Conflict { field, detail } => (
                StatusCode::CONFLICT,
                "conflict",
                detail.clone(),
                vec![FieldError { field: field.clone(), message: detail.clone() }],
            ),
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {limit} bytes"),
                vec![],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json".into(),
                vec![],
            ),
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    _ => format!("{} fields are invalid", errors.len()),
                },
                errors.clone(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is not available right now; retry shortly".into(),
                vec![],
            ),
            ApiError::TooManyRequests { detail, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", detail.clone(), vec![])
            }
            ApiError::BadGateway(detail) => (StatusCode::BAD_GATEWAY, "bad_gateway", detail.clone(), vec![]),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged".into(),
                vec![],
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail, errors) = self.parts();
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code,
            errors,
        };
        let mut response = (status, Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after_seconds, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if let ApiError::Internal(detail) = self {
            response.extensions_mut().insert(InternalDetail(detail));
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::NotFound,
            StorageError::Unavailable => ApiError::Unavailable,
            // The constraint name stays in the log; the client learns only that it clashed.
            StorageError::Conflict { constraint } => {
                tracing::debug!(constraint, "unique constraint refused a write");
                ApiError::Conflict {
                    field: "body".into(),
                    detail: "a resource with these values already exists".into(),
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::EmailTaken => ApiError::Conflict { field: "email".into(), detail: e.to_string() },
            AccountError::ExternalIdTaken | AccountError::NotAMember => {
                ApiError::Conflict { field: "external_id".into(), detail: e.to_string() }
            }
            AccountError::UserNotFound | AccountError::TokenNotFound => ApiError::NotFound,
            AccountError::Unauthenticated | AccountError::WrongPassword => ApiError::Unauthorized,
            AccountError::SenderPassword => ApiError::field("password", e.to_string()),
            AccountError::Hashing => ApiError::Internal(e.to_string()),
            AccountError::Throttled { retry_after_seconds } => {
                ApiError::TooManyRequests { retry_after_seconds, detail: e.to_string() }
            }
            AccountError::Storage(s) => s.into(),
        }
    }
}
