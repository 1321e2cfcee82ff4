//! The check scheduler: every tick (1 s, stretched up to 5 s at low
//! rates: [`cadence`]), claim the services that fall due up to the next
//! tick (on PostgreSQL under a lease, so each due check is claimed by one
//! instance), start each check at its due time with bounded concurrency,
//! and hand the results to writers that store them in batches.
//!
//! Due times stay on each service's own grid (`next_due`), on whole start
//! quanta (1 s), so checks do not drift and those due together start
//! together; a check ends at its timeout; a dead instance's leases expire and
//! the next due check is claimed by whoever is alive.
//!
//! Checks run on a runtime of their own ([`CheckRuntime`]); claims and
//! result writes stay on the shared runtime with the database pool.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::MonitoringConfig;
use crate::monitoring::checks::{CheckStatus, Kind, Outcome, Probe};
use crate::monitoring::domain::{self, Status, round_up};
use crate::monitoring::service::{MonitoringError, MonitoringService, stored_probe, to_result};
use crate::monitoring::store::DueRow;
use cadence::Cadence;
use pending::Pending;

mod cadence;
mod pending;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Scheduler figures for `/metrics`.
#[derive(Clone)]
pub struct SchedulerMetrics {
    checks: Family<ResultLabels, Counter>,
    in_flight: Gauge,
    /// From a check's due time to its start.
    lag: Histogram,
    write_failures: Counter,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        Self {
            checks: Family::default(),
            in_flight: Gauge::default(),
            lag: Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            write_failures: Counter::default(),
        }
    }
}

impl SchedulerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("herald_checks", "Checks run by this instance, by result", self.checks.clone());
        registry.register("herald_checks_in_flight", "Checks running now", self.in_flight.clone());
        registry.register("herald_check_lag_seconds", "Delay from a check's due time to its start", self.lag.clone());
        registry.register(
            "herald_check_write_failures",
            "Batches of check results that could not be stored",
            self.write_failures.clone(),
        );
    }
}

/// Runs checks for this instance until cancelled.
pub struct Scheduler {
    service: MonitoringService,
    config: MonitoringConfig,
    /// What its rounds share (held services, parsed probes), whether they
    /// run in [`Scheduler::run`] or one [`Scheduler::step`] at a time.
    shared: Arc<Shared>,
}

/// Checks claimed and not yet stored, per check slot (512 slots: 10 240).
/// It holds a tick's worth of claims ahead plus the results queued and
/// being written, at the highest rate one instance runs.
const CLAIMED_PER_SLOT: usize = 20;

/// What the scheduler's tasks share.
struct Shared {
    service: MonitoringService,
    metrics: SchedulerMetrics,
    /// Checks running at once (`max_concurrent_checks`).
    running: Arc<Semaphore>,
    /// Services claimed and not yet stored: excluded from the next claims
    /// (on SQLite nothing else marks them), and bounded so a slow target
    /// cannot make an instance claim without end.
    held: Mutex<HashSet<i64>>,
    probes: Mutex<ProbeCache>,
    /// Checks start on multiples of this (`start_quantum_ms`).
    quantum_ms: i64,
    /// How far apart claims and result writes fall.
    cadence: Cadence,
}

impl Shared {
    /// The first start-quantum boundary at least `after` from now, as a
    /// runtime instant. Claims and result writes keep to the grid check
    /// starts are on, so an instance with few checks wakes a few times a
    /// second rather than at every phase of every timer: on a lightly
    /// loaded instance each wake-up of a thread costs more CPU than a check.
    fn next_boundary(&self, after: Duration) -> tokio::time::Instant {
        self.boundary(after).1
    }

    /// [`Shared::next_boundary`], with its wall-clock time.
    fn boundary(&self, after: Duration) -> (DateTime<Utc>, tokio::time::Instant) {
        let now = self.service.now();
        let at = round_up(now + chrono::Duration::from_std(after).unwrap_or_default(), self.quantum_ms);
        (at, tokio::time::Instant::now() + (at - now).to_std().unwrap_or(after))
    }
}

