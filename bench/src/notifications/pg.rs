//! PostgreSQL side of the `notifications` scenario: seeding with set-based
//! SQL (millions of rows in seconds, nothing through herald), and the
//! same-run baselines: pgbench for the two request paths, psql for the
//! announcement fan-out.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::PgCluster;

use super::{Members, Seed, TEXT_BODY, TEXT_TITLE};

/// The columns herald returns for a notification.
const COLUMNS: &str = "id, user_id, cursor, type, priority, title, body, data, created_at, read_at, expires_at";

/// One fresh database in the scenario's cluster.
pub struct PgDb<'a> {
    pub cluster: &'a PgCluster,
    pub name: String,
}

/// What pgbench reported for one run.
#[derive(Debug, Clone, Copy)]
pub struct Pgbench {
    pub tps: f64,
    pub failed: u64,
}

impl PgDb<'_> {
    /// Members (and optionally their inboxes and tokens) straight into the
    /// tables herald migrated. Notifications are inserted in cursor-major
    /// order, as they would arrive over time, so one user's rows are spread
    /// over the table rather than packed together.
    pub fn seed(&self, seed: &Seed) -> Result<Members, String> {
        let Seed { users, per_user, tokens } = *seed;
        self.sql(&format!(
            "INSERT INTO user_account (email, display_name, role, notification_seq, created_at) \
             SELECT 'user' || g || '@bench.invalid', 'User ' || g, 'member', {per_user}, now() \
             FROM generate_series(1, {users}) g"
        ))?;
        if per_user > 0 {
            self.sql(&format!(
                "INSERT INTO notification (user_id, cursor, type, priority, title, body, created_at, read_at) \
                 SELECT u.id, c, 'message', 3, 'Notification ' || c, \
                        'Body of notification ' || c || ' for user ' || u.id, now(), \
                        CASE WHEN c % 2 = 0 THEN now() END \
                 FROM generate_series(1, {per_user}) c CROSS JOIN user_account u \
                 WHERE u.role = 'member' ORDER BY c, u.id"
            ))?;
        }
        if tokens {
            self.sql(
                "INSERT INTO api_token (user_id, name, token_hash, created_at) \
                 SELECT id, 'bench', sha256(('bench-' || id)::bytea), now() FROM user_account WHERE role = 'member'",
            )?;
        }
        self.sql("ANALYZE")?;
        let range = self.sql("SELECT min(id), max(id), count(*) FROM user_account WHERE role = 'member'")?;
        Members::parse(&range, '|')
    }

    /// pgbench at `clients` for `seconds` running `script`, `-n` (no vacuum
    /// of pgbench's own tables, which do not exist here).
    pub fn pgbench(&self, script: &str, clients: usize, duration: Duration, scratch: &Path) -> Result<Pgbench, String> {
        let pgbench =
            PgCluster::bin("pgbench").ok_or("pgbench not found (install postgresql-contrib or the client)")?;
        let file = scratch.join("pgbench.sql");
        fs::write(&file, script).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let output = Command::new(&pgbench)
            .args(["-h", "127.0.0.1", "-p", &self.cluster.port().to_string(), "-U", "postgres"])
            .args(["-c", &clients.to_string(), "-j", "2", "-T", &duration.as_secs().max(1).to_string(), "-n"])
            .arg("-f")
            .arg(&file)
            .arg(&self.name)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", pgbench.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = |prefix: &str| {
            stdout.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|v| v.split_whitespace().next()?.parse().ok())
        };
        match (output.status.success(), value("tps = ")) {
            (true, Some(tps)) => {
                Ok(Pgbench { tps, failed: value("number of failed transactions: ").unwrap_or(0.0) as u64 })
            }
            _ => {
                Err(format!("pgbench failed ({}):\n{stdout}{}", output.status, String::from_utf8_lossy(&output.stderr)))
            }
        }
    }

    /// The announcement herald makes, run by psql in one transaction:
    /// record the announcement, fan out with the same set-based statement,
    /// store the count, commit. Returns the sum of psql's `\timing` figures
    /// in milliseconds (server time plus the local round trips).
    pub fn announce_directly(&self, expected: u64, scratch: &Path) -> Result<f64, String> {
        let psql = PgCluster::bin("psql").ok_or("psql not found")?;
        let fan_out = format!(
            "WITH target AS (SELECT u.id FROM user_account u WHERE u.role = 'member' ORDER BY u.id FOR UPDATE), \
             bumped AS (UPDATE user_account u SET notification_seq = u.notification_seq + 1 FROM target \
             WHERE u.id = target.id RETURNING u.id, u.notification_seq) \
             INSERT INTO notification (user_id, cursor, type, priority, title, body, data, created_at, expires_at, \
             announcement_id) SELECT id, notification_seq, 'system', 3, '{TEXT_TITLE}', '{TEXT_BODY}', NULL, now(), \
             NULL, :aid FROM bumped"
        );
        // The untimed EXPLAIN loads the catalog entries of every table and
        // index involved, which herald's long-lived connections have cached.
        let script = format!(
            "\\set ON_ERROR_STOP on\n\\set aid 0\nEXPLAIN {fan_out};\n\\timing on\nBEGIN;\n\
             INSERT INTO announcement (created_by, created_at, audience, recipients, type, title) \
             SELECT min(id), now(), '{{\"role\":\"member\"}}', 0, 'system', '{TEXT_TITLE}' \
             FROM user_account WHERE role = 'admin' RETURNING id AS aid \\gset\n\
             {fan_out};\n\
             UPDATE announcement SET recipients = {expected} WHERE id = :aid;\nCOMMIT;\n"
        );
        let file = scratch.join("announce.sql");
        fs::write(&file, script).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let output = Command::new(&psql)
            .args(["-X", "-q", "-h", "127.0.0.1", "-p", &self.cluster.port().to_string(), "-U", "postgres"])
            .args(["-d", &self.name, "-f"])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let times: Vec<f64> =
            stdout.lines().filter_map(|l| l.strip_prefix("Time: ")?.split_whitespace().next()?.parse().ok()).collect();
        // BEGIN, INSERT, fan-out, UPDATE, COMMIT.
        if !output.status.success() || times.len() != 5 {
            return Err(format!(
                "psql announcement baseline failed ({}):\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(times.iter().sum())
    }

    /// Runs SQL through psql; its unaligned output.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        self.cluster.psql(&self.name, sql)
    }
}

/// The statement herald runs for `POST /api/v1/notifications`, with a
/// random member and literal values for its other parameters. `notify`
/// adds the realtime `pg_notify` for the inserted row to the same
/// statement, as herald did before it batched its announcements.
pub fn create_script(members: &Members, notify: bool) -> String {
    let insert = format!(
        "INSERT INTO notification (user_id, cursor, type, priority, title, body, data, created_at, expires_at, \
         idempotency_key) SELECT id, notification_seq, 'message', 3, '{TEXT_TITLE}', '{TEXT_BODY}', NULL, now(), \
         NULL, NULL FROM seq RETURNING {COLUMNS}"
    );
    let statement = if notify {
        format!(
            "ins AS ({insert}) SELECT ins.* FROM ins, LATERAL (SELECT pg_notify('herald_events', \
             json_build_object('k', 'new', 'u', ins.user_id, 'i', ins.id, 'c', ins.cursor)::text)) AS announced"
        )
    } else {
        insert
    };
    let separator = if notify { ", " } else { " " };
    format!(
        "\\set uid random({}, {})\n\
         WITH seq AS (UPDATE user_account SET notification_seq = notification_seq + 1 WHERE id = :uid \
         RETURNING id, notification_seq){separator}{statement};\n",
        members.first, members.last
    )
}

/// The statement herald runs for `GET /api/v1/notifications?unread=true`.
pub fn list_script(members: &Members) -> String {
    format!(
        "\\set uid random({}, {})\n\
         SELECT {COLUMNS} FROM notification WHERE user_id = :uid AND (expires_at IS NULL OR expires_at > now()) \
         AND read_at IS NULL ORDER BY cursor DESC LIMIT 51;\n",
        members.first, members.last
    )
}
