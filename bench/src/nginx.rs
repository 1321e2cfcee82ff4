//! nginx as a check target: what an operator's real service looks like to
//! herald (a production HTTP server with keep-alive), next to the bench's
//! own in-process target. Debian's `nginx-light`, installed by
//! `scripts/bench-setup`; started here on a free loopback port with a
//! configuration of its own, and stopped on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::TempDir;

/// A running nginx answering `200 ok` at `/`.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    _dir: TempDir,
}

/// Where Debian puts the binary.
fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists())
}

impl Nginx {
    pub fn start() -> Result<Nginx, String> {
        let bin = binary().ok_or("nginx not found: run scripts/bench-setup (installs nginx-light)")?;
        let dir = TempDir::new("herald-bench-nginx")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let root = dir.path().display().to_string();
        // One worker (the machine has 2 CPUs shared with herald and the
        // database), no access log, keep-alive for as long as herald keeps
        // a connection.
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n\
             events {{ worker_connections 16384; }}\n\
             http {{\n  access_log off;\n  keepalive_timeout 300s;\n  keepalive_requests 1000000;\n\
               client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
               fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
               server {{\n    listen {addr};\n    location / {{ default_type text/plain; return 200 \"ok\"; }}\n  }}\n}}\n"
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf).map_err(|e| format!("write {}: {e}", file.display()))?;
        let child = Command::new(&bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let nginx = Nginx { addr, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("nginx did not listen on {addr} within 10 s: {log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: nginx's fast shutdown.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
