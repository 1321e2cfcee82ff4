//! Recording check results: a batch of results is one transaction that
//! stores every `service_metric` row, moves each service's state along its
//! thresholds (reading it under a row lock on PostgreSQL, so two writers
//! never step the same service from the same state), releases the leases,
//! and opens or resolves incidents — all committed together or not at all.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::MonitoringStore;
use crate::monitoring::checks::CheckStatus;
use crate::monitoring::domain::{self, State, Status, Step};
use crate::storage::{Pool, StorageError, Ts, sqlite_json, sqlite_time};

/// One check result to store.
#[derive(Debug, Clone)]
pub struct ResultIn {
    pub service_id: i64,
    pub checked_at: DateTime<Utc>,
    /// After the latency threshold.
    pub status: CheckStatus,
    pub latency_us: i32,
    pub status_code: Option<i16>,
    pub error: Option<String>,
    /// The instance that ran it (and whose lease it releases).
    pub instance_id: i32,
    /// TLS checks: the certificate's expiry.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// Scheduled checks: the service's next due time, as planned when it
    /// was claimed (stored unless something already moved it later, such
    /// as a heartbeat arriving). Claims do not move it: this is what moves
    /// the schedule on.
    pub next_check_at: Option<DateTime<Utc>>,
}

/// What recording one result did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub service_id: i64,
    pub before: Status,
    pub step: Step,
    /// The service was in a maintenance window.
    pub maintenance: bool,
    /// An incident opened, resolved or was noted by this result.
    pub incident: Option<(i64, IncidentChange)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentChange {
    Opened,
    /// Recovered and resolved automatically.
    Resolved,
    /// Recovered, but an operator holds the incident: noted, left open.
    RecoveredHeld,
}

/// The state and thresholds of a service, as read in the transaction.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct Current {
    id: i64,
    #[sqlx(try_from = "String")]
    status: Status,
    failures: i32,
    successes: i32,
    failure_threshold: i32,
    recovery_threshold: i32,
    /// In a maintenance window of its own or a global one.
    #[serde(deserialize_with = "sqlite_json::boolean")]
    maintenance: bool,
}

/// A result's planned effects, before the incident statements run.
struct Planned {
    index: usize,
    before: Status,
    step: Step,
    maintenance: bool,
}

