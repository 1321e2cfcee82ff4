//! Parts 1 and 3, idle sockets and announcements, on a ready [`Rig`] whose
//! members are the sockets' users (part 2 is in `latency`).

use std::thread;
use std::time::{Duration, Instant};

use super::Sizes;
use super::client::{Event, Fleet};
use crate::cpu::{self, Usage};
use crate::http::Client;
use crate::notifications::Rig;
use crate::proc;

/// herald settles after start-up before the "before" RSS is read.
pub(super) const SETTLE: Duration = Duration::from_secs(2);
/// Quiet between the last subscription and the "after" RSS reading.
const QUIET: Duration = Duration::from_secs(10);
/// Bound for opening and subscribing a whole fleet.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound for any single HTTP request.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a created notification may take to arrive before it counts as lost.
pub(super) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra wait after the last expected message: a duplicate would come
/// right behind the first copy.
pub(super) const LINGER: Duration = Duration::from_millis(500);
/// Pause between announcements, so each starts on a quiet server.
const PAUSE: Duration = Duration::from_secs(2);

/// Part 1's readings.
pub struct Idle {
    pub sockets: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub ramp_up: Duration,
    /// The requested window (`--seconds`) and, right after it, whole ping
    /// periods: the steady state the first one may over- or understate.
    pub window: Window,
    pub steady: Window,
}

/// CPU over one idle window.
pub struct Window {
    pub length: Duration,
    pub usage: Usage,
    /// Server pings the clients received (and answered) meanwhile.
    pub pings: u64,
}

/// Part 1: RSS with no sockets, open and subscribe the fleet, RSS after a
/// quiet spell, then CPU over an idle window. Returns the fleet, still
/// connected, for the announcements.
pub fn idle(rig: &Rig<'_>, sizes: &Sizes) -> Result<(Idle, Fleet), String> {
    let pid = rig.herald.pid();
    thread::sleep(SETTLE);
    let rss_before_kib = proc::rss_kib(pid)?;
    let count = sizes.sockets as usize;
    eprintln!("  opening {count} sockets...");
    let fleet = Fleet::connect(rig.herald.addr(), rig.members.first, count, CONNECT_TIMEOUT)
        .map_err(|e| rig.herald.failure(&e))?;
    eprintln!("  {count} sockets subscribed in {:.1} s; {} s quiet...", fleet.ramp_up.as_secs_f64(), QUIET.as_secs());
    thread::sleep(QUIET);
    expect_quiet(rig, &fleet, "the quiet before the RSS reading")?;
    let rss_after_kib = proc::rss_kib(pid)?;
    eprintln!(
        "  RSS {rss_before_kib} → {rss_after_kib} KiB ({:.0} B per socket)",
        (rss_after_kib.saturating_sub(rss_before_kib) * 1024) as f64 / count as f64,
    );
    let window = cpu_window(rig, &fleet, sizes.duration)?;
    // Sockets opened within a few seconds are pinged in bursts one period
    // apart, so only a whole number of periods holds the average number.
    let periods = (sizes.duration.as_secs_f64() / sizes.ping.as_secs_f64()).round().max(1.0) as u32;
    let steady = cpu_window(rig, &fleet, sizes.ping * periods)?;
    let idle = Idle { sockets: count, rss_before_kib, rss_after_kib, ramp_up: fleet.ramp_up, window, steady };
    Ok((idle, fleet))
}

/// herald's CPU while the fleet sits idle for `length`.
fn cpu_window(rig: &Rig<'_>, fleet: &Fleet, length: Duration) -> Result<Window, String> {
    let pid = rig.herald.pid();
    let pings_before = fleet.pings();
    let before = cpu::snapshot(Some(pid), rig.postmaster);
    thread::sleep(length);
    let usage = Usage::between(&before, &cpu::snapshot(Some(pid), rig.postmaster));
    let pings = fleet.pings() - pings_before;
    expect_quiet(rig, fleet, "an idle CPU window")?;
    eprintln!("  idle {} s: herald {:.2} % of one core, {pings} pings", length.as_secs(), usage.herald);
    Ok(Window { length, usage, pings })
}

/// An idle fleet must have nothing to say: any event is a socket that was
/// dropped or a message nobody sent.
fn expect_quiet(rig: &Rig<'_>, fleet: &Fleet, when: &str) -> Result<(), String> {
    let events = fleet.drain();
    match events.first() {
        None => Ok(()),
        Some(first) => {
            Err(rig.herald.failure(&format!("{} socket events during {when}; first: {first}", events.len())))
        }
    }
}

