//! herald's benchmark program.
//!
//! `bench <scenario> [options]` runs one scenario against a release build of
//! herald and prints Markdown for BENCHMARKS.md on stdout; progress and
//! diagnostics go to stderr so stdout stays pasteable.
//!
//! Adding a scenario: write a module with `pub fn run(&Options) -> Result<(),
//! String>` and add one entry to [`SCENARIOS`].

mod cluster;
mod cpu;
mod herald;
mod http;
mod load;
mod monitoring;
mod nginx;
mod notifications;
mod proc;
mod realtime;
mod report;
mod startup;
mod stats;
mod web;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Settings shared by all scenarios, parsed from the command line. `None`
/// means "the scenario's default": a sensible number of repetitions differs
/// between a 50 ms start and a 15 s load phase.
#[derive(Debug, Default)]
pub struct Options {
    /// Repetitions per measured case; medians need several.
    pub runs: Option<usize>,
    /// Explicit herald binary; default is `herald` next to this executable.
    pub herald: Option<PathBuf>,
    /// Length of each load phase (notifications); of the latency sending
    /// and the idle CPU window (realtime).
    pub seconds: Option<u64>,
    /// Members for the create and list parts (notifications).
    pub users: Option<u64>,
    /// Seeded notifications per member for the list part (notifications).
    pub per_user: Option<u64>,
    /// Members an announcement goes to (notifications).
    pub announce_users: Option<u64>,
    /// Idle sockets, which the announcements also go to (realtime).
    pub sockets: Option<u64>,
    /// Subscribed sockets in the latency part (realtime).
    pub latency_sockets: Option<u64>,
    /// Notifications created per second in the latency part (realtime).
    pub rate: Option<u64>,
    /// Only the ceiling part (monitoring).
    pub ceiling_only: bool,
    /// Only this backend, `postgres` or `sqlite` (monitoring).
    pub backend: Option<String>,
    /// Start the ceiling at this many services at 10 s (monitoring).
    pub ceiling_from: Option<u64>,
    /// Only the from-the-first-minute part (monitoring).
    pub first_minutes: bool,
    /// Minutes read per run in that part (monitoring).
    pub minutes: Option<u64>,
    /// Run PostgreSQL with fsync off (the test suite's setting) instead of
    /// its default durability; such figures are labelled and count for no goal.
    pub unsafe_fast: bool,
}

/// One benchmark scenario: its CLI name, a one-line description and entry point.
struct Scenario {
    name: &'static str,
    about: &'static str,
    run: fn(&Options) -> Result<(), String>,
}

/// Every scenario, in the order `--help` lists them.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "startup",
        about: "time to /readyz 200 and idle RSS, empty and existing database, SQLite and PostgreSQL",
        run: startup::run,
    },
    Scenario {
        name: "notifications",
        about: "inbox create and unread-list throughput vs pgbench, list p99, announcement fan-out vs direct SQL",
        run: notifications::run,
    },
    Scenario {
        name: "monitoring",
        about: "HTTP checks persisted: checks/s vs scheduled, lag p99, CPU per check, RSS per service, bytes per check, ceiling",
        run: monitoring::run,
    },
    Scenario {
        name: "web",
        about: "the web app at 10 000 services: server p50/p99 of / and a service page at 4 clients, bytes, first paint and load in Chromium",
        run: web::run,
    },
    Scenario {
        name: "realtime",
        about: "WebSocket push: RSS and CPU per idle socket, create→receive p99, announcement to every socket",
        run: realtime::run,
    },
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let (name, options) = match parse(&args[1..]) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("bench: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let Some(scenario) = SCENARIOS.iter().find(|s| s.name == name) else {
        eprint!("bench: unknown scenario {name:?}\n\n{}", usage());
        return ExitCode::from(2);
    };
    println!("{}", report::header(scenario.name, &args).trim_end());
    match (scenario.run)(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the arguments after the program name. `Ok(None)` means help was asked for.
fn parse(args: &[OsString]) -> Result<Option<(String, Options)>, String> {
    let mut scenario = None;
    let mut options = Options::default();
    let mut rest = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = rest.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value =
            |what: &str| inline.clone().or_else(|| rest.next()).ok_or_else(|| format!("{flag} needs {what}"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--runs" => options.runs = Some(positive(&flag, &value("a number")?)? as usize),
            "--seconds" => options.seconds = Some(positive(&flag, &value("a number")?)?),
            "--users" => options.users = Some(positive(&flag, &value("a number")?)?),
            "--per-user" => options.per_user = Some(positive(&flag, &value("a number")?)?),
            "--announce-users" => options.announce_users = Some(positive(&flag, &value("a number")?)?),
            "--sockets" => options.sockets = Some(positive(&flag, &value("a number")?)?),
            "--latency-sockets" => options.latency_sockets = Some(positive(&flag, &value("a number")?)?),
            "--rate" => options.rate = Some(positive(&flag, &value("a number")?)?),
            "--herald" => options.herald = Some(PathBuf::from(value("a path")?)),
            "--ceiling-only" => options.ceiling_only = true,
            "--unsafe-fast" => options.unsafe_fast = true,
            "--first-minutes" => options.first_minutes = true,
            "--minutes" => options.minutes = Some(positive(&flag, &value("a number")?)?),
            "--ceiling-from" => options.ceiling_from = Some(positive(&flag, &value("a number")?)?),
            "--backend" => match value("postgres or sqlite")?.as_str() {
                b @ ("postgres" | "sqlite") => options.backend = Some(b.to_owned()),
                other => return Err(format!("--backend must be postgres or sqlite, not {other:?}")),
            },
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            _ if scenario.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => scenario = Some(arg),
        }
    }
    let scenario = scenario.ok_or("missing scenario name")?;
    Ok(Some((scenario, options)))
}

/// A positive integer flag value.
fn positive(flag: &str, text: &str) -> Result<u64, String> {
    match text.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} must be a positive integer, not {text:?}")),
    }
}

