//! SQLite side of the `notifications` scenario, through python3's stdlib
//! `sqlite3` (this crate has no SQLite binding and takes no dependencies):
//! seeding herald's database file while herald is stopped, and the
//! direct-SQL baseline for the announcement.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Members, Seed, TEXT_BODY, TEXT_TITLE};

/// Seeds members (notification_seq = per_user), their inboxes (read_at on
/// even cursors, inserted cursor-major like arrival over time) and tokens
/// `bench-<id>`; prints "first last count". Timestamps use herald's
/// fixed-width text form so they compare correctly with the ones it writes.
const SEED: &str = r#"
import datetime, hashlib, sqlite3, sys
path, users, per_user, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA foreign_keys = ON")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
db.execute("BEGIN IMMEDIATE")
first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM user_account").fetchone()[0]
ids = range(first, first + users)
db.executemany(
    "INSERT INTO user_account (id, email, display_name, role, notification_seq, created_at) "
    "VALUES (?, ?, ?, 'member', ?, ?)",
    ((i, f"user{i}@bench.invalid", f"User {i}", per_user, now) for i in ids))
if tokens:
    db.executemany(
        "INSERT INTO api_token (user_id, name, token_hash, created_at) VALUES (?, 'bench', ?, ?)",
        ((i, hashlib.sha256(f"bench-{i}".encode()).digest(), now) for i in ids))
db.executemany(
    "INSERT INTO notification (user_id, cursor, type, priority, title, body, created_at, read_at) "
    "VALUES (?, ?, 'message', 3, ?, ?, ?, ?)",
    ((u, c, f"Notification {c}", f"Body of notification {c} for user {u}", now, now if c % 2 == 0 else None)
     for c in range(1, per_user + 1) for u in ids))
db.execute("COMMIT")
db.execute("ANALYZE")
print(*db.execute("SELECT MIN(id), MAX(id), COUNT(*) FROM user_account WHERE role = 'member'").fetchone())
"#;

/// herald's announcement as plain SQL in one `BEGIN IMMEDIATE` transaction,
/// with herald's connection settings (foreign keys on, synchronous FULL in
/// WAL mode); prints milliseconds from BEGIN to COMMIT and the row count.
const ANNOUNCE: &str = r#"
import datetime, sqlite3, sys, time
path, title, body = sys.argv[1], sys.argv[2], sys.argv[3]
db = sqlite3.connect(path, isolation_level=None, timeout=30)
db.execute("PRAGMA foreign_keys = ON")
db.execute("PRAGMA synchronous = FULL")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
started = time.perf_counter()
db.execute("BEGIN IMMEDIATE")
aid = db.execute(
    "INSERT INTO announcement (created_by, created_at, audience, recipients, type, title) "
    "SELECT MIN(id), ?, '{\"role\":\"member\"}', 0, 'system', ? FROM user_account WHERE role = 'admin' RETURNING id",
    (now, title)).fetchone()[0]
db.execute("UPDATE user_account SET notification_seq = notification_seq + 1 WHERE role = 'member'")
n = db.execute(
    "INSERT INTO notification (user_id, cursor, type, priority, title, body, created_at, announcement_id) "
    "SELECT id, notification_seq, 'system', 3, ?, ?, ?, ? FROM user_account WHERE role = 'member'",
    (title, body, now, aid)).rowcount
db.execute("UPDATE announcement SET recipients = ? WHERE id = ?", (n, aid))
db.execute("COMMIT")
print((time.perf_counter() - started) * 1000, n)
"#;

/// Seeds `file` (herald must be stopped: the writes are one long transaction).
pub fn seed(file: &Path, seed: &Seed) -> Result<Members, String> {
    let tokens = if seed.tokens { "1" } else { "0" };
    let out =
        python(SEED, &[&file.display().to_string(), &seed.users.to_string(), &seed.per_user.to_string(), tokens])?;
    Members::parse(&out, ' ')
}

/// Runs the direct-SQL announcement once; milliseconds.
pub fn announce_directly(file: &Path, expected: u64) -> Result<f64, String> {
    let out = python(ANNOUNCE, &[&file.display().to_string(), TEXT_TITLE, TEXT_BODY])?;
    let mut parts = out.split_whitespace();
    match (parts.next().and_then(|ms| ms.parse().ok()), parts.next().and_then(|n| n.parse::<u64>().ok())) {
        (Some(ms), Some(n)) if n == expected => Ok(ms),
        _ => Err(format!("direct SQLite announcement: expected {expected} rows, script printed {out:?}")),
    }
}

/// True when `python3` runs and has the sqlite3 module.
pub fn available() -> bool {
    python("import sqlite3", &[]).is_ok()
}

fn python(script: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        return Err(format!("python3 failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
