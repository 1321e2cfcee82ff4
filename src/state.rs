//! What every handler can reach. Built once in `app::App::build`.

use std::ops::Deref;
use std::sync::Arc;

use crate::accounts::AccountService;
use crate::alerts::{AlertService, DeliveryMetrics};
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::monitoring::{MonitoringService, SchedulerMetrics};
use crate::notifications::NotificationService;
use crate::performance::PerformanceMonitor;
use crate::realtime::Realtime;
use crate::storage::Db;
use crate::workers::WorkerMetrics;

/// The shared state, one pointer wide: every request and every open socket
/// holds a clone, so it is an `Arc` rather than a few hundred bytes of
/// service handles copied into each task.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub accounts: AccountService,
    pub notifications: NotificationService,
    pub monitoring: MonitoringService,
    pub alerts: AlertService,
    pub performance: PerformanceMonitor,
    /// Figures of this instance's alert deliveries.
    pub deliveries: DeliveryMetrics,
    /// Figures of this instance's check scheduler.
    pub checks: SchedulerMetrics,
    /// Figures of this instance's background workers.
    pub workers: WorkerMetrics,
    pub realtime: Realtime,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}