impl Scheduler {
    pub fn new(service: MonitoringService, config: MonitoringConfig, metrics: SchedulerMetrics) -> Self {
        let shared = Arc::new(Shared {
            service: service.clone(),
            metrics,
            running: Arc::new(Semaphore::new(config.max_concurrent_checks.max(1))),
            held: Mutex::new(HashSet::new()),
            probes: Mutex::new(ProbeCache::default()),
            quantum_ms: i64::try_from(config.start_quantum_ms).unwrap_or(i64::MAX),
            cadence: Cadence::new(
                Duration::from_millis(config.claim_interval_ms.max(10)),
                Duration::from_millis(config.result_linger_ms),
                Duration::from_millis(config.max_cadence_ms),
            ),
        });
        Self { service, config, shared }
    }

    /// Claim and check until `cancel`; `beat` hears of every claim tick.
    pub async fn run(self, cancel: CancellationToken, beat: crate::workers::Beat) {
        let slots = self.config.max_concurrent_checks.max(1);
        let check_runtime = match CheckRuntime::start(self.config.check_threads) {
            Ok(runtime) => Some(runtime),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the check threads; running checks on the shared runtime");
                None
            }
        };
        let checks = check_runtime.as_ref().map_or_else(tokio::runtime::Handle::current, |r| r.handle.clone());
        let shared = self.shared.clone();
        // Claimed and not yet stored: a claim permit is held until its
        // result is stored. Claims look one tick ahead, so the bound must
        // hold a tick's worth of checks plus the results queued, at the
        // highest rate one instance can run (thousands per second); it still
        // bounds memory (a claimed row is about a kilobyte) when targets or
        // the database stall.
        let bound = slots * CLAIMED_PER_SLOT;
        let claimed = Arc::new(Semaphore::new(bound));
        let pending = Arc::new(Pending::new(self.config.result_batch));
        let writers: Vec<_> = (0..self.config.result_writers.max(1))
            .map(|_| tokio::spawn(write_results(shared.clone(), pending.clone())))
            .collect();
        // Claims fall on start-quantum boundaries about a claim period apart,
        // reckoned from the wall clock each time (as check starts are), so
        // they stay on the same boundaries as the checks. The next one is
        // reckoned from half a quantum short of the period: waking a moment
        // after a boundary must not push it a whole quantum later. (At
        // least a millisecond ahead: the next claim is never this one.)
        let early = Duration::from_millis(self.config.start_quantum_ms / 2);
        let reschedules = self.service.reschedules();
        let mut next_claim = shared.next_boundary(Duration::ZERO);
        // The end of what the last claim covered.
        let mut covered = self.service.now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(next_claim) => {}
                // A new schedule may fall before the next claim: claim at
                // the coming boundary instead.
                _ = reschedules.notified() => {
                    next_claim = next_claim.min(shared.next_boundary(Duration::ZERO));
                    continue;
                }
            }
            let gap = shared.cadence.claim_period().saturating_sub(early).max(Duration::from_millis(1));
            let (horizon, at) = shared.boundary(gap);
            next_claim = at;
            let window = (horizon - covered.max(self.service.now())).to_std().unwrap_or_default();
            covered = horizon;
            let mut rows = 0;
            shared.probes.lock().unwrap_or_else(|p| p.into_inner()).tick();
            // Claim what falls due up to the next claim (due times are on
            // the boundaries claims fall on, so those due at the next one
            // are claimed now and start on time), and start each check at
            // its own due time: one claim per tick instead of polling for
            // what became due since the last one. Claim until nothing more
            // is due or the claimed bound is reached.
            loop {
                // One claim takes up to two slots' worth of rows: fewer,
                // larger claims at high rates.
                let free = claimed.available_permits().min(slots * 2);
                if free == 0 {
                    // Every claimed slot is taken: wait for a quarter of them
                    // to come back rather than for the next tick, or an
                    // instance could claim no more than the bound per tick.
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        done = claimed.acquire_many((slots / 2).max(1) as u32) => {
                            if done.is_err() {
                                break;
                            }
                        }
                    }
                    continue;
                }
                let (claimed_rows, due) = match self.claim(&shared, free, horizon).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim due checks; retrying next tick");
                        break;
                    }
                };
                let full = claimed_rows == free;
                rows += claimed_rows;
                for (row, next, probe) in due {
                    let Ok(permit) = claimed.clone().acquire_owned().await else { break };
                    let job = Job { shared: shared.clone(), pending: pending.clone() };
                    checks.spawn(job.run(row, next, probe, permit));
                }
                if !full || cancel.is_cancelled() {
                    break;
                }
            }
            // Zero after an early claim that reached no further than the
            // last: nothing to learn the rate from.
            if !window.is_zero() {
                shared.cadence.observe(rows, window);
            }
            beat.succeeded();
        }
        // Checks in flight finish (each ends at its timeout) and their
        // results are stored (every claim permit is back) before the
        // writers stop.
        let drained = async {
            let _ = claimed.acquire_many(u32::try_from(bound).unwrap_or(u32::MAX)).await;
            pending.close();
            futures_util::future::join_all(writers).await;
        };
        if tokio::time::timeout(Duration::from_secs(10), drained).await.is_err() {
            pending.close();
        }
        drop(check_runtime);
    }

    /// One round without the timers: claim what is due now (under the
    /// lease, as a round of [`Scheduler::run`] does), run each check and
    /// store the results before returning how many were claimed. Tests and
    /// tools drive the scheduler with it one step at a time, on whatever
    /// clock the service has.
    pub async fn step(&self) -> Result<usize, MonitoringError> {
        let shared = self.shared.clone();
        let limit = self.config.max_concurrent_checks.max(1) * CLAIMED_PER_SLOT;
        let (count, due) = self.claim(&shared, limit, self.service.now()).await?;
        let claimed = Arc::new(Semaphore::new(limit));
        let pending = Arc::new(Pending::new(self.config.result_batch));
        let mut jobs = Vec::with_capacity(due.len());
        for (row, next, probe) in due {
            let Ok(permit) = claimed.clone().acquire_owned().await else { break };
            let job = Job { shared: shared.clone(), pending: pending.clone() };
            jobs.push(job.run(row, next, probe, permit));
        }
        futures_util::future::join_all(jobs).await;
        pending.close();
        write_results(shared, pending).await;
        Ok(count)
    }

    /// Claim up to `limit` services due by `horizon`, each with its next
    /// due time and its parsed probe (or why its stored settings cannot be
    /// checked), as read before the claim (so `next_check_at` is when each
    /// is due now), and how many rows were claimed (a few may have been
    /// deleted meanwhile).
    async fn claim(
        &self,
        shared: &Shared,
        limit: usize,
        horizon: DateTime<Utc>,
    ) -> Result<(usize, Vec<Claimed>), MonitoringError> {
        let now = self.service.now();
        let margin = i64::try_from(self.config.lease_margin_seconds).unwrap_or(i64::MAX);
        let held: Vec<i64> = shared.held.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect();
        let instance = self.service.instance_id();
        let store = self.service.store();
        let rows = store.claim_due(instance, now, horizon, limit as i64, &held, margin).await?;
        shared.held.lock().unwrap_or_else(|p| p.into_inner()).extend(rows.iter().map(|r| r.id));
        let probes = match self.probes(shared, &rows).await {
            Ok(probes) => probes,
            Err(e) => {
                // Unchecked: no longer held, so the next claim takes them again.
                let mut held = shared.held.lock().unwrap_or_else(|p| p.into_inner());
                rows.iter().for_each(|r| _ = held.remove(&r.id));
                return Err(e);
            }
        };
        let count = rows.len();
        let mut held = shared.held.lock().unwrap_or_else(|p| p.into_inner());
        let claimed = rows
            .into_iter()
            .zip(probes)
            .filter_map(|(row, probe)| {
                // Deleted since the claim: nothing to check.
                let Some(probe) = probe else {
                    held.remove(&row.id);
                    return None;
                };
                let next = if row.kind == Kind::Heartbeat {
                    // Past its deadline: report down once per interval until a beat comes.
                    now + chrono::Duration::seconds(row.interval_seconds.into())
                } else {
                    domain::next_due(row.next_check_at, now, row.interval_seconds.into(), row.id, shared.quantum_ms)
                };
                Some((row, next, probe))
            })
            .collect();
        Ok((count, claimed))
    }

    /// The parsed probe of each claimed row, in order: kept ones as they
    /// are, the rest (first claims after a start, changed settings) read in
    /// one query, parsed and kept. `None` for a service deleted meanwhile.
    async fn probes(&self, shared: &Shared, rows: &[DueRow]) -> Result<Vec<Option<ProbeOrError>>, MonitoringError> {
        let mut out: Vec<Option<ProbeOrError>> = {
            let mut cache = shared.probes.lock().unwrap_or_else(|p| p.into_inner());
            rows.iter().map(|row| cache.get(row).map(Ok)).collect()
        };
        let missing: Vec<i64> = rows.iter().zip(&out).filter(|(_, p)| p.is_none()).map(|(r, _)| r.id).collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let services = self.service.store().services_by_id(&missing).await?;
        let mut parsed: HashMap<i64, ProbeOrError> = HashMap::with_capacity(services.len());
        {
            let mut cache = shared.probes.lock().unwrap_or_else(|p| p.into_inner());
            for service in services {
                let probe = match stored_probe(&service) {
                    Ok(probe) => {
                        let probe = Arc::new(probe);
                        cache.put(service.id, service.updated_at, probe.clone());
                        Ok(probe)
                    }
                    Err(e) => Err(e.to_string()),
                };
                parsed.insert(service.id, probe);
            }
        }
        for (row, slot) in rows.iter().zip(out.iter_mut()) {
            if slot.is_none() {
                *slot = parsed.get(&row.id).cloned();
            }
        }
        Ok(out)
    }
}

