//! Monitoring's tables: services and their scheduling leases, check
//! results and the state they move, incidents and their timelines,
//! maintenance windows, rollups and the series read from them.
//! SQL is shared between the backends where the dialects agree (`on_pool!`)
//! and written out per backend where they do not.

mod incidents;
mod maintenance;
mod overview;
mod results;
mod rollups;
mod series;
mod services;

pub use incidents::{Action, IncidentFilter, IncidentRow, TimelineRow};
pub use maintenance::WindowRow;
pub use overview::{MaintenanceNow, ServiceFilter, ServiceOrder, StatusCounts};
pub use results::{IncidentChange, Recorded, ResultIn};
pub use rollups::{DAY, HOUR, QUARTER, RawResult, RecentResult, Rolled, RollupRow, SLICE};
pub use services::{AlertState, DueRow, NewService, ServiceRow, ServiceUpdate};

use crate::storage::Db;

/// Monitoring's storage. Cheap to clone.
#[derive(Clone)]
pub struct MonitoringStore {
    db: Db,
}

impl MonitoringStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}
