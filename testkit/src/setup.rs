//! Preparing a cluster directory and launching the server under a
//! watchdog shell; see the crate docs for why the launcher exists.

use std::fs::DirBuilder;
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bins;

/// Launcher run as `sh -c LAUNCHER sh <dir> <postgres argv...>`.
///
/// * `trap` makes the launcher ignore the signals a terminal or a test runner
///   sends to the whole process group, so it survives long enough to clean
///   up; PostgreSQL installs its own handlers and is unaffected.
/// * `read _` blocks until our end of the stdin pipe is closed.
/// * SIGINT is PostgreSQL's "fast shutdown": roll back and exit promptly.
const LAUNCHER: &str = r#"dir=$1; shift
trap '' HUP INT TERM
"$@" >"$dir/postgres.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/launcher.pid"
read _ || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// Settings applied to every cluster: loopback only, no durability, enough
/// connections for parallel tests with their own pools.
const BASE_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "127.0.0.1"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "400"),
    ("shared_buffers", "128MB"),
];

/// Like [`bins::find`], with an error that says what to install.
pub(crate) fn require_bin(name: &str) -> Result<PathBuf, String> {
    bins::find(name).ok_or_else(|| {
        format!(
            "PostgreSQL binary `{name}` not found on PATH or in /usr/lib/postgresql/*/bin; \
             install PostgreSQL (e.g. apt-get install postgresql) to run these tests"
        )
    })
}

/// Nanoseconds since the epoch, for unique names.
pub(crate) fn nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Creates `<tmp>/herald-pg-<pid>-<nanos>` with a `sock/` inside, both
/// private (mode 0700): the server's socket and data are nobody else's.
pub(crate) fn make_temp_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("herald-pg-{}-{}", std::process::id(), nanos()));
    let mut builder = DirBuilder::new();
    builder.mode(0o700);
    builder
        .create(&dir)
        .and_then(|()| builder.create(dir.join("sock")))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Hands the directory to the `postgres` user when we are root, then runs
/// `initdb` into `<dir>/data`, quoting its output on failure.
pub(crate) fn prepare_data_dir(dir: &Path, initdb: &Path, as_root: bool) -> Result<(), String> {
    if as_root {
        let owner = format!("{0}:{0}", bins::POSTGRES_USER);
        run_quiet(Command::new("chown").arg("-R").arg(&owner).arg(dir), "chown")?;
    }
    let data = dir.join("data");
    let mut args = vec![std::ffi::OsString::from("-D"), data.into_os_string()];
    for flag in ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"] {
        args.push(flag.into());
    }
    let argv = bins::owner_argv(initdb, args, as_root)?;
    // The cluster directory as cwd: root's cwd may be unreadable for `postgres`.
    run_quiet(Command::new(&argv[0]).args(&argv[1..]).current_dir(dir), "initdb")
}

/// Runs a set-up command with captured output, which is only shown on failure.
fn run_quiet(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// A port that was free a moment ago: bind to port 0, let the kernel choose,
/// release it. Racy in theory, reliable in practice for test clusters.
pub(crate) fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot pick a free port: {e}"))
}

/// Starts `sh -c LAUNCHER` with the server command line; the returned child
/// has its stdin piped, and closing that pipe shuts the server down.
pub(crate) fn spawn_launcher(
    dir: &Path,
    postgres: &Path,
    port: u16,
    settings: &[(&str, &str)],
    as_root: bool,
) -> Result<Child, String> {
    let mut server_args = vec![
        "-D".to_owned(),
        dir.join("data").display().to_string(),
        "-p".to_owned(),
        port.to_string(),
        "-k".to_owned(),
        dir.join("sock").display().to_string(),
    ];
    for (key, value) in BASE_SETTINGS.iter().chain(settings) {
        server_args.push("-c".to_owned());
        server_args.push(format!("{key}={value}"));
    }
    let argv = bins::owner_argv(postgres, &server_args, as_root)?;
    Command::new("sh")
        .arg("-c")
        .arg(LAUNCHER)
        .arg("sh")
        .arg(dir)
        .args(&argv)
        .current_dir(dir)
        .stdin(Stdio::piped())
        // Nothing useful is printed, and an inherited stdout pipe would keep
        // a reader of this process's output waiting until clean-up ends.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot spawn the sh launcher for postgres: {e}"))
}
