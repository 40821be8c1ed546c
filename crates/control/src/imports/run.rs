//! Running an import: attempts, the copy with the engine's copier, progress persisted,
//! the storage quota watched, the instances given back.

use store::{ImportPhase, ImportStatus};
use super::*;

impl ControlPlane {
    /// Runs a task in the background: the copy, then the end of the task (success,
    /// failure or cancel) with both instances back to `Running`.
    pub(crate) fn spawn_import(&self, task: ImportTaskRow) {
        let Some(plane) = self.self_arc() else { return };
        let token = self.shutdown.child_token();
        self.running_imports.lock().unwrap_or_else(|e| e.into_inner()).insert(task.id, token.clone());
        self.tasks.spawn(async move {
            let id = task.id;
            let span = tracing::info_span!("import", import_id = id);
            let _ = tracing::Instrument::instrument(plane.clone().run_import(task, token), span).await;
            plane.running_imports.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }

    pub(crate) async fn run_import(self: Arc<Self>, task: ImportTaskRow, token: CancellationToken) {
        let mut task = ImportTask::new(task);
        loop {
            task.start_attempt();
            if let Err(e) = self.store.update_import(&task).await {
                tracing::error!(error = %e, "could not record the start of an attempt");
            }
            let outcome = self.copy_once(&task, &token).await;
            if self.shutdown.is_cancelled() {
                // An orderly stop: the task stays Running in the store and the next start
                // redoes it from a fresh snapshot.
                tracing::info!("stopping; the import resumes at the next start");
                return;
            }
            let stored = self.store.get_import(task.id).await;
            let canceled_by_user = matches!(&stored, Ok(t) if t.status == ImportStatus::Canceling);
            // A copy that failed after its publish gate may have published (a copier may
            // publish in several steps): the mark decides, as after a crash.
            if let (Err(e), Ok(t)) = (&outcome, &stored) {
                if t.phase == ImportPhase::Publishing {
                    if let Some(ended) = self.published_before_crash(t).await {
                        tracing::warn!(error = %e, "the copy failed after it had published; it is finished and ends Success");
                        task = ended;
                        break;
                    }
                }
            }
            match outcome {
                Ok(report) => {
                    self.import_totals.add(report.bytes, report.rows);
                    task.succeed(serde_json::to_string(&report).unwrap_or_default());
                    break;
                }
                Err(_) if canceled_by_user || token.is_cancelled() => {
                    task.end(ImportStatus::Canceled, "The import was canceled; the destination is as it was before.".into());
                    break;
                }
                Err(e) if e.is_retryable() => {
                    // A lost connection is worth another attempt only while both engines
                    // are up; an engine that went down needs someone to look at it.
                    if let Some(down) = self.engine_down(&task).await {
                        tracing::error!(error = %e, instance = %down, "import failed: an engine went down");
                        let side = if down == task.dest_id { "destination" } else { "source" };
                        task.end(
                            ImportStatus::Failed,
                            format!(
                                "The {side} instance {down} stopped during the import ({e}). openrds starts it again; the destination is as it was before, the source was not changed. Run the import again once both instances are Running."
                            ),
                        );
                        break;
                    }
                    if task.attempts >= MAX_ATTEMPTS {
                        let message = format!("{e} (gave up after {} attempts)", task.attempts);
                        task.end(ImportStatus::Failed, message);
                        break;
                    }
                    tracing::warn!(error = %e, attempt = task.attempts, "import attempt failed; retrying from a fresh snapshot");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "import failed");
                    task.end(ImportStatus::Failed, e.to_string());
                    break;
                }
            }
        }
        if task.status != ImportStatus::Success {
            // A source whose engine died is started again before the task hands it back
            // as Running (the watcher would otherwise show it Rebooting right after).
            if let Ok(source) = self.store.get_instance(&task.source_id).await {
                if let Err(e) = crate::supervisor::ensure_running(&self, &source).await {
                    tracing::error!(error = %e, "could not start the source's engine again after the import");
                }
            }
            if let Err(e) = self.restore_destination(&task).await {
                tracing::error!(error = %e, "could not clean the destination after the import");
                task.add_to_error(&format!("The destination still holds staging databases of this import ({e}); they are dropped at the next start of openrds."));
            }
        }
        failpoint("before_end");
        // The progress written while the copy ran is the task's final account of it.
        if let Ok(current) = self.store.get_import(task.id).await {
            task.set_progress(current.progress);
        }
        task.finish_now();
        if let Err(e) = self.store.end_import(&task).await {
            tracing::error!(error = %e, "could not record the end of the import; recovery ends it at the next start");
        } else {
            tracing::info!(status = %task.status, "import ended");
            self.release_private_source(&task.source_id).await;
        }
    }

    /// The instance of the task whose engine is not running, if any.
    async fn engine_down(&self, task: &ImportTaskRow) -> Option<String> {
        for id in [&task.dest_id, &task.source_id] {
            let row = self.store.get_instance(id).await.ok()?;
            if !matches!(self.liveness(&row).await, Ok(engine::Liveness::Running)) {
                return Some(id.clone());
            }
        }
        None
    }

    /// After a failure or cancel: the destination's engine running again and no staging
    /// database of the task left on it (the mover drops them itself unless the engine
    /// went away under it).
    async fn restore_destination(&self, task: &ImportTaskRow) -> Result<()> {
        if task.staging_tag.is_empty() {
            return Ok(());
        }
        let dest = self.store.get_instance(&task.dest_id).await?;
        crate::supervisor::ensure_running(self, &dest).await?;
        let engine = self.engine_of(&dest)?;
        let admin = engine.admin(&self.spec(&dest)?)?;
        engine.copier().discard(&endpoint(admin), &task.staging_tag).await.map_err(|e| ControlError::Internal(e.to_string()))
    }

    /// One attempt: endpoints from the engines, the copy, progress persisted meanwhile.
    async fn copy_once(&self, task: &ImportTaskRow, token: &CancellationToken) -> std::result::Result<mover::CopyReport, mover::MoveError> {
        let prepared = async {
            let source = self.store.get_instance(&task.source_id).await?;
            let dest = self.store.get_instance(&task.dest_id).await?;
            let engine = self.engine_of(&source)?;
            let src = endpoint(engine.admin(&self.spec(&source)?)?);
            let dst = endpoint(engine.admin(&self.spec(&dest)?)?);
            Ok::<_, ControlError>((src, dst, dest, engine.copier()))
        }
        .await;
        let (src, dst, dest, copier) = prepared.map_err(|e| mover::MoveError::Internal(e.to_string()))?;
        let progress = Arc::new(mover::Progress::default());
        // The copy stops either for the task's token (cancel, shutdown) or for the quota.
        let copy_token = token.child_token();
        let quota = {
            let engine = self.engine_of(&dest).map_err(|e| mover::MoveError::Internal(e.to_string()))?.clone();
            let spec = self.spec(&dest).map_err(|e| mover::MoveError::Internal(e.to_string()))?;
            Quota { engine, spec, capacity: self.storage_capacity(&dest), dest_id: dest.id.clone(), exceeded: Arc::default() }
        };
        // Row writes of the progress loop and of the publish gate are serialised, so a
        // late progress write can never hide the durable "Publishing" mark.
        let row_lock = Arc::new(tokio::sync::Mutex::new(false));
        let gate = {
            let (store, row_lock, id, quota) = (self.store.clone(), row_lock.clone(), task.id, quota.clone());
            mover::PublishGate::new(move |mark| {
                let (store, row_lock, quota) = (store.clone(), row_lock.clone(), quota.clone());
                async move {
                    // A copy faster than the quota's polling must not publish over it.
                    if let Some(detail) = quota.exceeded().await {
                        return Err(mover::MoveError::DiskFull { detail });
                    }
                    let mut publishing = row_lock.lock().await;
                    // The mover's mark is what recovery needs to tell, after a crash,
                    // whether publication happened (see mover::Copier::published).
                    let change = ImportChange {
                        status_in: vec![ImportStatus::Running],
                        phase: Some(ImportPhase::Publishing),
                        result: Some(serde_json::json!({ "Publishing": mark }).to_string()),
                        ..ImportChange::default()
                    };
                    match store.change_import(id, &change).await {
                        Ok(_) => {}
                        // Canceled while it verified: it must not publish.
                        Err(StoreError::Conflict { .. }) => return Err(mover::MoveError::Canceled),
                        Err(e) => return Err(mover::MoveError::Internal(format!("record publication: {e}"))),
                    }
                    *publishing = true;
                    Ok(())
                }
            })
        };
        let options = mover::CopyOptions {
            split_bytes: split_threshold(std::thread::available_parallelism().map_or(1, |n| n.get())),
            staging_tag: task.staging_tag.clone(),
            verification: self.config.import_verification,
            before_publish: Some(gate),
            ..mover::CopyOptions::default()
        };
        let persist = {
            let progress = progress.clone();
            let store = self.store.clone();
            let (quota, copy_token, row_lock) = (quota.clone(), copy_token.clone(), row_lock.clone());
            let id = task.id;
            let stop = CancellationToken::new();
            let stop_child = stop.clone();
            let handle = tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop_child.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    if quota.exceeded().await.is_some() {
                        copy_token.cancel();
                    }
                    let publishing = row_lock.lock().await;
                    let snapshot = progress.snapshot();
                    // Only phase and progress are this loop's: status (a cancel) and result
                    // (the publication mark) are kept as they are in the store.
                    let change = ImportChange {
                        phase: Some(if *publishing { ImportPhase::Publishing } else { ImportPhase::parse(&snapshot.phase).unwrap_or(ImportPhase::Pending) }),
                        progress: Some(serde_json::to_string(&snapshot).unwrap_or_default()),
                        ..ImportChange::default()
                    };
                    let _ = store.change_import(id, &change).await;
                }
            });
            (stop, handle)
        };
        let request = mover::CopyRequest {
            source: src,
            dest: dst,
            names: task.db_names.clone(),
            opts: options,
            progress: progress.clone(),
            cancel: copy_token,
        };
        let result = copier.copy(request).await;
        persist.0.cancel();
        let _ = persist.1.await;
        // The last snapshot, so DescribeImportProgress shows the final figures.
        let last = ImportChange { progress: Some(serde_json::to_string(&progress.snapshot()).unwrap_or_default()), ..ImportChange::default() };
        let _ = self.store.change_import(task.id, &last).await;
        let over_quota = quota.exceeded.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (result, over_quota) {
            (Err(_), Some(detail)) if !token.is_cancelled() => Err(mover::MoveError::DiskFull { detail }),
            (result, _) => result,
        }
    }
}

