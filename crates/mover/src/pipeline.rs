//! What every engine's copy shares around its own steps: checking the request, and
//! ending a copy the same way whatever happened (phase, log line, staging dropped on
//! failure or cancel).

use crate::error::{MoveError, Result};
use crate::progress::{Phase, Progress};
use crate::report::CopyReport;
use crate::staging::staging_name;
use crate::CopyOptions;
use std::collections::HashSet;
use tokio_util::sync::CancellationToken;

/// Refuses a request no engine can carry out: nothing to copy, no staging tag, a name
/// listed twice, names that collide in staging.
pub fn validate(names: &[(String, String)], opts: &CopyOptions) -> Result<()> {
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
pub async fn conclude(
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
