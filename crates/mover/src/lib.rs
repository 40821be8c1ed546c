//! `mover`: what every engine's import copier shares. A copier copies databases from one
//! server to another under new names, the way ImportDatabaseBetweenInstances promises:
//! complete, consistent, fast, verified and invisible until done. It knows connections,
//! not instances or accounts.
//!
//! Each engine brings its steps ([`CopySteps`], in its crate under `crates/engines/`);
//! this crate runs them the same way for every engine ([`pipeline::run`], with the data
//! step's one worker [`pool`]) and holds the contract they share: the request
//! ([`CopyOptions`], [`Endpoint`]), the gate before publication ([`PublishGate`]),
//! progress, reports, errors, staging names and test failpoints. Every copy goes through
//! the same phases ([`Phase`]): snapshot and plan, schema, data (tables verified as they
//! load), post-data, verify, publish; on any failure or cancel the destination is put
//! back as it was, and the source is only ever read. [`Copier`] is the object-safe face
//! of any [`CopySteps`].

mod endpoint;
mod error;
mod hooks;
pub mod pipeline;
pub mod pool;
pub mod progress;
mod report;
pub mod staging;

pub use endpoint::Endpoint;
pub use error::{MoveError, Result, Side};
pub use hooks::Hooks;
pub use pipeline::{CopySteps, Run};
pub use progress::{DatabaseProgress, Phase, Progress, ProgressSnapshot, TableProgress};
pub use report::{CopyPlan, CopyReport, DatabasePlan, DatabaseReport, LargeObjectReport, SequenceReport, TableReport};
pub use staging::{is_staging_name, staging_name, staging_prefix};

/// An order-independent digest of rows: their count and the wrapping sum of a 64-bit hash
/// of each row's bytes, so rows copied in any order or in several parts add up the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowDigest {
    pub rows: u64,
    pub sum: u64,
}

impl RowDigest {
    pub fn add_row(&mut self, row: &[u8]) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(xxhash_rust::xxh3::xxh3_64(row));
    }

    pub fn merge(&mut self, other: RowDigest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

impl std::fmt::Display for RowDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:016x}", self.rows, self.sum)
    }
}

use async_trait::async_trait;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// One copy: from where to where, which databases under which names, how, and what it
/// reports to and stops on.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub source: Endpoint,
    pub dest: Endpoint,
    /// (source name, destination name) pairs.
    pub names: Vec<(String, String)>,
    pub opts: CopyOptions,
    pub progress: Arc<Progress>,
    /// Stops the copy at any point before publication.
    pub cancel: CancellationToken,
}

impl CopyRequest {
    /// `names` from `source` to `dest` with default options and no one watching.
    pub fn new(source: &Endpoint, dest: &Endpoint, names: &[(String, String)], opts: &CopyOptions) -> CopyRequest {
        CopyRequest {
            source: source.clone(),
            dest: dest.clone(),
            names: names.to_vec(),
            opts: opts.clone(),
            progress: Arc::default(),
            cancel: CancellationToken::new(),
        }
    }
}

/// One engine's copier. Implementations are cheap to share (`Arc<dyn Copier>`).
#[async_trait]
pub trait Copier: Send + Sync + 'static {
    /// Copies `names` (source, destination) from `source` to `dest`, publishing them only
    /// when every one is verified. On failure or cancel nothing of the copy remains on
    /// `dest` (unless cleaning up failed too; [`Copier::discard`] finishes it later).
    async fn copy(&self, request: CopyRequest) -> Result<CopyReport>;

    /// Undoes whatever the task tagged `staging_tag` left on `dest` (its staging
    /// databases, the roles or accounts it created that nothing uses). For recovery after
    /// a crash; harmless when there is nothing to undo, and never touches a published
    /// database.
    async fn discard(&self, dest: &Endpoint, staging_tag: &str) -> Result<()>;

    /// After a crash during publication: whether the copy tagged `staging_tag` was
    /// published, judged from the `mark` its [`PublishGate`] recorded. A published copy is
    /// finished (what publication does after its atomic step is done again) and its
    /// leftovers dropped; an unpublished one is left for [`Copier::discard`].
    async fn published(&self, dest: &Endpoint, staging_tag: &str, mark: &serde_json::Value) -> Result<bool>;
}

/// How a copy proves each table arrived (see docs/decisions.md, "What an import's
/// verification proves").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verification {
    /// Every row is hashed as it streams past (so the source is read once), the
    /// destination's load reports as many rows, and the committed table counts them.
    #[default]
    Stream,
    /// As `Stream`, except that instead of counting its rows the destination reads every
    /// table back to be hashed the same way (a row changed, missing or added fails).
    ReadBack,
}

impl Verification {
    /// As the operator names it: `stream` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Stream => "stream",
            Verification::ReadBack => "full",
        }
    }
}

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Parallel data and index workers, over all databases of the copy (default 4).
    pub jobs: usize,
    /// Tables larger than this are copied in ranges by several workers, where the engine's
    /// copier can. Off by default (`u64::MAX`): a table loaded by one session can be
    /// filled in one transaction, which a split table cannot be, and where the two servers
    /// share a few cores the parallel ranges only add work (measured on 2 cores: a 4.5 GB
    /// table in 1 GiB ranges made a 5 GB copy 69 s instead of about 45). Worth turning on
    /// when the destination has cores to spare.
    pub split_bytes: u64,
    /// Sort memory of each index-build session on the destination (default
    /// 512 MB); at most `jobs` builds run at once. More did not pay on the 2-core
    /// benchmark machine (a 30M-row primary key: 15 s at 512 MB, no faster at 2 GB, whose
    /// first touch of fresh memory is slow there).
    pub index_memory_mb: u64,
    /// How each table's arrival is proven.
    pub verification: Verification,
    /// Unique per task; staging databases are named from it (see [`staging_name`]) and
    /// [`Copier::discard`] finds them by it.
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

/// The last word before publication. The gate is given a *mark*: what
/// [`Copier::published`] needs to tell, after a crash, whether publication happened (each
/// engine's copier decides what: the identity of what it renames, say). A caller that must survive a crash records the mark durably here, and can
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

    pub async fn pass(&self, mark: serde_json::Value) -> Result<(), MoveError> {
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
            verification: Verification::default(),
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
    /// environment variable `OPENRDS_FAILPOINT=<step>=<error|cancel|exit>` does the same.
    pub failpoint: Option<(String, FailAction)>,
    pub tamper: Option<Tamper>,
}

/// What an armed failpoint does (the workspace's one mechanism, crate `failpoint`).
#[cfg(feature = "testing")]
pub use failpoint::Action as FailAction;

/// SQL run on the staging database of `database` (a destination name) right before the
/// table `table` (`schema.name`) is verified.
#[cfg(feature = "testing")]
#[derive(Debug, Clone)]
pub struct Tamper {
    pub database: String,
    pub table: String,
    pub sql: String,
}
