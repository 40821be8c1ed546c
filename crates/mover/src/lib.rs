//! `mover`: copies PostgreSQL databases from one server to another under new names, the
//! way ImportDatabaseBetweenInstances promises: complete, consistent, fast, verified and
//! invisible until done. It knows connections, not instances or accounts, and can be used
//! on its own.
//!
//! A copy of several databases goes through these steps ([`copy_databases`]):
//! 1. **Snapshot and plan**: per source database, one session exports a snapshot and
//!    holds it open for the whole copy; the plan (tables, sizes, indexes, sequences,
//!    large objects, roles) is read in it.
//! 2. **Schema**: missing roles are created (NOLOGIN, no password); each database gets a
//!    staging database with the source's encoding and locale, and the pre-data schema
//!    from `pg_dump --snapshot | pg_restore`.
//! 3. **Data**: one bounded pool of workers over all tables of all databases, largest
//!    first; every worker's source session joins the snapshot; COPY streams from source
//!    to destination (binary between equal majors) with no file in between; big tables
//!    are split into key or page ranges; a table's indexes and keys are built, and its
//!    rows verified, as soon as it is loaded.
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
mod hooks;
pub mod mariadb;
mod plan;
mod postdata;
mod progress;
mod relay;
mod report;
mod staging;
mod tools;

pub use conn::Endpoint;
pub use copy::copy_databases;
pub use error::{MoveError, Side};
pub use progress::{DatabaseProgress, Progress, ProgressSnapshot, TableProgress};
pub use copy::plan_databases;
pub use report::{CopyPlan, CopyReport, DatabasePlan, DatabaseReport, LargeObjectReport, SequenceReport, TableReport};
pub use staging::{is_staging_name, staging_name, staging_prefix};

use std::path::PathBuf;

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Parallel data and index workers, over all databases of the copy (default 4).
    pub jobs: usize,
    /// Tables whose heap is larger than this are copied in ranges by several workers.
    /// Off by default (`u64::MAX`): a table loaded by one session is truncated and
    /// filled in one transaction (`COPY FREEZE`), which a split table cannot be, and where
    /// the two servers share a few cores the parallel ranges only add work (measured on
    /// 2 cores: a 4.5 GB table in 1 GiB ranges made a 5 GB copy 69 s instead of about 45).
    /// Worth turning on when the destination has cores to spare.
    pub split_bytes: u64,
    /// `maintenance_work_mem` of each index-build session on the destination (default
    /// 512 MB); at most `jobs` builds run at once. More did not pay on the 2-core
    /// benchmark machine (a 30M-row primary key: 15 s at 512 MB, no faster at 2 GB, whose
    /// first touch of fresh memory is slow there).
    pub index_memory_mb: u64,
    /// Where pg_dump and pg_restore are; empty means the `PATH`. They must be of a major
    /// version at least the destination's.
    pub pg_bin_dir: PathBuf,
    /// Unique per task; staging databases are named from it (see [`staging_name`]) and
    /// [`drop_staging`] finds them by it.
    pub staging_tag: String,
    /// Called after verification, right before the transaction that publishes; the copy
    /// publishes only if it returns `Ok`. A caller that must survive a crash records here
    /// that the task may have published (see [`PublishGate`]).
    pub before_publish: Option<PublishGate>,
    /// Failpoints and tampering, for tests only.
    #[cfg(feature = "testing")]
    pub hooks: TestHooks,
}

type GateFn = dyn Fn(serde_json::Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), MoveError>> + Send>> + Send + Sync;

/// The last word before publication. The gate is given a *mark*: what [`published`] needs
/// to tell, after a crash, whether publication happened (PostgreSQL: the staging
/// databases' OIDs, which a rename keeps; MariaDB: the tables each destination database
/// receives). A caller that must survive a crash records the mark durably here, and can
/// still refuse (a cancel that arrived during verification).
#[derive(Clone)]
pub struct PublishGate(std::sync::Arc<GateFn>);

impl PublishGate {
    pub fn new<F, Fut>(gate: F) -> Self
    where
        F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), MoveError>> + Send + 'static,
    {
        PublishGate(std::sync::Arc::new(move |mark| Box::pin(gate(mark))))
    }

    pub(crate) async fn pass(&self, mark: serde_json::Value) -> Result<(), MoveError> {
        (self.0)(mark).await
    }
}

impl std::fmt::Debug for PublishGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishGate")
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            jobs: 4,
            split_bytes: u64::MAX,
            index_memory_mb: 512,
            pg_bin_dir: PathBuf::new(),
            staging_tag: String::new(),
            before_publish: None,
            #[cfg(feature = "testing")]
            hooks: TestHooks::default(),
        }
    }
}

