//! `GET /api/v1/ws`: the WebSocket upgrade. A token in the `Authorization`
//! header or the `token` query parameter is checked before upgrading (a
//! bad one answers 401 problem+json); without one, the socket must send an
//! `auth` message first.

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::socket;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiQuery, bearer_from_headers};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsParams {
    /// A bearer token, for browsers that cannot set headers on a WebSocket.
    pub token: Option<String>,
}

/// Open the realtime WebSocket (protocol: docs/realtime.md).
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", params(WsParams),
    responses((status = 101, description = "switching to the WebSocket protocol"),
              (status = 401, body = Problem), (status = 400, body = Problem)))]
async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<WsParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| ApiError::BadRequest {
        detail: format!("this endpoint speaks WebSocket: {}", e.body_text()),
        field: None,
    })?;
    let token = bearer_from_headers(&headers).map(str::to_owned).or(params.token);
    let principal = match token {
        Some(token) => Some(state.accounts.authenticate(&token).await?),
        // herald's own pages open the socket with the session cookie.
        None => crate::web::session::socket_principal(&state, &headers).await,
    };
    // Frames up to 4× the message limit are read and answered with an
    // `error`; past that the protocol layer closes the socket (1009). The
    // read buffer is allocated up front for every socket: client messages
    // are small, and a larger one grows as needed.
    let limit = state.config.realtime.max_message_bytes.saturating_mul(4);
    Ok(upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(512)
        .write_buffer_size(0)
        .on_upgrade(move |ws| socket::serve(ws, state, principal)))
}
