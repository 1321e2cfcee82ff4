//! Where the CPU time goes during a measured phase: herald, the database
//! server, the load generator (this process, or pgbench as its child) and
//! everything else on the machine, from `/proc` counters read before and
//! after. On a 2-CPU machine shared by all of them this is what explains a
//! throughput ratio. Linux-specific.

use std::fs;
use std::time::Instant;

use crate::proc::command_output;

/// Kernel clock ticks (USER_HZ) of one process from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, Default)]
struct Ticks {
    ppid: u32,
    /// utime + stime.
    own: u64,
    /// cutime + cstime: children that exited and were waited for.
    reaped: u64,
}

fn ticks(pid: &str) -> Option<Ticks> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<u64> = rest.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // After the state: ppid is field 4 of the man page, utime..cstime 14..17.
    let field = |n: usize| fields.get(n - 4).copied();
    Some(Ticks { ppid: u32::try_from(field(4)?).ok()?, own: field(14)? + field(15)?, reaped: field(16)? + field(17)? })
}

/// The postmaster listening on `port`: the `postgres` process whose
/// command line has `-p <port>` (testkit starts it that way).
pub fn postmaster(port: u16) -> Option<u32> {
    let port = port.to_string();
    let entries = fs::read_dir("/proc").ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_postgres = argv.first().is_some_and(|a| a.ends_with(b"postgres"));
        let on_port = argv.windows(2).any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
        (is_postgres && on_port).then_some(pid)
    })
}

/// CPU of a whole PostgreSQL cluster: the postmaster, its live backends and
/// the backends that already exited (counted in the postmaster's reaped time).
fn cluster_ticks(postmaster: u32) -> u64 {
    let root = ticks(&postmaster.to_string()).unwrap_or_default();
    let Ok(entries) = fs::read_dir("/proc") else { return root.own + root.reaped };
    let live: u64 = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(ticks))
        .filter(|t| t.ppid == postmaster)
        .map(|t| t.own)
        .sum();
    root.own + root.reaped + live
}

/// Busy and total ticks of all CPUs from the first line of `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait are the 4th and 5th values.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    herald: u64,
    database: u64,
    this: Ticks,
    busy: u64,
}

/// Snapshots one phase's processes: `herald` and `postmaster` may be absent.
pub fn snapshot(herald: Option<u32>, postmaster: Option<u32>) -> Snapshot {
    let herald = herald.and_then(|pid| ticks(&pid.to_string())).map(|t| t.own).unwrap_or(0);
    let database = postmaster.map(cluster_ticks).unwrap_or(0);
    let this = ticks("self").unwrap_or_default();
    Snapshot { at: Instant::now(), herald, database, this, busy: machine_ticks().0 }
}

/// CPU used between two snapshots, in percent of one CPU (the machine has
/// `nproc` × 100 %).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub herald: f64,
    pub database: f64,
    /// This process's threads plus children it reaped (pgbench, psql).
    pub load: f64,
    /// Everything else that kept a CPU busy: other users of the machine.
    pub other: f64,
}

impl Usage {
    pub fn between(before: &Snapshot, after: &Snapshot) -> Usage {
        let hz = clock_ticks_per_second();
        let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let pct = |ticks: u64| ticks as f64 / hz / seconds * 100.0;
        let herald = after.herald.saturating_sub(before.herald);
        let database = after.database.saturating_sub(before.database);
        let load = (after.this.own + after.this.reaped).saturating_sub(before.this.own + before.this.reaped);
        let busy = after.busy.saturating_sub(before.busy);
        let other = busy.saturating_sub(herald + database + load);
        Usage { herald: pct(herald), database: pct(database), load: pct(load), other: pct(other) }
    }
}

/// USER_HZ, the unit of `/proc` CPU times; 100 on every common Linux.
fn clock_ticks_per_second() -> f64 {
    command_output("getconf", &["CLK_TCK"]).and_then(|t| t.parse().ok()).unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::{Usage, snapshot, ticks};

    #[test]
    fn reads_own_counters() {
        let me = ticks("self").expect("own /proc stat");
        assert!(me.ppid > 0);
        let before = snapshot(Some(std::process::id()), None);
        let spin = std::time::Instant::now();
        while spin.elapsed().as_millis() < 50 {
            std::hint::black_box(0);
        }
        let usage = Usage::between(&before, &snapshot(Some(std::process::id()), None));
        assert!(usage.herald >= 0.0 && usage.load >= 0.0 && usage.database == 0.0);
    }
}
