//! Part 2: create→receive latency. Notifications are created through the
//! API at a steady rate (open loop: each has a due time, whether or not the
//! previous ones were answered) for random subscribed members, each with a
//! unique title; the send instant per title is set against the instant the
//! member's socket read it.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use super::Sizes;
use super::client::{Event, Fleet};
use super::phases::{CONNECT_TIMEOUT, DELIVERY_TIMEOUT, LINGER, REQUEST_TIMEOUT, SETTLE};
use crate::cpu::{self, Usage};
use crate::http::Client;
use crate::load::Rng;
use crate::notifications::Rig;

/// Paced sender threads, taking turns through the schedule: one stalled
/// request must not hold up the next ones (which would hide the stall from
/// the latency figures).
const SENDERS: usize = 4;
/// Head start for the senders to connect before the first due time.
const LEAD: Duration = Duration::from_millis(200);

/// Part 2's readings.
#[derive(Debug, Default)]
pub struct Latency {
    pub sockets: usize,
    /// Notifications scheduled (rate × seconds) and answered 201.
    pub scheduled: usize,
    pub created: usize,
    /// Created ones that arrived on their member's socket (first copy).
    pub received: usize,
    pub duplicates: usize,
    /// Arrived on another member's socket.
    pub misrouted: usize,
    /// Failed requests and messages that were not ours.
    pub errors: usize,
    pub first_error: Option<String>,
    /// Achieved request rate from the first send to the last.
    pub send_rate: f64,
    /// Worst delay of a send behind its due time, milliseconds.
    pub max_behind_ms: f64,
    /// Create→receive of each received notification, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    pub usage: Usage,
}

impl Latency {
    /// Nearest-rank quantile in milliseconds; NaN when nothing arrived.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        let Some(last) = self.latencies_us.len().checked_sub(1) else { return f64::NAN };
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).saturating_sub(1).min(last);
        self.latencies_us[rank] as f64 / 1000.0
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// One scheduled create.
struct Sent {
    seq: usize,
    user: i64,
    due: Instant,
    /// Just before the request was written.
    at: Instant,
    outcome: Result<(), String>,
}

/// Create through `rig`'s herald; the sockets connect to `sockets_on` (the
/// same herald, or a peer on the same PostgreSQL database).
pub fn run(rig: &Rig<'_>, sizes: &Sizes, sockets_on: SocketAddr) -> Result<Latency, String> {
    let count = sizes.latency_sockets as usize;
    eprintln!("  opening {count} sockets on {sockets_on}...");
    let fleet =
        Fleet::connect(sockets_on, rig.members.first, count, CONNECT_TIMEOUT).map_err(|e| rig.herald.failure(&e))?;
    thread::sleep(SETTLE);
    let stray = fleet.drain();
    if let Some(first) = stray.first() {
        return Err(rig.herald.failure(&format!("{} socket events before sending; first: {first}", stray.len())));
    }
    let total = (sizes.rate * sizes.duration.as_secs()) as usize;
    eprintln!("  sending {total} notifications at {}/s to {count} members...", sizes.rate);
    let lane = Lane {
        addr: rig.herald.addr(),
        admin: &rig.admin,
        users: (rig.members.first, rig.members.first + count as i64 - 1),
        total,
        rate: sizes.rate as f64,
        start: Instant::now() + LEAD,
    };
    let before = cpu::snapshot(Some(rig.herald.pid()), rig.postmaster);
    let sends = thread::scope(|scope| {
        let lanes: Vec<_> = (0..SENDERS).map(|index| scope.spawn(move || lane.send(index))).collect();
        let mut sends = Vec::with_capacity(total);
        for handle in lanes {
            sends.extend(handle.join().map_err(|_| "a sender thread panicked".to_owned())?);
        }
        Ok::<_, String>(sends)
    })?;
    let mut result = tally(&fleet, sends, total);
    result.usage = Usage::between(&before, &cpu::snapshot(Some(rig.herald.pid()), rig.postmaster));
    eprintln!(
        "  {}/{} received (of {} created), p50 {:.2} ms, p99 {:.2} ms, {} duplicates, {} misrouted, {} errors",
        result.received,
        result.scheduled,
        result.created,
        result.percentile_ms(0.5),
        result.percentile_ms(0.99),
        result.duplicates,
        result.misrouted,
        result.errors
    );
    Ok(result)
}

