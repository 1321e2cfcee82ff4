//! Scenario `notifications`: the inbox under load, on PostgreSQL and SQLite.
//!
//! 1. create: 32 clients POST notifications for random members; herald's
//!    requests/s against pgbench running herald's own statement, and the
//!    same with a `pg_notify` in it (as herald ran before it batched its
//!    announcements: notifying transactions commit one at a time). 1b: the
//!    same with every client writing to one member's inbox.
//! 2. unread list: 32 clients GET a random member's unread page over a
//!    seeded inbox; against pgbench running herald's SELECT; then p99
//!    latency at 4 clients.
//! 3. announcement: one POST fanning out to every member; against the same
//!    SQL run directly (psql, or python3's sqlite3).
//!
//! Each part gets a fresh database seeded with plain SQL (herald stopped,
//! then restarted), so no part's rows skew another's and seeding costs no
//! herald time. Baselines run on the same database between herald's rounds,
//! so both see the same data and the same machine noise.

mod pg;
mod phases;
mod results;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::PgCluster;

use crate::Options;
use crate::cluster;
use crate::herald::{self, Herald, Launch};
use crate::proc::TempDir;
use pg::PgDb;
use results::Results;

/// Notification text used by herald's requests and the baselines alike
/// (no quotes: it is spliced into SQL literals).
pub const TEXT_TITLE: &str = "Scheduled maintenance";
pub const TEXT_BODY: &str = "The service is read-only from 22:00 to 22:30 UTC tonight.";

pub const DEFAULT_USERS: u64 = 10_000;
pub const DEFAULT_PER_USER: u64 = 100;
pub const DEFAULT_ANNOUNCE_USERS: u64 = 100_000;
pub const DEFAULT_SECONDS: u64 = 15;
/// Rounds of each throughput phase and announcements per side.
pub const DEFAULT_RUNS: usize = 3;
/// Long seeds and migrations on a busy machine; generous on purpose.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Scenario sizes; all overridable for a quick smoke run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub users: u64,
    pub per_user: u64,
    pub announce_users: u64,
    pub duration: Duration,
    pub runs: usize,
}

impl Sizes {
    fn from(options: &Options) -> Sizes {
        Sizes {
            users: options.users.unwrap_or(DEFAULT_USERS),
            per_user: options.per_user.unwrap_or(DEFAULT_PER_USER),
            announce_users: options.announce_users.unwrap_or(DEFAULT_ANNOUNCE_USERS),
            duration: Duration::from_secs(options.seconds.unwrap_or(DEFAULT_SECONDS)),
            runs: options.runs.unwrap_or(DEFAULT_RUNS),
        }
    }
}

/// What to put in a fresh database besides herald's admin.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    pub users: u64,
    /// Notifications per member; notification_seq is set to match.
    pub per_user: u64,
    /// Token `bench-<id>` for every member.
    pub tokens: bool,
}

/// The seeded members: ids `first..=last` (contiguous, fresh database).
#[derive(Debug, Clone, Copy)]
pub struct Members {
    pub first: i64,
    pub last: i64,
}

impl Members {
    /// "first<sep>last<sep>count" as the seeding query prints it.
    fn parse(text: &str, sep: char) -> Result<Members, String> {
        let numbers: Vec<i64> = text.trim().split(sep).filter_map(|n| n.trim().parse().ok()).collect();
        match numbers[..] {
            [first, last, count] if count == last - first + 1 && count > 0 => Ok(Members { first, last }),
            _ => Err(format!("seeding left unexpected members (min, max, count): {text:?}")),
        }
    }

    pub fn count(&self) -> u64 {
        (self.last - self.first + 1) as u64
    }
}

/// Which database a rig uses.
#[derive(Clone, Copy)]
pub enum Backend<'a> {
    Postgres(&'a PgCluster),
    Sqlite,
}

impl Backend<'_> {
    /// The name used in progress lines and report rows.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// A fresh database in a backend, once herald has migrated it.
enum Store<'a> {
    Postgres(PgDb<'a>),
    /// herald's `<data dir>/herald.db`.
    Sqlite(PathBuf),
}

/// A herald serving one fresh, seeded database, with what requests need.
pub struct Rig<'a> {
    pub herald: Herald,
    pub admin: String,
    store: Store<'a>,
    pub members: Members,
    /// The cluster's postmaster, for CPU accounting (PostgreSQL only).
    pub postmaster: Option<u32>,
    /// How herald was started, for [`Rig::peer`].
    binary: PathBuf,
    database_url: Option<String>,
    scratch: TempDir,
}

