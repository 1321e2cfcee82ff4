//! herald as a real child process: the binary the tests were built with,
//! configured only by what a test gives it, for behaviour that needs a
//! process boundary (signals, a crash at a chosen moment).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The herald binary, run in `dir`, with none of the test's own `HERALD_*`
/// environment.
pub fn herald(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The `host:port` in herald's first line ("herald listening on http://…").
pub fn address_in(first_line: &str) -> String {
    first_line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("address in {first_line:?}"))
        .to_string()
}

/// A serving herald process; killed (SIGKILL) when dropped.
pub struct Serving {
    pub child: Child,
    /// `host:port` from its first line of output.
    pub address: String,
    /// Kept open: a closed pipe would fail herald's next line of output.
    _stdout: BufReader<ChildStdout>,
}

impl Serving {
    /// Start `herald serve` on a free port with `env`, and wait for the
    /// line that says where it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Serving {
        let mut cmd = herald(dir);
        cmd.env("HERALD_LISTEN", "127.0.0.1:0").stdout(Stdio::piped()).stderr(Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("spawn herald");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("a line from herald");
        Serving { child, address: address_in(&first), _stdout: stdout }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Kill it at once (SIGKILL: no shutdown, nothing flushed) and reap it.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.crash();
    }
}
