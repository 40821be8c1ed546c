//! The one pipeline every engine's copy runs: the request checked, then the engine's
//! steps ([`CopySteps`]) in order, with the phase shown, a failpoint after each step and
//! everything before publication raced against the cancel token; publication is not
//! raced (once it starts, the copy succeeds or fails on its own terms); the end is the
//! same whatever happened ([`conclude`]: staging dropped on failure or cancel).
//!
//! Cancellation works by dropping: the future of the steps before publication is dropped
//! when the token fires, which drops the worker pool (its tasks are aborted), every
//! session (an unfinished load is rolled back by the server) and every tool (its process
//! group is killed); then the engine's cleanup drops the staging databases.

use crate::endpoint::Endpoint;
use crate::error::{MoveError, Result};
use crate::hooks::Hooks;
use crate::progress::{Phase, Progress};
use crate::report::CopyReport;
use crate::staging::staging_name;
use crate::{Copier, CopyOptions, CopyRequest};
use async_trait::async_trait;
use std::collections::HashSet;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One copy as its steps see it: the request (its fields read through `Deref`), its
/// failpoints and when it began.
pub struct Run {
    pub request: CopyRequest,
    pub hooks: Hooks,
    pub started: Instant,
}

impl std::ops::Deref for Run {
    type Target = CopyRequest;

    fn deref(&self) -> &CopyRequest {
        &self.request
    }
}

impl Run {
    /// Parallel workers of the data step (at least one).
    pub fn jobs(&self) -> usize {
        self.opts.jobs.max(1)
    }

    /// The task's staging tag ([`staging_name`]).
    pub fn tag(&self) -> &str {
        &self.opts.staging_tag
    }
}

/// An engine's copy, step by step. Each step hands the next what it built; the
/// pipeline ([`run`]) calls them in order. Every implementation is a [`Copier`].
#[async_trait]
pub trait CopySteps: Send + Sync + 'static {
    /// What the plan step read: the snapshot(s) held open and what they contain.
    type Planned: Send;
    /// The staging databases with their schema, ready to load.
    type Staged: Send;
    /// The data, loaded and verified table by table.
    type Loaded: Send;
    /// Everything built, waiting for publication.
    type Built: Send;

    /// Snapshot and plan: what will be copied, read consistently; the destination
    /// checked (a database to replace must hold nothing).
    async fn plan(&self, run: &Run) -> Result<Self::Planned>;
    /// The staging databases and their schema (before data), and whatever the copied
    /// grants need on the destination.
    async fn schema(&self, run: &Run, planned: Self::Planned) -> Result<Self::Staged>;
    /// Every table's rows, on one [`crate::pool`] of workers; each table verified once loaded.
    async fn data(&self, run: &Run, staged: Self::Staged) -> Result<Self::Loaded>;
    /// The schema that follows the data (indexes left, constraints, views, routines),
    /// sequences and large objects, with their checks.
    async fn post_data(&self, run: &Run, loaded: Self::Loaded) -> Result<Self::Built>;
    /// The last check before publication: every table, sequence and object verified.
    fn verify(&self, run: &Run, built: &Self::Built) -> Result<()>;
    /// Makes the copy visible under its final names, atomically, after the caller's
    /// [`crate::PublishGate`] (in `run.opts`) passed.
    async fn publish(&self, run: &Run, built: Self::Built) -> Result<CopyReport>;
    /// Drops whatever the task tagged `staging_tag` left on `dest` (see [`Copier::discard`]).
    async fn cleanup(&self, dest: &Endpoint, staging_tag: &str) -> Result<()>;
    /// Whether the copy whose gate recorded `mark` was published (see [`Copier::published`]).
    async fn published(&self, dest: &Endpoint, staging_tag: &str, mark: &serde_json::Value) -> Result<bool>;
}

#[async_trait]
impl<S: CopySteps> Copier for S {
    async fn copy(&self, request: CopyRequest) -> Result<CopyReport> {
        run(self, request).await
    }

    async fn discard(&self, dest: &Endpoint, staging_tag: &str) -> Result<()> {
        self.cleanup(dest, staging_tag).await
    }

    async fn published(&self, dest: &Endpoint, staging_tag: &str, mark: &serde_json::Value) -> Result<bool> {
        CopySteps::published(self, dest, staging_tag, mark).await
    }
}