fn usage() -> String {
    let mut text = format!(
        "usage: bench <scenario> [--runs N] [--herald PATH] [scenario options]\n\n\
         --runs N       repetitions per case (default: startup {}, notifications {}, realtime {})\n\
         --herald PATH  herald binary (default: `herald` next to this executable;\n\
         \x20              build both with `cargo build --release`)\n\
         --unsafe-fast  PostgreSQL with fsync off (the tests' setting) instead of its default\n\
         \x20              durability; such figures are labelled and count for no goal\n\n\
         notifications options (defaults are the issue's sizes):\n\
         --seconds N         length of each load phase (default {})\n\
         --users N           members for create and unread list (default {})\n\
         --per-user N        seeded notifications per member (default {})\n\
         --announce-users N  members an announcement goes to (default {})\n\n\
         realtime options (defaults are the issue's sizes):\n\
         --sockets N          idle sockets, also the announcements' recipients (default {})\n\
         --latency-sockets N  subscribed sockets in the latency part (default {})\n\
         --rate N             notifications per second in the latency part (default {})\n\
         --seconds N          latency sending time and idle CPU window (default {})\n\n\
         monitoring options:\n\
         --users N            one steady size of N services instead of 1 000 and 10 000, no ceiling (smoke run)\n\
         --ceiling-only       only the ceiling part\n\
         --ceiling-from N     start the ceiling at N services at 10 s (steps: 10 000, 20 000, 40 000, 50 000, 60 000, 80 000)\n\
         --backend B          only `postgres` or `sqlite`\n\
         --first-minutes      only the check cost from the first minute (1 000, 2 000, 10 000 services at 10 s,\n\
         \x20                    against nginx and the bench's target; --users N for one size)\n\
         --minutes N          minutes read per run in --first-minutes (default {})\n\
         --seconds N          steady measuring window (default {})\n\nscenarios:\n",
        startup::DEFAULT_RUNS,
        notifications::DEFAULT_RUNS,
        realtime::DEFAULT_RUNS,
        notifications::DEFAULT_SECONDS,
        notifications::DEFAULT_USERS,
        notifications::DEFAULT_PER_USER,
        notifications::DEFAULT_ANNOUNCE_USERS,
        realtime::DEFAULT_SOCKETS,
        realtime::DEFAULT_LATENCY_SOCKETS,
        realtime::DEFAULT_RATE,
        realtime::DEFAULT_SECONDS,
        monitoring::DEFAULT_WINDOW,
        monitoring::DEFAULT_MINUTES,
    );
    for scenario in SCENARIOS {
        text.push_str(&format!("  {:<14} {}\n", scenario.name, scenario.about));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_flags_in_both_forms() {
        let (name, opts) =
            parse(&args(&["startup", "--runs", "3", "--herald=/x/herald"])).expect("valid").expect("not help");
        assert_eq!(name, "startup");
        assert_eq!(opts.runs, Some(3));
        assert_eq!(opts.herald.as_deref(), Some(std::path::Path::new("/x/herald")));
        let (_, opts) = parse(&args(&["startup"])).expect("valid").expect("not help");
        assert_eq!(opts.runs, None);
        let (_, opts) =
            parse(&args(&["notifications", "--seconds=2", "--users", "50", "--per-user", "4", "--announce-users=9"]))
                .expect("valid")
                .expect("not help");
        assert_eq!(
            (opts.seconds, opts.users, opts.per_user, opts.announce_users),
            (Some(2), Some(50), Some(4), Some(9))
        );
        let (_, opts) = parse(&args(&["realtime", "--sockets=200", "--latency-sockets", "50", "--rate", "20"]))
            .expect("valid")
            .expect("not help");
        assert_eq!((opts.sockets, opts.latency_sockets, opts.rate), (Some(200), Some(50), Some(20)));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["startup", "--runs", "0"])).is_err());
        assert!(parse(&args(&["startup", "--runs"])).is_err());
        assert!(parse(&args(&["startup", "--nope"])).is_err());
        assert!(parse(&args(&["startup", "extra"])).is_err());
        assert!(parse(&args(&["notifications", "--seconds", "0"])).is_err());
        assert!(parse(&args(&["--help"])).expect("help").is_none());
    }
}
