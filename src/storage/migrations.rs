//! Schema migrations, one folder per backend (`migrations/sqlite`,
//! `migrations/postgres`), embedded in the binary and applied at start-up
//! and by `herald migrate`. A database that a newer herald has migrated is
//! refused rather than written to with assumptions that may no longer hold.

use sqlx::migrate::Migrator;

use super::{Db, Pool, StorageError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database is at schema version {found}, newer than this herald knows (up to {known}); \
         it was migrated by a newer herald: run that version, or restore a backup taken before the upgrade"
    )]
    NewerDatabase { found: i64, known: i64 },
    #[error("migration failed: {0}")]
    Failed(#[from] sqlx::migrate::MigrateError),
    #[error("cannot read the schema version: {0}")]
    Storage(#[from] StorageError),
}

/// Where the schema stands against this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Highest successfully applied version, if any.
    pub applied: Option<i64>,
    /// Highest version this build carries.
    pub known: i64,
    /// A migration that started and did not finish.
    pub dirty: bool,
}

impl SchemaStatus {
    pub fn is_current(&self) -> bool {
        self.applied == Some(self.known) && !self.dirty
    }
}

fn migrator(db: &Db) -> &'static Migrator {
    match db.pool() {
        Pool::Sqlite(_) => &SQLITE,
        Pool::Postgres(_) => &POSTGRES,
    }
}

fn known_version(m: &Migrator) -> i64 {
    m.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Read the schema version from the database.
pub async fn status(db: &Db) -> Result<SchemaStatus, StorageError> {
    const SQL_SQLITE_EXISTS: &str =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
    const SQL_PG_EXISTS: &str = "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()";
    const SQL_VERSION: &str = "SELECT MAX(CASE WHEN success THEN version END), COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) FROM _sqlx_migrations";
    let known = known_version(migrator(db));
    let exists = match db.pool() {
        Pool::Sqlite(_) => SQL_SQLITE_EXISTS,
        Pool::Postgres(_) => SQL_PG_EXISTS,
    };
    let (applied, dirty): (Option<i64>, i64) = if db.read("schema.exists", exists).scalar_one::<i64>().await? == 0 {
        (None, 0)
    } else {
        db.read("schema.version", SQL_VERSION).fetch_one().await?
    };
    Ok(SchemaStatus { applied, known, dirty: dirty > 0 })
}

/// Apply every pending migration; refuse a database from a newer herald.
/// On PostgreSQL sqlx holds an advisory lock meanwhile, so several
/// instances starting together migrate once.
pub async fn run(db: &Db) -> Result<SchemaStatus, MigrateError> {
    let before = status(db).await?;
    if let Some(found) = before.applied.filter(|v| *v > before.known) {
        return Err(MigrateError::NewerDatabase { found, known: before.known });
    }
    match db.pool() {
        Pool::Sqlite(p) => SQLITE.run(p).await?,
        Pool::Postgres(p) => POSTGRES.run(p).await?,
    }
    let after = status(db).await?;
    if after.applied != before.applied {
        tracing::info!(from = ?before.applied, to = ?after.applied, "database schema migrated");
    }
    Ok(after)
}
