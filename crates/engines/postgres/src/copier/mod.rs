//! The PostgreSQL copier: [`mover::CopySteps`], run by the one pipeline every engine's
//! copy shares ([`mover::pipeline`]). A copy of several databases goes through these steps:
//! 1. **Snapshot and plan**: per source database, one session exports a snapshot and
//!    holds it open for the whole copy; the plan (tables, sizes, indexes, sequences,
//!    large objects, roles) is read in it.
//! 2. **Schema**: missing roles are created (NOLOGIN, no password); each database gets a
//!    staging database with the source's encoding and locale, and the pre-data schema
//!    from `pg_dump --snapshot | pg_restore`.
//! 3. **Data**: one bounded pool of workers over all tables of all databases, largest
//!    first; every worker's source session joins the snapshot; COPY streams from source
//!    to destination (binary between equal majors) with no file in between; big tables
//!    are split into key or page ranges; every row is hashed as it passes; a table's
//!    indexes and keys are built, and its rows verified (counted, or read back and hashed:
//!    [`mover::Verification`]), as soon as it is loaded.
//! 4. **Post-data**: the rest of the post-data schema with `pg_restore -j`, sequence
//!    values, large objects, materialized views, ANALYZE; sequences and large objects
//!    verified.
//! 5. **Publish**: only when every database is verified, database-level properties are
//!    applied and all staging databases are renamed to their final names in one
//!    transaction. On any failure or cancel, every staging database is dropped instead;
//!    the source is only ever read.

mod conn;
mod copy;
mod data;
mod error;
mod plan;
mod postdata;
mod relay;
mod staging;
mod tools;

pub use copy::{copy_databases, plan_databases};

use error::pg_error;
use mover::{Endpoint, Result, Side};
use std::path::PathBuf;

/// Copies between PostgreSQL servers with `pg_dump`/`pg_restore` from `tool_dir` (empty:
/// the `PATH`), of a major version at least the destination's.
#[derive(Debug, Clone, Default)]
pub struct PostgresCopier {
    pub tool_dir: PathBuf,
}

/// Drops every staging database of the task tagged `staging_tag` on `dest` (ending any
/// session in them), and the roles the task created that nothing uses.
pub async fn drop_staging(dest: &Endpoint, staging_tag: &str) -> Result<()> {
    let client = staging::maintenance(dest).await?;
    staging::drop_all(&client, staging_tag).await
}

/// The OIDs of the databases `names` on `dest` (`None` where there is none). A rename
/// keeps a database's OID, so the staging databases' OIDs recorded before publication
/// tell afterwards, with certainty, whether the publishing transaction committed.
pub(crate) async fn database_oids(dest: &Endpoint, names: &[String]) -> Result<Vec<Option<u32>>> {
    let client = staging::maintenance(dest).await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let row = client
            .query_opt("SELECT oid FROM pg_catalog.pg_database WHERE datname = $1", &[name])
            .await
            .map_err(|e| pg_error(Side::Destination, "look up database OIDs", e))?;
        out.push(row.map(|r| r.get::<_, u32>(0)));
    }
    Ok(out)
}
