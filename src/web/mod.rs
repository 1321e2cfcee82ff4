//! The web app: server-rendered pages over the same services as the JSON
//! API, readable without JavaScript; one small script adds live updates
//! over the realtime WebSocket. One folder per part:
//!
//! - `pages/`: the routes, one file per area, each handler as thin as a
//!   JSON one (extract, call the service, render a template);
//! - `templates/`: askama templates, checked at compile time, escaping
//!   every string they write;
//! - `assets/`: the stylesheet, the script and the icon, in the binary;
//! - [`session`] and [`csrf`]: who the browser is, and that a change came
//!   from herald's own page; [`headers`]: the policy every page carries;
//! - [`view`] and [`chart`]: the layout's data, formatting, SVG charts.

pub mod assets;
mod chart;
pub mod csrf;
mod error;
pub mod headers;
mod pages;
pub mod session;
mod view;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use crate::http::error::ApiError;
use crate::state::AppState;
pub use error::WebError;

/// What a query-string value must have encoded.
pub(crate) const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// The pages and their assets, with the page headers on every response.
pub fn router() -> Router<AppState> {
    pages::router().route("/assets/{name}", get(assets::serve)).layer(middleware::from_fn(headers::secure))
}

/// Whether the client asked for a page rather than data.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// Unknown paths: a page for browsers, problem+json for API clients.
pub async fn not_found(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        let mut response = WebError::not_found().into_response();
        headers::add(&mut response);
        response
    } else {
        ApiError::NotFound.into_response()
    }
}
