//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the interactive docs at `/docs`.

use std::sync::Arc;

use axum::http::header;
use axum::{Router, routing::get};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_scalar::{Scalar, Servable};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "herald", description = "Service monitoring, per-user notifications and database self-monitoring."),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Users and API tokens"),
        (name = "notifications", description = "Per-user inbox and announcements"),
        (name = "realtime", description = "Live delivery over WebSocket (docs/realtime.md)"),
        (name = "monitoring", description = "Services, checks, incidents, uptime and the public status (docs/monitoring.md)"),
        (name = "alerts", description = "Alerts and the channels they are delivered to (docs/alerts.md)"),
        (name = "system", description = "Health, readiness, metrics and database figures"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("hld_…").build()),
        );
    }
}

/// The router every resource module merges into, carrying the base document.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}

/// `/api/openapi.json` and `/docs`.
pub fn docs_router(spec: utoipa::openapi::OpenApi) -> Router<AppState> {
    // Rendered once; the document does not change while the process runs.
    let json: Arc<str> = spec.to_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")).into();
    Router::new()
        .route(
            "/api/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json.to_string()) }),
        )
        .merge(Scalar::with_url("/docs", spec))
}
