//! The storage layer's one error type. Services turn it into domain
//! outcomes; `http::error` maps what is left to problem+json in one place.

/// What went wrong talking to the database, without SQL text or driver detail
/// in its `Display` (that detail is logged once, where the error is made).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` names it.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// No connection could be had in time, or the database is unreachable.
    #[error("database unavailable")]
    Unavailable,
    /// Anything else; `operation` says which repository call failed.
    #[error("database error in {operation}")]
    Other { operation: &'static str },
}

impl StorageError {
    /// Classify a driver error. Called once per failure by the instrumentation.
    pub(crate) fn from_sqlx(operation: &'static str, error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => StorageError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StorageError::Unavailable,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StorageError::Conflict { constraint: constraint_name(db.constraint(), db.message()) }
            }
            _ => StorageError::Other { operation },
        }
    }

    /// Whether this is a write refused by the unique index `constraint`
    /// (its name in the migrations, the same on both backends).
    pub fn is_conflict_on(&self, constraint: &str) -> bool {
        matches!(self, StorageError::Conflict { constraint: c } if c == constraint)
    }

    /// Whether this error counts as a database error in the figures
    /// (a missing row or a refused duplicate is an answer, not a fault).
    pub fn is_fault(&self) -> bool {
        matches!(self, StorageError::Unavailable | StorageError::Other { .. })
    }
}

/// The unique indexes of the migrations by the columns SQLite names when
/// one refuses a write ("UNIQUE constraint failed: t.a, t.b"); PostgreSQL
/// names the index itself.
const UNIQUE_INDEXES: [(&str, &str); 9] = [
    ("user_account_email_key", "user_account.email"),
    ("user_account_external_id_key", "user_account.external_id"),
    ("api_token_hash_key", "api_token.token_hash"),
    ("announcement_idempotency_key", "announcement.created_by, announcement.idempotency_key"),
    ("notification_user_cursor_key", "notification.user_id, notification.cursor"),
    ("notification_idempotency_key", "notification.user_id, notification.idempotency_key"),
    ("service_heartbeat_key", "service.heartbeat_hash"),
    ("service_incident_one_open", "service_incident.service_id"),
    ("alert_one_firing", "alert.key"),
];

/// The name of the unique index that refused a write: PostgreSQL's
/// `constraint`, or the index SQLite's message names by its columns.
fn constraint_name(constraint: Option<&str>, message: &str) -> String {
    if let Some(name) = constraint {
        return name.to_string();
    }
    let columns = message.strip_prefix("UNIQUE constraint failed: ").unwrap_or(message);
    UNIQUE_INDEXES
        .iter()
        .find(|(_, cols)| *cols == columns)
        .map_or_else(|| columns.to_string(), |(name, _)| (*name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_name_the_index() {
        assert_eq!(constraint_name(Some("user_account_email_key"), "duplicate key value"), "user_account_email_key");
        assert_eq!(
            constraint_name(None, "UNIQUE constraint failed: user_account.external_id"),
            "user_account_external_id_key"
        );
        assert_eq!(
            constraint_name(None, "UNIQUE constraint failed: notification.user_id, notification.idempotency_key"),
            "notification_idempotency_key"
        );
        assert_eq!(
            constraint_name(None, "UNIQUE constraint failed: other.x"),
            "other.x",
            "unknown ones as SQLite says"
        );
    }

    /// The table above is every unique index the SQLite migrations create,
    /// with the columns SQLite will name, so a new index cannot be missed.
    #[test]
    fn the_index_table_matches_the_migrations() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("migrations") {
            let sql = std::fs::read_to_string(entry.expect("entry").path()).expect("migration");
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            for part in sql.split("CREATE UNIQUE INDEX ").skip(1) {
                let (name, rest) = part.split_once(" ON ").expect("ON");
                let (table, rest) = rest.split_once(" (").expect("columns");
                let columns = rest.split(')').next().unwrap_or_default();
                let named: Vec<String> = columns.split(',').map(|c| format!("{table}.{}", c.trim())).collect();
                found.push((name.to_string(), named.join(", ")));
            }
        }
        found.sort();
        let mut table: Vec<(String, String)> =
            UNIQUE_INDEXES.iter().map(|(n, c)| ((*n).to_string(), (*c).to_string())).collect();
        table.sort();
        assert_eq!(table, found);
    }
}