/// Step every result from the current states, in order.
fn plan(results: &[ResultIn], current: Vec<Current>) -> Vec<Planned> {
    let mut states: HashMap<i64, (State, i64, i64, bool)> = current
        .into_iter()
        .map(|c| {
            let state = State { status: c.status, failures: c.failures.into(), successes: c.successes.into() };
            (c.id, (state, c.failure_threshold.into(), c.recovery_threshold.into(), c.maintenance))
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    for (index, r) in results.iter().enumerate() {
        // A service deleted meanwhile: its result is dropped with it.
        let Some((state, fail, recover, maintenance)) = states.get_mut(&r.service_id) else { continue };
        let before = state.status;
        let step = domain::step(*state, r.status, *fail, *recover);
        *state = step.state;
        out.push(Planned { index, before, step, maintenance: *maintenance });
    }
    out
}

/// The columns of [`Current`] read as they are stored.
const STATE_COLUMNS: &str = "id, status, failures, successes, failure_threshold, recovery_threshold";

/// Whether a service is in a maintenance window at the time bound as
/// `at` (a parameter such as `$2`), as an expression in the states' read
/// (one round trip fewer per batch). Both subqueries are uncorrelated, so
/// each runs once per statement, not once per row (read per row, windows
/// tripled that read's cost at 500 results a batch).
fn in_maintenance(at: &str) -> String {
    format!(
        "(id IN (SELECT service_id FROM maintenance_window \
         WHERE starts_at <= {at} AND ends_at > {at} AND service_id IS NOT NULL) \
         OR EXISTS (SELECT 1 FROM maintenance_window \
         WHERE starts_at <= {at} AND ends_at > {at} AND service_id IS NULL))"
    )
}

/// Incident statements: the same SQL on both backends, run inside the
/// caller's transaction `$tx`.
macro_rules! incident_sql {
    (open, $db:expr, $tx:expr, $service:expr, $at:expr, $cause:expr) => {{
        const SQL: &str = "INSERT INTO service_incident (service_id, status, started_at, cause) \
                           VALUES ($1, 'open', $2, $3) \
                           ON CONFLICT (service_id) WHERE status <> 'resolved' DO NOTHING RETURNING id";
        let q = sqlx::query_scalar::<_, i64>(SQL).bind($service).bind(Ts($at)).bind($cause);
        $db.observe("monitoring.open_incident", SQL, q.fetch_optional(&mut *$tx)).await?
    }};
    (resolve, $db:expr, $tx:expr, $service:expr, $at:expr) => {{
        const SQL: &str = "UPDATE service_incident SET status = 'resolved', resolved_at = $2 \
                           WHERE service_id = $1 AND status = 'open' RETURNING id";
        let q = sqlx::query_scalar::<_, i64>(SQL).bind($service).bind(Ts($at));
        $db.observe("monitoring.resolve_incident", SQL, q.fetch_optional(&mut *$tx)).await?
    }};
    (held, $db:expr, $tx:expr, $service:expr) => {{
        const SQL: &str = "SELECT id FROM service_incident WHERE service_id = $1 AND status = 'acknowledged'";
        let q = sqlx::query_scalar::<_, i64>(SQL).bind($service);
        $db.observe("monitoring.held_incident", SQL, q.fetch_optional(&mut *$tx)).await?
    }};
    (event, $db:expr, $tx:expr, $incident:expr, $at:expr, $kind:expr, $message:expr) => {{
        const SQL: &str =
            "INSERT INTO incident_event (incident_id, at, actor_id, kind, message) VALUES ($1, $2, NULL, $3, $4)";
        let q = sqlx::query(SQL).bind($incident).bind(Ts($at)).bind($kind).bind($message);
        $db.observe("monitoring.incident_event", SQL, q.execute(&mut *$tx)).await?;
    }};
}

/// For each planned result, open or resolve incidents inside `$tx`.
macro_rules! apply_incidents {
    ($db:expr, $tx:expr, $results:expr, $planned:expr) => {{
        let mut recorded = Vec::with_capacity($planned.len());
        for p in $planned {
            let r: &ResultIn = &$results[p.index];
            let mut incident = None;
            if p.step.went_down && !p.maintenance {
                let cause = format!(
                    "{} consecutive failed checks: {}",
                    p.step.state.failures,
                    r.error.as_deref().unwrap_or("check failed")
                );
                if let Some(id) = incident_sql!(open, $db, $tx, r.service_id, r.checked_at, &cause) {
                    incident_sql!(event, $db, $tx, id, r.checked_at, "opened", &cause);
                    incident = Some((id, IncidentChange::Opened));
                }
            } else if p.step.recovered {
                let message = format!("recovered: {} consecutive passing checks", p.step.state.successes);
                if let Some(id) = incident_sql!(resolve, $db, $tx, r.service_id, r.checked_at) {
                    incident_sql!(event, $db, $tx, id, r.checked_at, "resolved", &message);
                    incident = Some((id, IncidentChange::Resolved));
                } else if let Some(id) = incident_sql!(held, $db, $tx, r.service_id) {
                    let held = format!("{message}; acknowledged by an operator, so left open until resolved");
                    incident_sql!(event, $db, $tx, id, r.checked_at, "recovered", &held);
                    incident = Some((id, IncidentChange::RecoveredHeld));
                }
            }
            recorded.push(Recorded {
                service_id: r.service_id,
                before: p.before,
                step: p.step,
                maintenance: p.maintenance,
                incident,
            });
        }
        recorded
    }};
}

/// The last result of each service in a batch: it sets the service's state.
fn last_per_service<'a>(results: &'a [ResultIn], planned: &'a [Planned]) -> HashMap<i64, (&'a Planned, &'a ResultIn)> {
    planned.iter().map(|p| (results[p.index].service_id, (p, &results[p.index]))).collect()
}

impl MonitoringStore {
    /// Store a batch of results (in order) and apply them; see the module doc.
    pub async fn record(&self, results: &[ResultIn], now: DateTime<Utc>) -> Result<Vec<Recorded>, StorageError> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        let mut ids: Vec<i64> = results.iter().map(|r| r.service_id).collect();
        ids.sort_unstable();
        ids.dedup();
        match db.pool() {
            Pool::Postgres(p) => {
                // Locked in id order: two batches never wait on each other in a cycle.
                static CURRENT: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "SELECT {STATE_COLUMNS}, {} AS maintenance FROM service \
                         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                        in_maintenance("$2")
                    )
                });
                // The metrics and the new states in one statement (one round trip).
                const STORE: &str = "WITH metrics AS (INSERT INTO service_metric (service_id, checked_at, status, \
                                     status_code, instance_id, latency_us, error) \
                                     SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::smallint[], \
                                     $4::smallint[], $5::integer[], $6::integer[], $7::text[])) \
                                     UPDATE service s SET status = u.status, failures = u.failures, \
                                     successes = u.successes, last_checked_at = u.at, \
                                     cert_expires_at = COALESCE(u.cert, s.cert_expires_at), \
                                     next_check_at = GREATEST(s.next_check_at, COALESCE(u.next, s.next_check_at)), \
                                     lease_until = CASE WHEN s.lease_owner = u.instance THEN NULL ELSE s.lease_until END, \
                                     lease_owner = CASE WHEN s.lease_owner = u.instance THEN NULL ELSE s.lease_owner END \
                                     FROM unnest($8::bigint[], $9::text[], $10::integer[], $11::integer[], \
                                     $12::timestamptz[], $13::integer[], $14::timestamptz[], $15::timestamptz[]) \
                                     AS u(id, status, failures, successes, at, instance, cert, next) \
                                     WHERE s.id = u.id";
                let mut c = db.acquire_write(p).await?;
                let mut tx = db.begin(&mut c).await?;
                let q = sqlx::query_as::<_, Current>(&CURRENT).bind(&ids).bind(Ts(now));
                let current = db.observe("monitoring.lock_states", &CURRENT, q.fetch_all(&mut *tx)).await?;
                let planned = plan(results, current);
                let rows: Vec<&ResultIn> = planned.iter().map(|p| &results[p.index]).collect();
                let last = last_per_service(results, &planned);
                let q = sqlx::query(STORE)
                    .bind(rows.iter().map(|r| r.service_id).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.checked_at).collect::<Vec<_>>())
                    .bind(
                        planned
                            .iter()
                            .map(|p| domain::result_code(results[p.index].status, p.maintenance))
                            .collect::<Vec<_>>(),
                    )
                    .bind(rows.iter().map(|r| r.status_code).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.instance_id).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.latency_us).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
                    .bind(last.keys().copied().collect::<Vec<_>>())
                    .bind(last.values().map(|(p, _)| p.step.state.status.as_str()).collect::<Vec<_>>())
                    .bind(last.values().map(|(p, _)| clamp(p.step.state.failures)).collect::<Vec<_>>())
                    .bind(last.values().map(|(p, _)| clamp(p.step.state.successes)).collect::<Vec<_>>())
                    .bind(last.values().map(|(_, r)| r.checked_at).collect::<Vec<_>>())
                    .bind(last.values().map(|(_, r)| r.instance_id).collect::<Vec<_>>())
                    .bind(last.values().map(|(_, r)| r.cert_expires_at).collect::<Vec<_>>())
                    .bind(last.values().map(|(_, r)| r.next_check_at).collect::<Vec<_>>());
                db.observe("monitoring.store_results", STORE, q.execute(&mut *tx)).await?;
                let recorded = apply_incidents!(db, tx, results, planned);
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Ok(recorded)
            }
            Pool::Sqlite(p) => {
                // One JSON document, not a row each (see `sqlite_json`).
                static CURRENT: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "SELECT json_group_array({}) FROM (SELECT {STATE_COLUMNS}, {} AS maintenance \
                         FROM service WHERE id IN (SELECT value FROM json_each($1)))",
                        sqlite_json::object(&format!("{STATE_COLUMNS}, maintenance")),
                        in_maintenance("$2")
                    )
                });
                // Whole-batch statements over JSON arrays, the metrics ($1)
                // and the new states ($2) in one command: every command is
                // a round trip to sqlx's SQLite worker thread, which runs
                // each statement of a command in turn, binding `$n` by name.
                const STORE: &str = "INSERT INTO service_metric (service_id, checked_at, status, \
                                       status_code, instance_id, latency_us, error) \
                                       SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
                                       json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
                                       json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
                                       json_extract(value, '$[6]') FROM json_each($1); \
                                     UPDATE service SET status = json_extract(j.value, '$[1]'), \
                                      failures = json_extract(j.value, '$[2]'), \
                                      successes = json_extract(j.value, '$[3]'), \
                                      last_checked_at = json_extract(j.value, '$[4]'), \
                                      cert_expires_at = COALESCE(json_extract(j.value, '$[6]'), cert_expires_at), \
                                      next_check_at = MAX(next_check_at, \
                                                      COALESCE(json_extract(j.value, '$[7]'), next_check_at)), \
                                      lease_until = CASE WHEN lease_owner = json_extract(j.value, '$[5]') \
                                                    THEN NULL ELSE lease_until END, \
                                      lease_owner = CASE WHEN lease_owner = json_extract(j.value, '$[5]') \
                                                    THEN NULL ELSE lease_owner END \
                                      FROM json_each($2) AS j WHERE service.id = json_extract(j.value, '$[0]')";
                let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
                let mut c = db.acquire_write(p).await?;
                let mut tx = db.begin(&mut c).await?;
                let q = sqlx::query_scalar(&CURRENT).bind(list).bind(Ts(now));
                let document = db.observe("monitoring.lock_states", &CURRENT, q.fetch_one(&mut *tx)).await?;
                let current: Vec<Current> = sqlite_json::rows("monitoring.lock_states", document)?;
                let planned = plan(results, current);
                if !planned.is_empty() {
                    let metrics: Vec<serde_json::Value> = planned
                        .iter()
                        .map(|p| {
                            let r = &results[p.index];
                            serde_json::json!([
                                r.service_id,
                                r.checked_at.timestamp_micros(),
                                domain::result_code(r.status, p.maintenance),
                                r.status_code,
                                r.instance_id,
                                r.latency_us,
                                r.error
                            ])
                        })
                        .collect();
                    let last = last_per_service(results, &planned);
                    let states: Vec<serde_json::Value> = last
                        .values()
                        .map(|(p, r)| {
                            serde_json::json!([
                                r.service_id,
                                p.step.state.status.as_str(),
                                clamp(p.step.state.failures),
                                clamp(p.step.state.successes),
                                sqlite_time(r.checked_at),
                                r.instance_id,
                                r.cert_expires_at.map(sqlite_time),
                                r.next_check_at.map(sqlite_time)
                            ])
                        })
                        .collect();
                    let q = sqlx::query(STORE)
                        .bind(serde_json::Value::Array(metrics).to_string())
                        .bind(serde_json::Value::Array(states).to_string());
                    db.observe("monitoring.store_results", STORE, q.execute(&mut *tx)).await?;
                }
                let recorded = apply_incidents!(db, tx, results, planned);
                db.observe("transaction.commit", "COMMIT", tx.commit()).await?;
                Ok(recorded)
            }
        }
    }
}

/// Streak counters are stored as INTEGER; past 2^31 the exact count no longer matters.
fn clamp(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
