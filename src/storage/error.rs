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
            sqlx::Error::Database(db) if db.is_unique_violation() => StorageError::Conflict {
                constraint: db
                    .constraint()
                    .map(str::to_owned)
                    // SQLite names the columns, not the index: "UNIQUE constraint failed: t.c".
                    .or_else(|| db.message().rsplit(": ").next().map(str::to_owned))
                    .unwrap_or_else(|| "unique".into()),
            },
            _ => StorageError::Other { operation },
        }
    }

    /// Whether this error counts as a database error in the figures
    /// (a missing row or a refused duplicate is an answer, not a fault).
    pub fn is_fault(&self) -> bool {
        matches!(self, StorageError::Unavailable | StorageError::Other { .. })
    }
}
