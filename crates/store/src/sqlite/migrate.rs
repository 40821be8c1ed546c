//! Versioned schema migrations.
//!
//! Each script runs in its own transaction together with the row in `schema_migrations`
//! that records it, so a crash leaves a database at some whole version, never between two.
//! Scripts are append-only: a released one has run on databases in the field and is never
//! edited; a change to the schema is a new script at the end.

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::codec::{ts, Ctx};
use crate::{Result, StoreError};

pub(super) struct Migration {
    pub(super) version: i64,
    pub(super) name: &'static str,
    pub(super) sql: &'static str,
}

/// Every schema version, oldest first; versions are 1, 2, 3... without gaps.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../../migrations/0001_initial.sql") },
    Migration { version: 2, name: "imports", sql: include_str!("../../migrations/0002_imports.sql") },
    Migration { version: 3, name: "security_ips", sql: include_str!("../../migrations/0003_security_ips.sql") },
    Migration { version: 4, name: "backups", sql: include_str!("../../migrations/0004_backups.sql") },
    Migration { version: 5, name: "backup_policies", sql: include_str!("../../migrations/0005_backup_policies.sql") },
    Migration { version: 6, name: "recoveries", sql: include_str!("../../migrations/0006_recoveries.sql") },
    Migration { version: 7, name: "day_two", sql: include_str!("../../migrations/0007_day_two.sql") },
    Migration { version: 8, name: "parameters", sql: include_str!("../../migrations/0008_parameters.sql") },
    Migration { version: 9, name: "performance", sql: include_str!("../../migrations/0009_performance.sql") },
];

/// Brings the database up to the last of `migrations`, applying only those it lacks.
/// Refuses a database written by a newer openrds: this code would misread its schema.
pub(super) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TEXT NOT NULL
         ) STRICT;",
    )
    .ctx("create schema_migrations")?;
    let known = migrations.last().map_or(0, |m| m.version);
    let current = current_version(conn)?;
    if current > known {
        return Err(StoreError::Backend(format!(
            "the metadata database is at schema version {current}, newer than the {known} this openrds knows; \
             run the openrds release that wrote it, or a later one"
        )));
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        // IMMEDIATE takes the write lock up front: another process opening the same file
        // at the same moment waits here, then sees the version applied and skips it.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("begin a migration")?;
        let applied = tx
            .query_row("SELECT 1 FROM schema_migrations WHERE version = ?1", [m.version], |_| Ok(()))
            .optional()
            .ctx("read schema_migrations")?
            .is_some();
        if applied {
            continue;
        }
        tx.execute_batch(m.sql).ctx(&format!("apply migration {} ({})", m.version, m.name))?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", (m.version, ts(&Utc::now())))
            .ctx("record a migration")?;
        tx.commit().ctx(&format!("commit migration {} ({})", m.version, m.name))?;
        tracing::info!(version = m.version, name = m.name, "applied metadata schema migration");
    }
    Ok(())
}

pub(super) fn current_version(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .ctx("read the schema version")
}