/// The runtime checks run on: `check_threads` threads apart from the
/// shared runtime's. A check is a timer, a request and a response: on the
/// shared work-stealing runtime each of those wake-ups could rouse a second
/// worker looking for work, and a thread of their own made each check
/// cheaper (BENCHMARKS.md, "Measurements behind design choices"). Database work stays off
/// it (claims and writes run on the shared runtime), so no pooled
/// connection is tied to it.
struct CheckRuntime {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread that owns the runtime, which drops the
    /// runtime there (a runtime may not be dropped inside another).
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl CheckRuntime {
    fn start(threads: usize) -> std::io::Result<Self> {
        let runtime = if threads <= 1 {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("herald-checks")
                .enable_all()
                .build()?
        };
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("herald-checks".into()).spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(Self { handle, _stop: stop })
    }
}

/// Parsed probes between checks, by service: parsing a stored probe (JSON,
/// URL, headers) cost more than a tenth of a check. An entry is valid while
/// the service's `updated_at` is unchanged; entries unused for a while go.
#[derive(Default)]
struct ProbeCache {
    entries: HashMap<i64, CachedProbe>,
    ticks: u64,
}

struct CachedProbe {
    updated_at: DateTime<Utc>,
    probe: Arc<Probe>,
    used: u64,
}

/// Ticks an entry may go unused before it is dropped (with the default
/// 1 s tick: an hour, longer than any sensible interval).
const PROBE_IDLE_TICKS: u64 = 3_600;

impl ProbeCache {
    fn get(&mut self, row: &DueRow) -> Option<Arc<Probe>> {
        let entry = self.entries.get_mut(&row.id).filter(|e| e.updated_at == row.updated_at)?;
        entry.used = self.ticks;
        Some(entry.probe.clone())
    }