/// Matches what the sockets read with what was sent, waiting until every
/// created notification arrived or [`DELIVERY_TIMEOUT`] passed.
fn tally(fleet: &Fleet, sends: Vec<Sent>, total: usize) -> Latency {
    let mut result = Latency { sockets: fleet.count, scheduled: total, ..Latency::default() };
    // Per sequence number: the member and send instant of a created one.
    let mut sent: Vec<Option<(i64, Instant)>> = vec![None; total];
    let mut arrived = vec![false; total];
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for s in sends {
        result.max_behind_ms = result.max_behind_ms.max(s.at.saturating_duration_since(s.due).as_secs_f64() * 1000.0);
        first = Some(first.map_or(s.at, |f| f.min(s.at)));
        last = Some(last.map_or(s.at, |l| l.max(s.at)));
        match s.outcome {
            Ok(()) => {
                result.created += 1;
                sent[s.seq] = Some((s.user, s.at));
            }
            Err(e) => result.error(format!("create #{}: {e}", s.seq)),
        }
    }
    if let (Some(first), Some(last)) = (first, last) {
        result.send_rate = total.saturating_sub(1) as f64 / last.duration_since(first).as_secs_f64().max(1e-9);
    }
    let mut see = |event: Event, result: &mut Latency| {
        let Event::New { socket, user: addressee, title, at } = event else {
            return result.error(format!("unexpected: {event}"));
        };
        let seq = title.strip_prefix("rt-").and_then(|n| n.parse::<usize>().ok());
        let Some((seq, (user, sent_at))) = seq.and_then(|seq| Some((seq, sent.get(seq).copied().flatten()?))) else {
            return result.error(format!("a notification nobody created successfully: {title:?}"));
        };
        // The socket's member, and the member the message says it is for.
        if user != fleet.first_user + socket as i64 || addressee != Some(user) {
            result.misrouted += 1;
        } else if std::mem::replace(&mut arrived[seq], true) {
            result.duplicates += 1;
        } else {
            result.received += 1;
            result.latencies_us.push(at.saturating_duration_since(sent_at).as_micros() as u64);
        }
    };
    let deadline = last.unwrap_or_else(Instant::now) + DELIVERY_TIMEOUT;
    while result.received < result.created {
        let Some(event) = fleet.next(deadline) else { break };
        see(event, &mut result);
    }
    let linger = Instant::now() + LINGER;
    while let Some(event) = fleet.next(linger) {
        see(event, &mut result);
    }
    result.latencies_us.sort_unstable();
    result
}

/// What every sender thread shares: the schedule and where to send.
#[derive(Clone, Copy)]
struct Lane<'a> {
    addr: SocketAddr,
    admin: &'a str,
    /// First and last member id, inclusive.
    users: (i64, i64),
    total: usize,
    rate: f64,
    start: Instant,
}

impl Lane<'_> {
    /// Sends sequence numbers `index, index + SENDERS, …` at their due
    /// times on one keep-alive connection, reconnecting after an error.
    fn send(&self, index: usize) -> Vec<Sent> {
        let mut rng = Rng::seeded(index as u64);
        let mut client = Client::connect(self.addr, REQUEST_TIMEOUT).ok();
        let mut sends = Vec::with_capacity(self.total / SENDERS + 1);
        for seq in (index..self.total).step_by(SENDERS) {
            let due = self.start + Duration::from_secs_f64(seq as f64 / self.rate);
            thread::sleep(due.saturating_duration_since(Instant::now()));
            let user = rng.between(self.users.0, self.users.1);
            let body = format!(r#"{{"user_id":{user},"type":"bench","title":"rt-{seq}"}}"#);
            let at = Instant::now();
            let outcome = match client.as_mut() {
                Some(connection) => {
                    match connection.send("POST", "/api/v1/notifications", Some(self.admin), Some(&body)) {
                        Ok(response) if response.status == 201 => {
                            if response.closing {
                                client = None;
                            }
                            Ok(())
                        }
                        Ok(response) => Err(format!(
                            "HTTP {}: {}",
                            response.status,
                            response.text().chars().take(300).collect::<String>()
                        )),
                        Err(e) => {
                            client = None;
                            Err(e.to_string())
                        }
                    }
                }
                None => Err("no connection".to_owned()),
            };
            if client.is_none() {
                client = Client::connect(self.addr, REQUEST_TIMEOUT).ok();
            }
            sends.push(Sent { seq, user, due, at, outcome });
        }
        sends
    }
}
