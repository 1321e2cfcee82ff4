//! Finding PostgreSQL binaries and running them as the right OS user.
//!
//! Distributions put the server binaries in different places (Debian keeps
//! them under `/usr/lib/postgresql/<major>/bin`, often with only the client
//! tools on `PATH`), so lookup tries `PATH` first and then the newest
//! versioned directory.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian-style packages install one directory per major version.
const VERSIONED_ROOT: &str = "/usr/lib/postgresql";

/// OS user that owns and runs the cluster when we are root.
pub(crate) const POSTGRES_USER: &str = "postgres";

/// Locates `name` on `PATH`, else in the highest `/usr/lib/postgresql/*/bin`.
pub(crate) fn find(name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    versioned_dirs().into_iter().map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

/// `/usr/lib/postgresql/*/bin` directories, newest major version first.
fn versioned_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(VERSIONED_ROOT) else {
        return Vec::new();
    };
    let mut dirs: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str().map(parse_version)?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    // Numeric comparison so that "10" sorts above "9.6".
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.into_iter().map(|(_, dir)| dir).collect()
}

/// "9.6" -> [9, 6]; non-numeric parts count as 0 so odd names sort last.
fn parse_version(name: &str) -> Vec<u64> {
    name.split('.').map(|part| part.parse().unwrap_or(0)).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// True when the effective user is root, where `initdb` and `postgres`
/// refuse to run and must be started as the `postgres` user instead.
pub(crate) fn running_as_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
    {
        // Fields: real, effective, saved, filesystem.
        return line.split_whitespace().nth(2) == Some("0");
    }
    Command::new("id").arg("-u").output().map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0").unwrap_or(false)
}

/// The argument vector that runs `program args...` as the cluster owner:
/// unchanged for ordinary users, wrapped in `setpriv` for root. `setpriv`
/// execs the program directly (no intermediate process), so signals sent to
/// the resulting pid reach PostgreSQL itself.
pub(crate) fn owner_argv(
    program: &Path,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    as_root: bool,
) -> Result<Vec<std::ffi::OsString>, String> {
    let mut argv = Vec::new();
    if as_root {
        let setpriv = find("setpriv").ok_or(
            "running as root, but `setpriv` (util-linux) is not installed; \
             it is needed to run initdb/postgres as the postgres user",
        )?;
        argv.push(setpriv.into_os_string());
        for flag in [format!("--reuid={POSTGRES_USER}"), format!("--regid={POSTGRES_USER}"), "--init-groups".to_owned()]
        {
            argv.push(flag.into());
        }
    }
    argv.push(program.as_os_str().to_owned());
    argv.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert!(parse_version("16") > parse_version("15"));
    }
}
