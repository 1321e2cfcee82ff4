//! The HTTP surface: one router merged from each concern's `router()`,
//! and the one middleware stack every request passes through.

pub mod access;
pub mod error;
pub mod extract;
pub mod metrics;
mod openapi;
pub mod pagination;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::state::AppState;
use error::{ApiError, InternalDetail};

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let (routes, mut spec) = api();
    // Who may call each operation is read from the document the routes
    // were built with, so the docs and the rule applied cannot differ.
    let access = Arc::new(access::AccessMap::from_spec(&spec));
    for problem in &access.problems {
        tracing::error!(%problem, "an operation's roles cannot be read; it refuses every caller");
    }
    access::describe_roles(&mut spec, &access);
    let routes = routes.route_layer(middleware::from_fn_with_state((state.clone(), access), access::authorize));
    Router::new()
        .merge(routes)
        .merge(openapi::docs_router(spec))
        .merge(crate::web::router())
        .fallback(crate::web::not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(make_span).on_request(()).on_response(
                    |response: &Response, latency: Duration, _: &Span| {
                        tracing::debug!(
                            status = response.status().as_u16(),
                            latency_ms = latency.as_millis() as u64,
                            "response"
                        );
                    },
                ))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(middleware::from_fn(log_internal_errors))
                .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
                .layer(CatchPanicLayer::custom(on_panic))
                .layer(DefaultBodyLimit::max(state.config.max_body_bytes)),
        )
        .with_state(state)
}

/// The documented routes and the OpenAPI document built from them.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    openapi::api_router()
        .merge(crate::accounts::http::router())
        .merge(crate::notifications::http::router())
        .merge(crate::monitoring::http::router())
        .merge(crate::alerts::http::router())
        .merge(crate::performance::http::router())
        .merge(crate::realtime::http::router())
        .merge(crate::system::http::router())
        .split_for_parts()
}

/// A span per request, labelled with the route template, not the raw path.
fn make_span(request: &Request) -> Span {
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = %request.method(), route, request_id, user_id = tracing::field::Empty)
}

/// Write internal error detail to the log, once, inside the request span.
async fn log_internal_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(detail = %detail, "request failed");
    }
    response
}

/// A panic becomes a 500 problem; the panic message goes to the log only.
fn on_panic(err: Box<dyn Any + Send + 'static>) -> Response {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(format!("panic: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::access::{AccessMap, Lookup, Rule};

    #[test]
    fn every_operation_names_who_may_call_it() {
        let (_, spec) = super::api();
        let access = AccessMap::from_spec(&spec);
        assert_eq!(access.problems, Vec::<String>::new());
        let operations = access.operations();
        assert!(operations.len() > 40, "{operations:?}");
        for (path, method, rule) in operations {
            let public = matches!(rule, Rule::Public);
            // Only these need no token; everything else names its roles.
            let meant_public = ["/healthz", "/readyz", "/metrics", "/api/v1/status", "/api/v1/ws"]
                .contains(&path.as_str())
                || path.starts_with("/api/v1/heartbeat/");
            assert_eq!(public, meant_public, "{method} {path}: {rule:?}");
        }
        // A route nobody documented is refused; another method is the router's 405.
        assert_eq!(access.rule("/api/v1/undocumented", &Method::GET), Lookup::UnknownRoute);
        assert_eq!(access.rule("/api/v1/me", &Method::DELETE), Lookup::OtherMethod);
        assert!(matches!(access.rule("/api/v1/me", &Method::HEAD), Lookup::Rule(Rule::Roles(_))));
    }
}
