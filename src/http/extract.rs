//! Request extractors whose failures are problem+json naming the field:
//! JSON bodies, query strings, path parameters, and the bearer principal.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};
use crate::accounts::Principal;
use crate::state::AppState;

/// A JSON body. Wrong content type → 415, too large → 413, not JSON → 400,
/// JSON of the wrong shape → 422 with the JSON path of the offending field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty body is `None`; anything
/// else is read as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !is_json(&headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// The whole body, within `max_body_bytes` (413 past it).
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(state.config.max_body_bytes)
        }
        other => ApiError::BadRequest {
            detail: format!("could not read the request body: {}", other.body_text()),
            field: None,
        },
    })
}

/// Whether the request says its body is JSON (`application/json` or `…+json`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Deserialize JSON, naming the failing path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                ApiError::Validation(vec![FieldError { field: field_name(&path, &message), message }])
            }
            _ => ApiError::BadRequest { detail: format!("the body is not valid JSON: {inner}"), field: None },
        }
    })
}

/// The field a serde message is about: the path, or for a missing or
/// unknown field the name inside the backticks appended to the path.
fn field_name(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_string(),
        (parent, Some(name)) if !parent.ends_with(name) => format!("{parent}.{name}"),
        (".", None) => "body".into(),
        (path, _) => path.to_string(),
    }
}

/// Query string parameters; a bad one is a 422 naming the parameter.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        let text = e.body_text();
        let detail = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_string();
        let (field, message) = match detail.split_once(": ") {
            Some((field, message)) if !field.contains(' ') => (field.to_string(), message.to_string()),
            _ => ("query".to_string(), detail.clone()),
        };
        ApiError::Validation(vec![FieldError { field, message }])
    }
}

/// Path parameters; a malformed one (e.g. a non-numeric id) is a 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::BadRequest {
            detail: format!("invalid path parameter: {}", e.body_text()),
            field: Some("path".into()),
        }
    }
}

/// The authenticated caller, from `Authorization: Bearer <token>`. Its
/// role was checked against the operation's by [`super::access::authorize`],
/// which hands the principal on; a handler only checks finer rules.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(principal) = parts.extensions.remove::<Principal>() {
            return Ok(Auth(principal));
        }
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let principal = state.accounts.authenticate(token).await?;
        tracing::Span::current().record("user_id", principal.user.id);
        Ok(Auth(principal))
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer_from_headers(&parts.headers)
}

/// The token of an `Authorization: Bearer …` header, if any.
pub fn bearer_from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        pool: Inner,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        max: u32,
    }

    fn field_of(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field_of(r#"{"pool":{"max":1}}"#), "email");
        assert_eq!(field_of(r#"{"email":"a","pool":{"max":"x"}}"#), "pool.max");
        assert_eq!(field_of(r#"{"email":"a","pool":{}}"#), "pool.max");
        assert_eq!(field_of(r#"{"email":"a","pool":{"max":1},"extra":1}"#), "extra");
        assert!(matches!(parse_json::<Body>(b"{nope"), Err(ApiError::BadRequest { .. })));
    }
}