/// Runs `steps` for `request`: the one way every engine copies.
pub async fn run<S: CopySteps>(steps: &S, request: CopyRequest) -> Result<CopyReport> {
    validate(&request.names, &request.opts)?;
    let cancel = request.cancel.clone();
    let run = Run { hooks: Hooks::new(&request.opts, &cancel), request, started: Instant::now() };
    tracing::info!(databases = run.names.len(), tag = %run.tag(), "copy starts");
    let built = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(MoveError::Canceled),
        r = build(steps, &run) => r,
    };
    let result = match built {
        Ok(built) => {
            run.progress.set_phase(Phase::Publishing);
            steps.publish(&run, built).await
        }
        Err(e) => Err(e),
    };
    conclude(result, &cancel, &run.progress, run.tag(), steps.cleanup(&run.dest, run.tag())).await
}

/// Every step before publication.
async fn build<S: CopySteps>(steps: &S, run: &Run) -> Result<S::Built> {
    run.progress.set_phase(Phase::Planning);
    let planned = steps.plan(run).await?;
    tracing::info!(databases = run.names.len(), "planned");
    run.hooks.fail("after_plan")?;

    run.progress.set_phase(Phase::Schema);
    let staged = steps.schema(run, planned).await?;
    tracing::info!("schema before data created");
    run.hooks.fail("after_pre_data")?;

    run.progress.set_phase(Phase::Data);
    let loaded = steps.data(run, staged).await?;
    tracing::info!("data copied and verified");
    run.hooks.fail("after_data")?;

    run.progress.set_phase(Phase::PostData);
    let built = steps.post_data(run, loaded).await?;
    tracing::info!("schema after data created");
    run.hooks.fail("after_post_data")?;

    steps.verify(run, &built)?;
    run.hooks.fail("before_publish")?;
    Ok(built)
}

/// Refuses a request no engine can carry out: nothing to copy, no staging tag, a name
/// listed twice, names that collide in staging.
fn validate(names: &[(String, String)], opts: &CopyOptions) -> Result<()> {
    if names.is_empty() {
        return Err(MoveError::InvalidRequest("no database to copy".into()));
    }
    if opts.staging_tag.is_empty() {
        return Err(MoveError::InvalidRequest("the staging tag is empty; give each task its own".into()));
    }
    let mut srcs = HashSet::new();
    let mut dsts = HashSet::new();
    let mut stagings = HashSet::new();
    for (s, d) in names {
        for n in [s, d] {
            if n.is_empty() || n.len() > 63 || n.contains('\0') {
                return Err(MoveError::InvalidRequest(format!("{n:?} is not a valid database name")));
            }
        }
        if !srcs.insert(s) {
            return Err(MoveError::InvalidRequest(format!("source database {s} is listed twice")));
        }
        if !dsts.insert(d) {
            return Err(MoveError::InvalidRequest(format!("destination database {d} is listed twice")));
        }
        if !stagings.insert(staging_name(d, &opts.staging_tag)) {
            return Err(MoveError::InvalidRequest(format!("destination names collide in staging ({d})")));
        }
    }
    Ok(())
}

/// The end of a copy of either engine: a published copy is `Done`; on failure or cancel
/// the staging databases are dropped by `drop_staging` (a failed drop is logged: the
/// caller runs it again later) and the error returned, as `Canceled` if the token fired.
async fn conclude(
    result: Result<CopyReport>,
    cancel: &CancellationToken,
    progress: &Progress,
    tag: &str,
    drop_staging: impl std::future::Future<Output = Result<()>>,
) -> Result<CopyReport> {
    match result {
        Ok(report) => {
            progress.set_phase(Phase::Done);
            tracing::info!(elapsed_ms = report.elapsed_ms, rows = report.rows, bytes = report.bytes, "copy published");
            Ok(report)
        }
        Err(e) => {
            let e = if cancel.is_cancelled() { MoveError::Canceled } else { e };
            progress.set_phase(if matches!(e, MoveError::Canceled) { Phase::Canceled } else { Phase::Failed });
            // The error itself is the caller's to log, once.
            tracing::info!(canceled = matches!(e, MoveError::Canceled), "copy ended early; dropping its staging databases");
            if let Err(ce) = drop_staging.await {
                tracing::error!(error = %ce, tag, "could not drop the staging databases; drop_staging must run later");
            }
            Err(e)
        }
    }
}
