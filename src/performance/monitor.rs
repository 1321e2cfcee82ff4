//! The performance monitor: samples the database layer every
//! `performance.sample_interval_seconds`, stores each sample (kept for
//! `retention_hours`), hands the alert rules' conditions to the alert
//! pipeline, and builds the report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::report::{self, Report};
use super::sample::{self, Previous, Sample};
use super::store::PerformanceStore;
use super::{memory, rules};
use crate::alerts::AlertService;
use crate::alerts::store::AlertStore;
use crate::alerts::wire::AlertOut;
use crate::clock::Clock;
use crate::config::PerformanceConfig;
use crate::storage::{Db, StorageError};

/// Samples purged per statement by retention.
const PURGE_BATCH: i64 = 1_000;

#[derive(Clone)]
pub struct PerformanceMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    store: PerformanceStore,
    alerts: AlertService,
    clock: Clock,
    config: PerformanceConfig,
    slow_query_ms: u64,
    /// This process, naming its samples.
    instance: String,
    previous: Mutex<Option<Previous>>,
}

impl PerformanceMonitor {
    pub fn new(
        db: Db,
        alerts: AlertService,
        clock: Clock,
        config: PerformanceConfig,
        slow_query_ms: u64,
        instance: String,
    ) -> Self {
        let store = PerformanceStore::new(db.clone());
        let inner = Inner { db, store, alerts, clock, config, slow_query_ms, instance, previous: Mutex::new(None) };
        Self { inner: Arc::new(inner) }
    }

    pub fn store(&self) -> &PerformanceStore {
        &self.inner.store
    }

    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Take, store and evaluate one sample.
    pub async fn sample_once(&self) -> Result<Sample, StorageError> {
        let i = &self.inner;
        let now = i.clock.now();
        let memory = memory::read(i.config.memory_limit_mb);
        let postgres = match i.store.postgres().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not read PostgreSQL statistics");
                None
            }
        };
        let previous = *i.previous.lock().unwrap_or_else(|p| p.into_inner());
        let (sample, next) = sample::build(&i.db, now, previous, i.slow_query_ms, memory, postgres);
        *i.previous.lock().unwrap_or_else(|p| p.into_inner()) = Some(next);
        i.store.insert(&i.instance, &sample).await?;
        // The first sample has no window: its averages and rates say nothing yet.
        if previous.is_some() {
            let conditions = rules::conditions(&sample, &i.config);
            if let Err(e) = i.alerts.observe("database", &conditions).await {
                tracing::warn!(error = %e, "could not evaluate database alerts");
            }
        }
        let keep = chrono::Duration::hours(i64::try_from(i.config.retention_hours).unwrap_or(24 * 365));
        i.store.purge(now - keep, PURGE_BATCH).await?;
        Ok(sample)
    }

    /// This instance's samples since `since`, oldest first.
    pub async fn samples(&self, since: DateTime<Utc>) -> Result<Vec<Sample>, StorageError> {
        self.inner.store.since(Some(&self.inner.instance), since).await
    }

    pub async fn report(&self) -> Result<Report, StorageError> {
        let i = &self.inner;
        report_from_storage(&i.db, Some(&i.instance), i.clock.now(), &i.config).await
    }

    pub fn config(&self) -> &PerformanceConfig {
        &self.inner.config
    }
}

/// The report over the last day of stored samples of `instance` (default:
/// the instance that sampled last) and the firing database alerts: what the
/// API serves for this instance and `herald report` prints.
pub async fn report_from_storage(
    db: &Db,
    instance: Option<&str>,
    now: DateTime<Utc>,
    config: &PerformanceConfig,
) -> Result<Report, StorageError> {
    let samples = PerformanceStore::new(db.clone()).since(instance, now - chrono::Duration::hours(24)).await?;
    let alerts = AlertStore::new(db.clone()).firing("database").await?.into_iter().map(AlertOut::from).collect();
    Ok(report::build(now, db.backend(), &samples, alerts, config))
}

/// The sampler as a worker: a sample every `sample_interval_seconds`, the
/// first at start-up.
pub struct Sampler(pub PerformanceMonitor);

impl Sampler {
    pub fn schedule(&self) -> crate::workers::Schedule {
        let period = Duration::from_secs(self.0.config().sample_interval_seconds.max(1));
        crate::workers::Schedule::every(period).starting_now()
    }
}

impl crate::workers::Worker for Sampler {
    async fn pass(&mut self) -> anyhow::Result<crate::workers::Pass> {
        use anyhow::Context;
        self.0.sample_once().await.context("could not store a performance sample")?;
        Ok(crate::workers::Pass::Idle)
    }
}
