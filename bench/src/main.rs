//! herald's benchmark program.
//!
//! `bench <scenario> [--runs N] [--herald PATH]` runs one scenario against a
//! release build of herald and prints Markdown for BENCHMARKS.md on stdout;
//! progress and diagnostics go to stderr so stdout stays pasteable.
//!
//! Adding a scenario: write a module with `pub fn run(&Options) -> Result<(),
//! String>` and add one entry to [`SCENARIOS`].

mod herald;
mod http;
mod proc;
mod report;
mod startup;
mod stats;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Settings shared by all scenarios, parsed from the command line.
#[derive(Debug)]
pub struct Options {
    /// Repetitions per measured case; medians need several.
    pub runs: usize,
    /// Explicit herald binary; default is `herald` next to this executable.
    pub herald: Option<PathBuf>,
}

/// One benchmark scenario: its CLI name, a one-line description and entry point.
struct Scenario {
    name: &'static str,
    about: &'static str,
    run: fn(&Options) -> Result<(), String>,
}

/// Every scenario, in the order `--help` lists them.
const SCENARIOS: &[Scenario] = &[Scenario {
    name: "startup",
    about: "time to /readyz 200 and idle RSS, empty and existing database, SQLite and PostgreSQL",
    run: startup::run,
}];

const DEFAULT_RUNS: usize = 5;

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
    let mut options = Options { runs: DEFAULT_RUNS, herald: None };
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
            "--runs" => {
                let text = value("a number")?;
                options.runs = match text.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--runs must be a positive integer, not {text:?}")),
                };
            }
            "--herald" => options.herald = Some(PathBuf::from(value("a path")?)),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            _ if scenario.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => scenario = Some(arg),
        }
    }
    let scenario = scenario.ok_or("missing scenario name")?;
    Ok(Some((scenario, options)))
}

fn usage() -> String {
    let mut text = format!(
        "usage: bench <scenario> [--runs N] [--herald PATH]\n\n\
         --runs N       repetitions per case (default {DEFAULT_RUNS})\n\
         --herald PATH  herald binary (default: `herald` next to this executable;\n\
         \x20              build both with `cargo build --release`)\n\nscenarios:\n"
    );
    for scenario in SCENARIOS {
        text.push_str(&format!("  {:<12} {}\n", scenario.name, scenario.about));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_RUNS, parse};
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_flags_in_both_forms() {
        let (name, opts) =
            parse(&args(&["startup", "--runs", "3", "--herald=/x/herald"])).expect("valid").expect("not help");
        assert_eq!(name, "startup");
        assert_eq!(opts.runs, 3);
        assert_eq!(opts.herald.as_deref(), Some(std::path::Path::new("/x/herald")));
        let (_, opts) = parse(&args(&["startup"])).expect("valid").expect("not help");
        assert_eq!(opts.runs, DEFAULT_RUNS);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["startup", "--runs", "0"])).is_err());
        assert!(parse(&args(&["startup", "--runs"])).is_err());
        assert!(parse(&args(&["startup", "--nope"])).is_err());
        assert!(parse(&args(&["startup", "extra"])).is_err());
        assert!(parse(&args(&["--help"])).expect("help").is_none());
    }
}
