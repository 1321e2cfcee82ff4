//! One statement in SQL both dialects accept, bound and run on whichever
//! backend is active: the shape most store calls have.
//!
//! ```ignore
//! let row: Option<UserRow> = db.read("accounts.user_by_email", &sql).bind(email.as_str()).fetch_optional().await?;
//! ```
//!
//! It takes the connection ([`Db::acquire`], or [`Db::acquire_write`] for
//! [`Db::write`]) and runs the query under [`Db::observe`], so every call is
//! timed and its errors classified the same way. Statements whose SQL
//! differs between the dialects, and transactions, match on [`Db::pool`].

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Encode, FromRow, PgPool, Postgres, Sqlite, SqlitePool, Type};

use super::{Db, Pool, StorageError};

/// A value either backend can bind.
pub trait Bind<'q>: 'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres> {}

impl<'q, T> Bind<'q> for T where T: 'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{}

/// A row type either backend can decode.
pub trait Record: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<T> Record for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// The active pool with the arguments bound so far.
enum Bound<'q> {
    Sqlite(&'q SqlitePool, SqliteArguments<'q>),
    Postgres(&'q PgPool, PgArguments),
}

/// A statement being bound; run it with one of the `fetch_*`, `scalar_*`
/// or [`Statement::execute`] methods.
#[must_use = "a statement does nothing until it is run"]
pub struct Statement<'q> {
    db: &'q Db,
    operation: &'static str,
    sql: &'q str,
    write: bool,
    bound: Bound<'q>,
    /// The first value that failed to encode; reported when the statement runs.
    bind_error: Option<BoxDynError>,
}

impl Db {
    /// `FROM` and `WHERE` for the rows of `table` whose `column` is one of
    /// the ids bound as `param` (with [`Statement::bind_ids`]), led by those
    /// ids. On SQLite the list drives the join (`CROSS JOIN` fixes the
    /// order), so each id is a primary-key lookup: left to the planner as
    /// an `IN`, it would scan a time index over every other row instead (a
    /// page of 50 services among 10 000 read 240 000 rollups). PostgreSQL
    /// plans `= ANY` on its index well.
    pub fn rows_of_ids(&self, table: &str, column: &str, param: &str) -> (String, String) {
        match self.pool() {
            Pool::Postgres(_) => (table.to_string(), format!("{column} = ANY({param})")),
            Pool::Sqlite(_) => (
                format!("json_each({param}) AS ids CROSS JOIN {table} ON {table}.{column} = ids.value"),
                "TRUE".to_string(),
            ),
        }
    }

    /// SQL that is true when `expr` is one of the ids bound (with
    /// [`Statement::bind_ids`]) as parameter `param`, e.g. `"$1"`.
    /// PostgreSQL takes the array; SQLite has no arrays and reads a JSON list.
    pub fn in_ids(&self, expr: &str, param: &str) -> String {
        match self.pool() {
            Pool::Postgres(_) => format!("{expr} = ANY({param})"),
            Pool::Sqlite(_) => format!("{expr} IN (SELECT value FROM json_each({param}))"),
        }
    }

    /// A statement that reads: it takes any free connection.
    pub fn read<'q>(&'q self, operation: &'static str, sql: &'q str) -> Statement<'q> {
        Statement::new(self, operation, sql, false)
    }

    /// A statement that writes: on SQLite it queues at the write gate first.
    pub fn write<'q>(&'q self, operation: &'static str, sql: &'q str) -> Statement<'q> {
        Statement::new(self, operation, sql, true)
    }
}

/// Run `$query` (a `sqlx` constructor taking the SQL and arguments) with
/// `$fetch` on a connection of the active backend, under `observe`.
macro_rules! run {
    ($statement:ident, $query:path, $fetch:ident) => {
        run!($statement, $query, $fetch, |out| out)
    };
    ($statement:ident, $query:path, $fetch:ident, |$out:ident| $map:expr) => {{
        let Statement { db, operation, sql, write, bound, bind_error } = $statement;
        if let Some(e) = bind_error {
            tracing::error!(operation, error = %e, "a value could not be encoded for the database");
            return Err(StorageError::Other { operation });
        }
        match bound {
            Bound::Sqlite(pool, args) => {
                let mut c = db.connection(pool, write).await?;
                db.observe(operation, sql, $query(sql, args).$fetch(&mut *c)).await.map(|$out| $map)
            }
            Bound::Postgres(pool, args) => {
                let mut c = db.connection(pool, write).await?;
                db.observe(operation, sql, $query(sql, args).$fetch(&mut *c)).await.map(|$out| $map)
            }
        }
    }};
}

impl<'q> Statement<'q> {
    fn new(db: &'q Db, operation: &'static str, sql: &'q str, write: bool) -> Self {
        let bound = match db.pool() {
            Pool::Sqlite(p) => Bound::Sqlite(p, SqliteArguments::default()),
            Pool::Postgres(p) => Bound::Postgres(p, PgArguments::default()),
        };
        Self { db, operation, sql, write, bound, bind_error: None }
    }

    /// Bind the next parameter (`$1`, `$2`, … in order).
    pub fn bind(mut self, value: impl Bind<'q>) -> Self {
        let added = match &mut self.bound {
            Bound::Sqlite(_, args) => args.add(value),
            Bound::Postgres(_, args) => args.add(value),
        };
        self.keep_error(added)
    }

    /// Bind a list of ids for an [`Db::in_ids`] test.
    pub fn bind_ids(mut self, ids: &'q [i64]) -> Self {
        let added = match &mut self.bound {
            Bound::Sqlite(_, args) => match serde_json::to_string(ids) {
                Ok(list) => args.add(list),
                Err(e) => Err(e.into()),
            },
            Bound::Postgres(_, args) => args.add(ids),
        };
        self.keep_error(added)
    }

    fn keep_error(mut self, added: Result<(), BoxDynError>) -> Self {
        if let Err(e) = added {
            self.bind_error.get_or_insert(e);
        }
        self
    }

    /// The one row the statement returns; an error when there is none.
    pub async fn fetch_one<R: Record>(self) -> Result<R, StorageError> {
        run!(self, sqlx::query_as_with, fetch_one)
    }

    /// The row the statement returns, if any.
    pub async fn fetch_optional<R: Record>(self) -> Result<Option<R>, StorageError> {
        run!(self, sqlx::query_as_with, fetch_optional)
    }

    /// Every row the statement returns.
    pub async fn fetch_all<R: Record>(self) -> Result<Vec<R>, StorageError> {
        run!(self, sqlx::query_as_with, fetch_all)
    }

    /// The first column of the one row the statement returns.
    pub async fn scalar_one<T>(self) -> Result<T, StorageError>
    where
        T: Send + Unpin,
        (T,): Record,
    {
        run!(self, sqlx::query_scalar_with, fetch_one)
    }

    /// The first column of the row the statement returns, if any.
    pub async fn scalar_optional<T>(self) -> Result<Option<T>, StorageError>
    where
        T: Send + Unpin,
        (T,): Record,
    {
        run!(self, sqlx::query_scalar_with, fetch_optional)
    }

    /// The first column of every row the statement returns.
    pub async fn scalar_all<T>(self) -> Result<Vec<T>, StorageError>
    where
        T: Send + Unpin,
        (T,): Record,
    {
        run!(self, sqlx::query_scalar_with, fetch_all)
    }

    /// Run the statement for its effect; returns the rows it affected.
    pub async fn execute(self) -> Result<u64, StorageError> {
        run!(self, sqlx::query_with, execute, |done| done.rows_affected())
    }
}
