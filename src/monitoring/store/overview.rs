//! The overview's statements: a page of services chosen by status and
//! name in a chosen order, how many match, and the counts by status — each
//! one statement, whatever the number of services.

use std::fmt::Write;

use super::services::COLUMNS;
use super::{MonitoringStore, ServiceRow};
use crate::monitoring::domain::ShownStatus;
use crate::storage::StorageError;

/// Which services a page lists.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    pub status: Option<ShownStatus>,
    /// Part of the name, any case.
    pub search: String,
}

/// The order of a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServiceOrder {
    /// Down first, then degraded, unknown, up, paused; by name within each.
    #[default]
    Worst,
    Name,
    /// Most recently checked first.
    LastChecked,
}

/// The services in a maintenance window now.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceNow {
    /// A window without a service covers all of them.
    pub all: bool,
    pub ids: Vec<i64>,
}

/// How many services show each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub unknown: u64,
    pub paused: u64,
    pub maintenance: u64,
}

impl StatusCounts {
    pub fn total(&self) -> u64 {
        self.up + self.degraded + self.down + self.unknown + self.paused + self.maintenance
    }

    pub fn of(&self, status: ShownStatus) -> u64 {
        match status {
            ShownStatus::Up => self.up,
            ShownStatus::Degraded => self.degraded,
            ShownStatus::Down => self.down,
            ShownStatus::Unknown => self.unknown,
            ShownStatus::Paused => self.paused,
            ShownStatus::Maintenance => self.maintenance,
        }
    }
}

/// SQL text with numbered parameters, bound in the order they were added.
struct Where<'a> {
    sql: String,
    params: Vec<Param<'a>>,
}

enum Param<'a> {
    Ids(&'a [i64]),
    Text(String),
}

impl<'a> Where<'a> {
    fn new() -> Self {
        Self { sql: "TRUE".into(), params: Vec::new() }
    }

    /// The next parameter's placeholder.
    fn push(&mut self, p: Param<'a>) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    fn bind<'q>(&'q self, mut st: crate::storage::Statement<'q>) -> crate::storage::Statement<'q> {
        for p in &self.params {
            st = match p {
                Param::Ids(ids) => st.bind_ids(ids),
                Param::Text(t) => st.bind(t.as_str()),
            };
        }
        st
    }
}

impl MonitoringStore {
    /// `… is in a maintenance window now`, as SQL over `id`.
    fn in_window<'a>(&self, w: &mut Where<'a>, m: &'a MaintenanceNow) -> String {
        if m.all {
            "TRUE".into()
        } else if m.ids.is_empty() {
            "FALSE".into()
        } else {
            let placeholder = w.push(Param::Ids(&m.ids));
            self.db.in_ids("id", &placeholder)
        }
    }

    fn filter_sql<'a>(&self, f: &ServiceFilter, m: &'a MaintenanceNow) -> Where<'a> {
        let mut w = Where::new();
        let stored = match f.status {
            None => None,
            Some(ShownStatus::Paused) => {
                w.sql.push_str(" AND NOT enabled");
                None
            }
            Some(ShownStatus::Maintenance) => {
                let window = self.in_window(&mut w, m);
                let _ = write!(w.sql, " AND enabled AND ({window})");
                None
            }
            Some(ShownStatus::Up) => Some("up"),
            Some(ShownStatus::Degraded) => Some("degraded"),
            Some(ShownStatus::Down) => Some("down"),
            Some(ShownStatus::Unknown) => Some("unknown"),
        };
        if let Some(status) = stored {
            let window = self.in_window(&mut w, m);
            let p = w.push(Param::Text(status.into()));
            let _ = write!(w.sql, " AND enabled AND status = {p} AND NOT ({window})");
        }
        let search = f.search.trim();
        if !search.is_empty() {
            let escaped: String = search
                .to_lowercase()
                .chars()
                .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
                .collect();
            let p = w.push(Param::Text(format!("%{escaped}%")));
            let _ = write!(w.sql, " AND lower(name) LIKE {p} ESCAPE '\\'");
        }
        w
    }

    /// A page of the services `filter` chooses, in `order`.
    pub async fn overview_services(
        &self,
        filter: &ServiceFilter,
        maintenance: &MaintenanceNow,
        order: ServiceOrder,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ServiceRow>, StorageError> {
        let w = self.filter_sql(filter, maintenance);
        let order = match order {
            ServiceOrder::Worst => {
                "CASE WHEN NOT enabled THEN 4 WHEN status = 'down' THEN 0 WHEN status = 'degraded' THEN 1 \
                 WHEN status = 'unknown' THEN 2 ELSE 3 END, lower(name), id"
            }
            ServiceOrder::Name => "lower(name), id",
            ServiceOrder::LastChecked => "last_checked_at DESC NULLS LAST, id",
        };
        let n = w.params.len();
        let sql = format!(
            "SELECT {COLUMNS} FROM service WHERE {} ORDER BY {order} LIMIT ${} OFFSET ${}",
            w.sql,
            n + 1,
            n + 2
        );
        w.bind(self.db.read("monitoring.overview_services", &sql)).bind(limit).bind(offset).fetch_all().await
    }

    /// How many services `filter` chooses.
    pub async fn count_services(
        &self,
        filter: &ServiceFilter,
        maintenance: &MaintenanceNow,
    ) -> Result<i64, StorageError> {
        let w = self.filter_sql(filter, maintenance);
        let sql = format!("SELECT count(*) FROM service WHERE {}", w.sql);
        w.bind(self.db.read("monitoring.count_services", &sql)).scalar_one().await
    }

    /// Every service counted under the status it shows.
    pub async fn status_counts(&self, maintenance: &MaintenanceNow) -> Result<StatusCounts, StorageError> {
        let mut w = Where::new();
        let window = self.in_window(&mut w, maintenance);
        let sql = format!(
            "SELECT status, enabled, CASE WHEN {window} THEN 1 ELSE 0 END AS m, count(*) FROM service \
             GROUP BY status, enabled, 3"
        );
        let rows: Vec<(String, bool, i32, i64)> =
            w.bind(self.db.read("monitoring.status_counts", &sql)).fetch_all().await?;
        let mut counts = StatusCounts::default();
        for (status, enabled, in_window, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            let slot = match (enabled, in_window != 0, status.as_str()) {
                (false, _, _) => &mut counts.paused,
                (true, true, _) => &mut counts.maintenance,
                (true, false, "up") => &mut counts.up,
                (true, false, "degraded") => &mut counts.degraded,
                (true, false, "down") => &mut counts.down,
                (true, false, _) => &mut counts.unknown,
            };
            *slot += n;
        }
        Ok(counts)
    }
}