/// One announcement's readings.
pub struct Announcement {
    /// From just before the POST until the first socket had it: with
    /// `post_ms`, how long the database took and when delivery started.
    pub first_ms: f64,
    /// From just before the POST until the last socket had it.
    pub last_ms: f64,
    /// From just before the POST until its response.
    pub post_ms: f64,
    pub exactly_once: usize,
    pub missing: usize,
    pub duplicated: usize,
    /// Messages other than this announcement, and sockets that ended.
    pub stray: usize,
    pub first_stray: Option<String>,
    pub usage: Usage,
}

/// Part 3: [`Sizes::runs`] announcements to role member, each timed until
/// the last socket has its `notification:new`.
pub fn announce(rig: &Rig<'_>, fleet: &Fleet, sizes: &Sizes) -> Result<Vec<Announcement>, String> {
    let mut runs = Vec::new();
    for round in 1..=sizes.runs {
        thread::sleep(PAUSE);
        expect_quiet(rig, fleet, "the pause before an announcement")?;
        let title = format!("bench-announcement-{round}");
        let body = format!(r#"{{"audience":{{"role":"member"}},"type":"system","title":"{title}"}}"#);
        let mut client = Client::connect(rig.herald.addr(), REQUEST_TIMEOUT).map_err(|e| e.to_string())?;
        let before = cpu::snapshot(Some(rig.herald.pid()), rig.postmaster);
        let started = Instant::now();
        let response = client
            .send("POST", "/api/v1/announcements", Some(&rig.admin), Some(&body))
            .map_err(|e| rig.herald.failure(&format!("announcement: {e}")))?;
        let post_ms = started.elapsed().as_secs_f64() * 1000.0;
        if response.status != 201 {
            let why = format!("announcement answered HTTP {}: {}", response.status, response.text());
            return Err(rig.herald.failure(&why));
        }
        let mut tally =
            Tally { counts: vec![0; fleet.count], reached: 0, first: None, last: started, stray: 0, first_stray: None };
        let deadline = started + DELIVERY_TIMEOUT;
        while tally.reached < fleet.count {
            let Some(event) = fleet.next(deadline) else { break };
            tally.see(event, &title);
        }
        let usage = Usage::between(&before, &cpu::snapshot(Some(rig.herald.pid()), rig.postmaster));
        let linger = Instant::now() + LINGER;
        while let Some(event) = fleet.next(linger) {
            tally.see(event, &title);
        }
        let ms = |at: Instant| at.duration_since(started).as_secs_f64() * 1000.0;
        let run = Announcement {
            first_ms: tally.first.map_or(f64::NAN, ms),
            last_ms: ms(tally.last),
            post_ms,
            exactly_once: tally.counts.iter().filter(|&&c| c == 1).count(),
            missing: tally.counts.iter().filter(|&&c| c == 0).count(),
            duplicated: tally.counts.iter().filter(|&&c| c > 1).count(),
            stray: tally.stray,
            first_stray: tally.first_stray,
            usage,
        };
        eprintln!(
            "  announcement {round}/{}: POST {:.0} ms, first socket {:.0} ms, last socket {:.0} ms; {} exactly once, \
             {} missing, {} duplicated, {} stray",
            sizes.runs,
            run.post_ms,
            run.first_ms,
            run.last_ms,
            run.exactly_once,
            run.missing,
            run.duplicated,
            run.stray
        );
        runs.push(run);
    }
    Ok(runs)
}

/// Copies of one announcement per socket.
struct Tally {
    counts: Vec<u32>,
    /// Sockets with at least one copy.
    reached: usize,
    /// When the earliest copy arrived.
    first: Option<Instant>,
    /// When the most recent first copy arrived.
    last: Instant,
    stray: usize,
    first_stray: Option<String>,
}

impl Tally {
    fn see(&mut self, event: Event, title: &str) {
        match event {
            Event::New { socket, title: got, at, .. } if got == title && socket < self.counts.len() => {
                self.counts[socket] += 1;
                if self.counts[socket] == 1 {
                    self.reached += 1;
                    self.first = Some(self.first.map_or(at, |first| first.min(at)));
                    self.last = self.last.max(at);
                }
            }
            other => {
                self.stray += 1;
                self.first_stray.get_or_insert_with(|| other.to_string());
            }
        }
    }
}