/// Test hooks (feature `testing`): make a step fail, cancel or exit the process, or
/// change loaded data before it is verified.
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    /// A step name (`after_plan`, `after_roles`, `after_pre_data`, `during_data`,
    /// `after_data`, `after_post_data`, `before_publish`, `after_publish`) and what
    /// happens there (at `after_publish` only `exit` makes sense: it is published). The
    /// environment variable `MOVER_FAILPOINT=<step>=<error|cancel|exit>` does the same.
    pub failpoint: Option<(String, FailAction)>,
    pub tamper: Option<Tamper>,
}

#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// The step fails with an internal error.
    Error,
    /// The copy's cancellation token is triggered at the step.
    Cancel,
    /// The process exits at once (status 101), as in a crash.
    Exit,
}

/// SQL run on the staging database of `database` (a destination name) right before the
/// table `table` (`schema.name`) is verified.
#[cfg(feature = "testing")]
#[derive(Debug, Clone)]
pub struct Tamper {
    pub database: String,
    pub table: String,
    pub sql: String,
}

/// Drops every staging database of the task tagged `staging_tag` on `dest` (ending any
/// session in them), and the roles the task created that nothing uses. For recovery
/// after a crash; harmless when there is nothing to drop, and never touches a published
/// database.
pub async fn drop_staging(dest: &Endpoint, staging_tag: &str) -> Result<(), MoveError> {
    let client = staging::maintenance(dest).await?;
    staging::drop_all(&client, staging_tag).await
}

/// The engine family both servers of a copy run; the copy's means differ, its contract
/// does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    PostgreSQL,
    MariaDB,
}

/// Copies `names` (source, destination) from `source` to `dest` with the family's means;
/// see [`copy_databases`] (PostgreSQL) and [`mariadb::copy_databases`].
pub async fn copy(
    family: Family,
    source: &Endpoint,
    dest: &Endpoint,
    names: &[(String, String)],
    opts: &CopyOptions,
    progress: std::sync::Arc<Progress>,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<CopyReport, MoveError> {
    match family {
        Family::PostgreSQL => copy_databases(source, dest, names, opts, progress, cancel).await,
        Family::MariaDB => mariadb::copy_databases(source, dest, names, opts, progress, cancel).await,
    }
}

/// Undoes whatever the task tagged `staging_tag` left on `dest` (see [`drop_staging`]).
pub async fn discard(family: Family, dest: &Endpoint, staging_tag: &str) -> Result<(), MoveError> {
    match family {
        Family::PostgreSQL => drop_staging(dest, staging_tag).await,
        Family::MariaDB => mariadb::drop_staging(dest, staging_tag).await,
    }
}

/// After a crash during publication: whether the copy tagged `staging_tag` was published,
/// judged from the `mark` its [`PublishGate`] recorded. A published copy is finished (what
/// publication does after its atomic step is done again) and its leftovers dropped; an
/// unpublished one is left for [`discard`].
pub async fn published(family: Family, dest: &Endpoint, staging_tag: &str, mark: &serde_json::Value) -> Result<bool, MoveError> {
    match family {
        Family::PostgreSQL => {
            let Some(marks) = mark.as_object() else { return Ok(false) };
            let names: Vec<String> = marks.keys().cloned().collect();
            let now = database_oids(dest, &names).await?;
            let published = !names.is_empty()
                && names.iter().zip(&now).all(|(name, oid)| oid.is_some() && marks.get(name).and_then(|v| v.as_u64()) == oid.map(u64::from));
            if published {
                // What remains is the replaced (empty) databases set aside by the publication.
                drop_staging(dest, staging_tag).await?;
            }
            Ok(published)
        }
        Family::MariaDB => mariadb::published(dest, staging_tag, mark).await,
    }
}

/// The OIDs of the databases `names` on `dest` (`None` where there is none). A rename
/// keeps a database's OID, so the staging databases' OIDs recorded before publication
/// tell afterwards, with certainty, whether the publishing transaction committed.
pub(crate) async fn database_oids(dest: &Endpoint, names: &[String]) -> Result<Vec<Option<u32>>, MoveError> {
    let client = staging::maintenance(dest).await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let row = client
            .query_opt("SELECT oid FROM pg_catalog.pg_database WHERE datname = $1", &[name])
            .await
            .map_err(|e| MoveError::pg(Side::Destination, "look up database OIDs", e))?;
        out.push(row.map(|r| r.get::<_, u32>(0)));
    }
    Ok(out)
}
