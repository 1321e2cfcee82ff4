//! Process and OS helpers shared by scenarios: ports, memory, signals,
//! scratch directories. Linux-specific where `/proc` is read.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A loopback port that was free a moment ago (bind port 0, release it).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot pick a free port: {e}"))
}

/// Resident set size of `pid` in KiB, from the `VmRSS` line of
/// `/proc/<pid>/status` (what `ps` and `top` report as RSS).
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("no VmRSS line in {path}"))
}

/// Sends a signal by name (`TERM`, `INT`, ...) with `kill(1)`; std has no
/// safe signal API and this crate takes no dependencies.
pub fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("kill -{signal} {pid} failed ({status})")) }
}

/// Waits up to `timeout` for `child` to exit; `Ok(None)` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if Instant::now() >= deadline => return Ok(None),
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for pid {}: {e}", child.id())),
        }
    }
}

/// Stdout of a helper command, trimmed; `None` if it is missing or fails.
/// Used for descriptive header lines where absence is not an error.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A scratch directory under the system temp dir, removed on drop so that
/// interrupted scenarios do not pile up data directories.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<nanos>-<counter>`.
    pub fn new(prefix: &str) -> Result<TempDir, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{nanos}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover scratch dir is not worth a panic.
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::{TempDir, free_port, rss_kib};

    #[test]
    fn own_rss_is_positive() {
        assert!(rss_kib(std::process::id()).expect("own /proc status") > 0);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("bench-selftest").expect("temp dir");
        let path = dir.path().to_owned();
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists());
        assert_ne!(free_port().expect("port"), 0);
    }
}
