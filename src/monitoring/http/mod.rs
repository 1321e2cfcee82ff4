//! Monitoring over HTTP: one file per resource (services and heartbeats,
//! incidents, figures and the public status, maintenance windows), thin
//! handlers over the [`MonitoringService`](super::MonitoringService), and
//! [`wire`]: how services, incidents and figures look in responses and on
//! the realtime channels. Operators and admins only (a member's token is
//! refused: services carry internal targets), except the public status and
//! heartbeats.

mod figures;
mod incidents;
mod maintenance;
mod services;
pub mod wire;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use super::MonitoringError;
use crate::http::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(services::router())
        .merge(incidents::router())
        .merge(figures::router())
        .merge(maintenance::router())
}

impl From<MonitoringError> for ApiError {
    fn from(e: MonitoringError) -> Self {
        match e {
            MonitoringError::Invalid(v) => ApiError::Validation(v),
            MonitoringError::NotFound => ApiError::NotFound,
            MonitoringError::State(detail) => ApiError::Conflict { field: "status".into(), detail },
            MonitoringError::Storage(s) => s.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// The resource's id.
    pub id: i64,
}