    fn put(&mut self, id: i64, updated_at: DateTime<Utc>, probe: Arc<Probe>) {
        self.entries.insert(id, CachedProbe { updated_at, probe, used: self.ticks });
    }

    fn tick(&mut self) {
        self.ticks += 1;
        if self.ticks % PROBE_IDLE_TICKS == 0 {
            let ticks = self.ticks;
            self.entries.retain(|_, e| ticks - e.used < PROBE_IDLE_TICKS);
        }
    }
}

/// A parsed probe, or why the stored settings cannot be checked.
type ProbeOrError = Result<Arc<Probe>, String>;

/// A claimed service, when it is next due, and its probe.
type Claimed = (DueRow, DateTime<Utc>, ProbeOrError);

/// One claimed check.
struct Job {
    shared: Arc<Shared>,
    pending: Arc<Pending>,
}

impl Job {
    async fn run(self, row: DueRow, next: DateTime<Utc>, probe: ProbeOrError, permit: OwnedSemaphorePermit) {
        let shared = &self.shared;
        let service = &shared.service;
        // Claimed ahead of time: wait for the due time, then for a slot.
        // Due times are on the start-quantum grid (`next_due`), so checks
        // due close together start together (a wake-up per check cost more
        // CPU than the check); one off it (a heartbeat's deadline, settings
        // from before) is rounded up onto it.
        let start = round_up(row.next_check_at, shared.quantum_ms);
        let wait = (start - service.now()).to_std().unwrap_or_default();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let Ok(_slot) = shared.running.acquire().await else { return };
        let started = service.now();
        let lag = (started - row.next_check_at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
        shared.metrics.lag.observe(lag);
        shared.metrics.in_flight.inc();
        let (outcome, status) = match probe {
            Ok(probe) => service.run_probe(&row, &probe).await,
            // Stored settings this herald cannot run (validated on write, so
            // only after a downgrade or a hand edit): a failed check with the
            // reason, not a service silently never checked.
            Err(e) => (
                Outcome {
                    status: CheckStatus::Down,
                    latency: Duration::ZERO,
                    status_code: None,
                    error: Some(format!("stored settings cannot be checked: {e}")),
                    cert_expires_at: None,
                },
                CheckStatus::Down,
            ),
        };
        shared.metrics.in_flight.dec();
        let result = match status {
            CheckStatus::Up => "up",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Down => "down",
        };
        shared.metrics.checks.get_or_create(&ResultLabels { result }).inc();
        let mut stored = to_result(&row, &outcome, status, started, service.instance_id());
        stored.next_check_at = Some(next);
        // Anything but up after up may start or end a streak: stored soon.
        // So is a result whose next check is near (`Cadence::next_is_near`).
        let until_next = (next - service.now()).to_std().unwrap_or_default();
        let quantum = Duration::from_millis(u64::try_from(shared.quantum_ms).unwrap_or(0));
        let urgent =
            status != CheckStatus::Up || row.status != Status::Up || shared.cadence.next_is_near(until_next, quantum);
        if self.pending.push(stored, permit, urgent).is_err() {
            shared.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&row.id);
        }
    }
}

/// Store results in batches: what is queued within `linger` of the first
/// result, up to `result_batch`, in one transaction. Each transaction
/// costs a commit (an fsync on SQLite); gathering for a moment turns a
/// steady trickle of results into a few transactions per second. Several
/// writers share the queue: one gathers while the others write, so at high
/// rates the database works on more than one batch at a time; at low rates
/// each batch is still one gathering's worth, so no transaction is added.
/// Stored or not, the batch's services are no longer held: a failed write
/// leaves their due times where they were, so they are claimed and checked
/// again.
async fn write_results(shared: Arc<Shared>, pending: Arc<Pending>) {
    let deadline = |urgent| shared.next_boundary(shared.cadence.linger(urgent));
    while let Some(batch) = pending.next_batch(deadline).await {
        let (results, permits): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let ids: Vec<i64> = results.iter().map(|r| r.service_id).collect();
        if let Err(e) = shared.service.record(results).await {
            shared.metrics.write_failures.inc();
            tracing::error!(error = %e, "could not store a batch of check results");
        }
        let mut held = shared.held.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            held.remove(&id);
        }
        drop(held);
        // Only now may the claim loop claim as many again.
        drop(permits);
    }
}