impl<'a> Rig<'a> {
    /// Fresh database → herald migrates it and prints the admin token →
    /// herald stops → seed → herald starts again on the seeded data.
    pub fn new(binary: &Path, backend: Backend<'a>, seed: &Seed) -> Result<Rig<'a>, String> {
        let scratch = TempDir::new("herald-bench-notifications")?;
        let data_dir = scratch.path().join("data");
        std::fs::create_dir(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let log = scratch.path().join("herald.log");
        let (store, url) = match backend {
            Backend::Postgres(cluster) => {
                let url = cluster.create_database()?;
                let name = url.rsplit('/').next().unwrap_or_default().to_owned();
                (Store::Postgres(PgDb { cluster, name }), Some(url))
            }
            Backend::Sqlite => (Store::Sqlite(data_dir.join("herald.db")), None),
        };
        let launch = Launch {
            binary,
            data_dir: &data_dir,
            database_url: url.as_deref(),
            log: &log,
            production: true,
            settings: &[],
        };
        let start = || -> Result<Herald, String> {
            let mut herald = Herald::spawn(&launch)?;
            herald.wait_ready(READY_TIMEOUT)?;
            Ok(herald)
        };
        let first = start()?;
        let admin = first.admin_token()?;
        stop(first)?;
        eprintln!("  seeding {} members × {} notifications...", seed.users, seed.per_user);
        let members = match &store {
            Store::Postgres(db) => db.seed(seed)?,
            Store::Sqlite(file) => sqlite::seed(file, seed)?,
        };
        let herald = start()?;
        let postmaster = match backend {
            Backend::Postgres(cluster) => crate::cpu::postmaster(cluster.port()),
            Backend::Sqlite => None,
        };
        let (binary, database_url) = (binary.to_path_buf(), url);
        Ok(Rig { herald, admin, store, members, postmaster, binary, database_url, scratch })
    }

    /// A second herald on the same PostgreSQL database (its own data
    /// directory and log), ready: events cross between the two only
    /// through the database.
    pub fn peer(&self) -> Result<Herald, String> {
        let url = self.database_url.as_deref().ok_or("a peer needs PostgreSQL")?;
        let data_dir = self.scratch.path().join("peer-data");
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let log = self.scratch.path().join("peer.log");
        let launch = Launch {
            binary: &self.binary,
            data_dir: &data_dir,
            database_url: Some(url),
            log: &log,
            production: true,
            settings: &[],
        };
        let mut herald = Herald::spawn(&launch)?;
        herald.wait_ready(READY_TIMEOUT)?;
        Ok(herald)
    }

    pub fn backend(&self) -> &'static str {
        match self.store {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// Stops herald; an unclean exit is an error worth seeing, not a figure.
    pub fn finish(self) -> Result<(), String> {
        stop(self.herald)
    }
}

fn stop(herald: Herald) -> Result<(), String> {
    let pid = herald.pid();
    let status = herald.stop()?;
    if status.success() { Ok(()) } else { Err(format!("herald (pid {pid}) ended with {status} after SIGTERM")) }
}

pub fn run(options: &Options) -> Result<(), String> {
    let sizes = Sizes::from(options);
    let binary = herald::locate(options.herald.as_deref())?;
    let mut results = Results::new(sizes);
    results.context.push(format!("- herald: `{}` (HERALD_ENV=production: pool max 20)", binary.display()));

    let have_pg = ["initdb", "postgres", "psql", "pgbench"].iter().all(|b| PgCluster::bin(b).is_some());
    if have_pg {
        let started = cluster::start(options)?;
        let cluster = started.pg;
        results.context.push(format!(
            "- postgres: {}, shared_buffers 128MB; baseline pgbench \
             `-c N -j 2 -T {} -n` (simple protocol) and psql",
            started.described,
            sizes.duration.as_secs()
        ));
        all_parts(&binary, Backend::Postgres(&cluster), &sizes, &mut results)?;
    } else {
        results.context.push("- postgres: SKIPPED, initdb/postgres/psql/pgbench not all found".to_owned());
    }
    if sqlite::available() {
        results.context.push(
            "- sqlite: herald's WAL file; no pgbench equivalent, so parts 1–2 have no baseline; part 3's baseline \
             is the same SQL through python3's sqlite3"
                .to_owned(),
        );
        all_parts(&binary, Backend::Sqlite, &sizes, &mut results)?;
    } else {
        results.context.push("- sqlite: SKIPPED, python3 with sqlite3 not found (needed to seed)".to_owned());
    }
    println!("{}", results.render());
    Ok(())
}

/// The three parts on one backend, each on its own fresh database.
fn all_parts(binary: &Path, backend: Backend<'_>, sizes: &Sizes, results: &mut Results) -> Result<(), String> {
    let name = backend.name();
    eprintln!("{name} / 1 create:");
    let rig = Rig::new(binary, backend, &Seed { users: sizes.users, per_user: 0, tokens: false })?;
    phases::create(&rig, sizes, results)?;
    rig.finish()?;

    eprintln!("{name} / 2 unread list:");
    let rig = Rig::new(binary, backend, &Seed { users: sizes.users, per_user: sizes.per_user, tokens: true })?;
    phases::list(&rig, sizes, results)?;
    rig.finish()?;

    eprintln!("{name} / 3 announcement:");
    let rig = Rig::new(binary, backend, &Seed { users: sizes.announce_users, per_user: 0, tokens: false })?;
    phases::announce(&rig, sizes, results)?;
    rig.finish()
}
