//! How much space each of herald's tables takes, indexes included: for
//! operators (`/api/v1/system/database`) and for the benchmarks' bytes per
//! stored row.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Db, Pool, StorageError};

/// One table's size on disk.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TableSize {
    pub name: String,
    /// Table and its indexes (and, on PostgreSQL, TOAST), in bytes.
    pub bytes: i64,
}

impl Db {
    /// Sizes of herald's tables, largest first. On SQLite from the `dbstat`
    /// virtual table (pages in use per b-tree).
    pub async fn table_sizes(&self) -> Result<Vec<TableSize>, StorageError> {
        let sql = match self.pool() {
            Pool::Postgres(_) => {
                "SELECT c.relname::text AS name, pg_total_relation_size(c.oid) AS bytes \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY bytes DESC"
            }
            Pool::Sqlite(_) => {
                "SELECT m.tbl_name AS name, CAST(sum(d.pgsize) AS INTEGER) AS bytes \
                 FROM dbstat d JOIN sqlite_master m ON m.name = d.name \
                 WHERE m.tbl_name NOT LIKE 'sqlite_%' GROUP BY m.tbl_name ORDER BY bytes DESC"
            }
        };
        self.read("system.table_sizes", sql).fetch_all().await
    }
}