/// Tables above this size are copied in ranges, on hosts with the cores for it. Both
/// servers share this host's cores; a split table loses `COPY FREEZE`, and with fewer
/// than 8 cores the parallel ranges only added work (bench/RESULTS.md: a 5 GB copy took
/// 69 s split against about 55 s whole on 2 cores).
fn split_threshold(cores: usize) -> u64 {
    if cores >= 8 {
        1 << 30
    } else {
        u64::MAX
    }
}

/// The destination's storage quota during a copy: `DBInstanceStorage` against what its
/// databases, staging included, take on disk. Polled while the copy runs, and checked
/// once more at the publish gate.
#[derive(Clone)]
struct Quota {
    engine: Arc<dyn engine::Engine>,
    spec: InstanceSpec,
    capacity: u64,
    dest_id: String,
    /// What to tell the user, once the quota was found exceeded.
    exceeded: Arc<Mutex<Option<String>>>,
}

impl Quota {
    /// The message, if the destination is over its quota now (or was found so before).
    async fn exceeded(&self) -> Option<String> {
        if let Some(message) = self.exceeded.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(message);
        }
        let used = self.engine.disk_used(&self.spec).await.ok()?;
        if used <= self.capacity {
            return None;
        }
        let message = format!(
            "the destination instance {} reached its storage quota during the import: {:.1} MB used of {:.1} MB (DBInstanceStorage); grow DBInstanceStorage or free space on it, then run the import again",
            self.dest_id,
            used as f64 / 1e6,
            self.capacity as f64 / 1e6
        );
        tracing::warn!(used, capacity = self.capacity, "storage quota reached; stopping the import");
        Some(self.exceeded.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(message).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_of_a_copy_is_a_phase_of_its_task() {
        for phase in mover::Phase::ALL {
            assert!(store::ImportPhase::parse(phase.as_str()).is_some(), "{phase:?}");
        }
    }

    #[test]
    fn tables_are_split_only_where_cores_allow() {
        assert_eq!(split_threshold(2), u64::MAX);
        assert_eq!(split_threshold(16), 1 << 30);
    }

}
