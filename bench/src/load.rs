//! Closed-loop HTTP load: a fixed number of client threads, each on its own
//! keep-alive connection, each sending its next request as soon as the last
//! one is answered, for a fixed time. This is what pgbench does with `-c N`,
//! so herald's requests/s and pgbench's transactions/s compare directly.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::Client;

/// Per-request bound; a request slower than this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before reconnecting after an I/O error, so a dead server is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// One request to send; built per request so that each can pick a random user.
pub struct Request {
    pub method: &'static str,
    pub path: String,
    /// A bearer token; ignored when `cookie` is set.
    pub token: String,
    pub body: Option<String>,
    /// A web session cookie (`herald_session=…`) instead of the token.
    pub cookie: Option<String>,
}

/// How to drive one phase.
pub struct Plan {
    pub addr: SocketAddr,
    pub clients: usize,
    /// Requests before this are sent but not counted: connections open,
    /// herald's pool grows to its maximum, caches warm.
    pub warmup: Duration,
    pub duration: Duration,
    /// The status a successful request answers with.
    pub expect: u16,
}

/// What the counted window saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    /// Latency of each successful counted request, microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` (0..=1) in milliseconds, nearest rank.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        let Some(last) = self.latencies_us.len().checked_sub(1) else { return f64::NAN };
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).saturating_sub(1).min(last);
        f64::from(self.latencies_us[rank]) / 1000.0
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies_us.extend(other.latencies_us);
    }
}

/// A small xorshift64* generator: random users without a dependency, and
/// cheap enough not to show up next to a network round trip.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(stream: u64) -> Rng {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        // Never zero, which is xorshift's one fixed point.
        Rng((nanos ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `low..=high` (modulo bias is negligible for these ranges).
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low).max(0) as u64 + 1;
        low + (self.next() % span) as i64
    }
}

/// Runs `plan` with `make` building every request; returns the counted window.
pub fn run(plan: &Plan, make: &(dyn Fn(&mut Rng) -> Request + Sync)) -> Outcome {
    let started = Instant::now();
    let counted_from = started + plan.warmup;
    let until = counted_from + plan.duration;
    let total = Mutex::new(Outcome { window: plan.duration, ..Outcome::default() });
    thread::scope(|scope| {
        for index in 0..plan.clients {
            let total = &total;
            scope.spawn(move || {
                let mine = client_loop(plan, make, index as u64, counted_from, until);
                // A poisoned lock means another client panicked; its figures are lost anyway.
                if let Ok(mut total) = total.lock() {
                    total.merge(mine);
                }
            });
        }
    });
    let mut outcome = total.into_inner().unwrap_or_default();
    outcome.latencies_us.sort_unstable();
    outcome
}

fn client_loop(
    plan: &Plan,
    make: &(dyn Fn(&mut Rng) -> Request + Sync),
    index: u64,
    counted_from: Instant,
    until: Instant,
) -> Outcome {
    let mut rng = Rng::seeded(index);
    let mut mine = Outcome::default();
    let mut client: Option<Client> = None;
    let error = |mine: &mut Outcome, counted: bool, what: String| {
        if counted {
            mine.errors += 1;
            mine.first_error.get_or_insert(what);
        }
    };
    loop {
        let began = Instant::now();
        if began >= until {
            return mine;
        }
        let counted = began >= counted_from;
        let connection = match client.as_mut() {
            Some(connection) => connection,
            None => match Client::connect(plan.addr, REQUEST_TIMEOUT) {
                Ok(connection) => client.insert(connection),
                Err(e) => {
                    error(&mut mine, counted, format!("connect: {e}"));
                    thread::sleep(RECONNECT_PAUSE);
                    continue;
                }
            },
        };
        let request = make(&mut rng);
        let sent = match &request.cookie {
            Some(cookie) => connection.send_headers(request.method, &request.path, &[("Cookie", cookie)], None),
            None => connection.send(request.method, &request.path, Some(&request.token), request.body.as_deref()),
        };
        match sent {
            Ok(response) => {
                if response.closing {
                    client = None;
                }
                if response.status != plan.expect {
                    let text: String = response.text().chars().take(300).collect();
                    error(
                        &mut mine,
                        counted,
                        format!("{} {} -> HTTP {}: {text}", request.method, request.path, response.status),
                    );
                } else if counted {
                    mine.ok += 1;
                    let micros = began.elapsed().as_micros();
                    mine.latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                client = None;
                error(&mut mine, counted, format!("{} {}: {e}", request.method, request.path));
                thread::sleep(RECONNECT_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, Rng};
    use std::time::Duration;

    #[test]
    fn percentiles_use_nearest_rank() {
        let outcome = Outcome {
            ok: 100,
            window: Duration::from_secs(2),
            latencies_us: (1..=100).map(|ms| ms * 1000).collect(),
            ..Outcome::default()
        };
        assert_eq!(outcome.percentile_ms(0.5), 50.0);
        assert_eq!(outcome.percentile_ms(0.99), 99.0);
        assert_eq!(outcome.per_second(), 50.0);
        assert!(Outcome::default().percentile_ms(0.5).is_nan());
    }

    #[test]
    fn random_users_stay_in_range() {
        let mut rng = Rng::seeded(7);
        let draws: Vec<i64> = (0..10_000).map(|_| rng.between(2, 11)).collect();
        assert!(draws.iter().all(|d| (2..=11).contains(d)));
        assert!((2..=11).all(|v| draws.contains(&v)));
    }
}
