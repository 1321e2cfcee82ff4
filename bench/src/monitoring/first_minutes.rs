//! The check cost an operator sees from the first minute: N HTTP services
//! at a 10 s interval are created on a fresh herald, then herald's CPU and
//! the checks it persisted are read every 10 s for a few minutes, periodic
//! jobs (rollups, service-alert evaluation, the performance sampler,
//! housekeeping) running as they would. The figure is herald's CPU per
//! persisted check in each minute, the first one included, with the 10 s
//! windows beside it so that bursts show.

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use testkit::PgCluster;

use super::{Rig, sum};
use crate::cpu::{self, Usage};
use crate::proc;

/// Length of one reading.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The services' interval: herald's shortest, as the issue measured.
pub const INTERVAL: u64 = 10;
/// Goal: herald CPU per persisted check in every minute.
pub const GOAL_US: f64 = 100.0;

/// One 10 s reading: checks run and stored in it, CPU per stored check.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Checks run (herald's counter), to compare with those stored.
    pub ran: f64,
    pub checks: f64,
    pub herald_us: f64,
    pub database_us: Option<f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// Time the API took to create them (herald CPU of that is not counted).
    pub created_in: Duration,
    pub readings: Vec<Reading>,
    pub rss_kib: u64,
}

impl Run {
    /// Per minute: herald µs per persisted check over its six readings.
    pub fn minutes(&self) -> Vec<f64> {
        self.readings
            .chunks(6)
            .filter(|c| c.len() == 6)
            .map(|c| {
                let checks: f64 = c.iter().map(|r| r.checks).sum();
                let us: f64 = c.iter().map(|r| r.herald_us * r.checks).sum();
                us / checks.max(1.0)
            })
            .collect()
    }
}

/// Readings of CPU time in microseconds between two snapshots.
fn micros(u: &Usage, seconds: f64) -> (f64, f64) {
    // Usage is in % of one CPU over the interval.
    (u.herald / 100.0 * seconds * 1e6, u.database / 100.0 * seconds * 1e6)
}

pub fn run(
    binary: &Path,
    pg: Option<&PgCluster>,
    target: SocketAddr,
    services: u64,
    minutes: u64,
) -> Result<Run, String> {
    let rig = Rig::start(binary, pg)?;
    let started = Instant::now();
    rig.create(0, services, INTERVAL, target)?;
    let created_in = started.elapsed();
    eprintln!(
        "  {services} services created in {:.1} s; reading every 10 s for {minutes} min...",
        created_in.as_secs_f64()
    );
    let mut readings = Vec::new();
    let read = |rig: &Rig| -> Result<_, String> {
        let ran = checks(rig)?;
        let stored = rig.persisted()?;
        Ok((Instant::now(), ran, stored, cpu::snapshot(Some(rig.herald.pid()), rig.postmaster)))
    };
    let mut before = read(&rig)?;
    for i in 0..minutes * 6 {
        let due = before.0 + WINDOW;
        thread::sleep(due.saturating_duration_since(Instant::now()));
        let after = read(&rig)?;
        let seconds = after.0.duration_since(before.0).as_secs_f64();
        let (ran, done) = (after.1 - before.1, after.2 - before.2);
        let (herald, database) = micros(&Usage::between(&before.3, &after.3), seconds);
        let reading = Reading {
            ran,
            checks: done,
            herald_us: herald / done.max(1.0),
            database_us: pg.map(|_| database / done.max(1.0)),
        };
        eprintln!(
            "  {:>3} s: {ran:.0} checks run, {done:.0} stored, herald {:.0} µs per stored check{}",
            (i + 1) * 10,
            reading.herald_us,
            reading.database_us.map(|d| format!(", database {d:.0} µs/check")).unwrap_or_default()
        );
        readings.push(reading);
        before = after;
    }
    let rss_kib = proc::rss_kib(rig.herald.pid())?;
    rig.stop()?;
    Ok(Run { created_in, readings, rss_kib })
}

/// Checks herald has persisted so far (its `/metrics` counter).
fn checks(rig: &Rig) -> Result<f64, String> {
    Ok(sum(&rig.get("/metrics")?, "herald_checks_total{"))
}
