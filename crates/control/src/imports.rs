//! ImportDatabaseBetweenInstances: preconditions (checked in the order of shared/API.md,
//! none of which changes anything), the task row written together with the instances'
//! `Migrating`/`Importing` states, the copy run by `mover` as a tracked, cancellable
//! background task, and recovery of tasks a crash interrupted.

use crate::{dbinfo, Caller, ControlError, ControlPlane, Result};
use chrono::{DateTime, Utc};
use engine::{AdminConnection, InstanceSpec};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{ImportChange, ImportFilter, ImportTaskRow, InstanceRow, Page, Paged, StoreError};
use tokio_util::sync::CancellationToken;

pub const MIGRATING: &str = "Migrating";
pub const IMPORTING: &str = "Importing";

/// How many times a task is tried (first run plus retries after retryable failures or
/// restarts) before it ends `Failed`.
pub const MAX_ATTEMPTS: i64 = 3;

const GIB: u64 = 1 << 30;

/// The phase recorded (durably, before the publishing transaction) when a copy may publish.
const PUBLISHING: &str = "Publishing";

/// Crash points for recovery tests (feature `failpoints`): `OPENRDS_FAILPOINT=<name>`
/// ends the process at `name`, as a crash would.
fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("OPENRDS_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::warn!(failpoint = name, "failpoint: exiting");
        std::process::exit(101);
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

fn endpoint(admin: AdminConnection) -> mover::Endpoint {
    mover::Endpoint { host: admin.host, port: admin.port, user: admin.user, password: admin.password }
}

/// A task as the list and progress calls show it.
pub type ImportTask = ImportTaskRow;

impl ControlPlane {
    /// Validates and starts an import; returns the ImportId. With `dry_run`, runs every
    /// check of the real call and returns `None`: no task, no state change, no copy.
    pub async fn start_import(&self, caller: &Caller, dest_id: &str, source_id: &str, db_info: &str, dry_run: bool) -> Result<Option<i64>> {
        let names = dbinfo::parse(db_info)?;
        if dest_id == source_id {
            return Err(ControlError::invalid(
                "SourceDBInstanceId",
                format!("the source instance {source_id} is also the destination (DBInstanceId); they must differ"),
            ));
        }
        let dest = self.owned_instance(caller, dest_id).await?;
        let source = self.owned_instance(caller, source_id).await?;
        for row in [&dest, &source] {
            let arn = iam::rds_instance_arn(&row.region_id, &row.account_uid, &row.id);
            self.authorize(caller, "rds:ImportDatabaseBetweenInstances", &arn, &row.tags).await?;
        }
        self.check_engines(&source, &dest)?;
        // The engine's own reserved and system names (template1, mysql, ...) are refused
        // before anything is copied, with CreateDatabase's code.
        let catalogue = self.engine_of(&dest)?.catalogue();
        dbinfo::check_names(catalogue, &names)?;
        for row in [&source, &dest] {
            let class = catalogue.class(&row.class_code).ok_or_else(|| ControlError::Internal(format!("unknown class {}", row.class_code)))?;
            if !class.family.allows_import() {
                return Err(ControlError::IncorrectInstanceType(format!(
                    "Instance {} has class {} of the general-purpose family ({}); ImportDatabaseBetweenInstances needs dedicated (d) or dedicated-host (h) classes.",
                    row.id,
                    row.class_code,
                    class.family.code()
                )));
            }
        }
        for row in [&source, &dest] {
            if row.status != crate::instances::RUNNING {
                return Err(ControlError::IncorrectInstanceState(format!(
                    "Instance {} is {}; both instances must be Running and in no other import.",
                    row.id, row.status
                )));
            }
        }
        let engine = self.engine_of(&source)?.clone();
        let (src_spec, dst_spec) = (self.spec(&source)?, self.spec(&dest)?);
        let source_dbs = engine.list_databases(&src_spec).await?;
        let source_staging = self.live_staging_prefixes(&source.id).await?;
        let dest_dbs = engine.list_databases(&dst_spec).await?;
        let mut source_bytes = 0u64;
        let mut replaced_bytes = 0u64;
        for (src, dst) in &names {
            let Some(db) = source_dbs.iter().find(|d| &d.name == src && !source_staging.iter().any(|p| src.starts_with(p.as_str()))) else {
                return Err(ControlError::DbNotFound(format!("The database {src} does not exist on the source instance {}.", source.id)));
            };
            source_bytes += db.size_bytes;
            if let Some(existing) = dest_dbs.iter().find(|d| &d.name == dst) {
                let objects = engine.user_object_count(&dst_spec, dst).await?;
                if objects > 0 {
                    return Err(ControlError::DbDuplicate(format!(
                        "The database {dst} already exists on the destination instance {} and holds {objects} user object(s); drop it or choose another name.",
                        dest.id
                    )));
                }
                replaced_bytes += existing.size_bytes;
            }
        }
        self.check_storage(&dest, &dst_spec, source_bytes, replaced_bytes).await?;
        if dry_run {
            return Ok(None);
        }

        let now = Utc::now();
        let task = ImportTaskRow {
            id: 0,
            account_uid: caller.account_uid().to_string(),
            source_id: source.id.clone(),
            dest_id: dest.id.clone(),
            engine: source.engine.clone(),
            db_names: names,
            status: "Pending".into(),
            phase: "Queued".into(),
            attempts: 0,
            error: String::new(),
            progress: String::new(),
            result: String::new(),
            staging_tag: String::new(),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        };
        let id = match self.store.begin_import(&task, MIGRATING, IMPORTING).await {
            Ok(id) => id,
            Err(StoreError::Conflict { subject, actual, .. }) => {
                return Err(ControlError::IncorrectInstanceState(format!(
                    "{subject} is {actual}; both instances must be Running and in no other import."
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let task = self.store.get_import(id).await?;
        tracing::info!(import_id = id, source = %task.source_id, dest = %task.dest_id, "import accepted");
        failpoint("after_accept");
        self.spawn_import(task);
        Ok(Some(id))
    }

    fn storage_capacity(&self, dest: &InstanceRow) -> u64 {
        dest.storage_gb.max(0) as u64 * self.config.storage_unit_bytes
    }

    async fn check_storage(&self, dest: &InstanceRow, spec: &InstanceSpec, source_bytes: u64, replaced_bytes: u64) -> Result<()> {
        let engine = self.engine_of(dest)?;
        let used = engine.disk_used(spec).await?;
        let capacity = self.storage_capacity(dest);
        let needed = used.saturating_sub(replaced_bytes) + source_bytes;
        if needed >= capacity {
            return Err(ControlError::DbSizeExceeded(format!(
                "The destination instance {} has {} GB of storage, {:.2} GB used; the import needs {:.2} GB more. Choose a larger DBInstanceStorage or import fewer databases.",
                dest.id,
                dest.storage_gb,
                used as f64 / self.config.storage_unit_bytes as f64,
                source_bytes as f64 / self.config.storage_unit_bytes as f64
            )));
        }
        let free = host_free_bytes(&spec.dir)?;
        if source_bytes >= free {
            return Err(ControlError::DbSizeExceeded(format!(
                "The host filesystem under instance {} has {:.2} GB free; the import needs {:.2} GB.",
                dest.id,
                free as f64 / GIB as f64,
                source_bytes as f64 / GIB as f64
            )));
        }
        Ok(())
    }

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

    async fn run_import(self: Arc<Self>, mut task: ImportTaskRow, token: CancellationToken) {
        loop {
            task.attempts += 1;
            task.status = "Running".into();
            task.phase = "Starting".into();
            task.error.clear();
            task.staging_tag = crate::ids::staging_tag(task.id, task.attempts.into());
            task.started_at.get_or_insert(Utc::now());
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
            let canceled_by_user = matches!(&stored, Ok(t) if t.status == "Canceling");
            // A copy that failed after its publish gate may have published (a copier may
            // publish in several steps): the mark decides, as after a crash.
            if let (Err(e), Ok(t)) = (&outcome, &stored) {
                if t.phase == PUBLISHING {
                    if let Some(ended) = self.published_before_crash(t).await {
                        tracing::warn!(error = %e, "the copy failed after it had published; it is finished and ends Success");
                        task = ended;
                        break;
                    }
                }
            }
            match outcome {
                Ok(report) => {
                    task.status = "Success".into();
                    task.phase = "Done".into();
                    task.result = serde_json::to_string(&report).unwrap_or_default();
                    break;
                }
                Err(_) if canceled_by_user || token.is_cancelled() => {
                    task.status = "Canceled".into();
                    task.phase = "Canceled".into();
                    task.error = "The import was canceled; the destination is as it was before.".into();
                    break;
                }
                Err(e) if e.is_retryable() => {
                    // A lost connection is worth another attempt only while both engines
                    // are up; an engine that went down needs someone to look at it.
                    if let Some(down) = self.engine_down(&task).await {
                        tracing::error!(error = %e, instance = %down, "import failed: an engine went down");
                        task.status = "Failed".into();
                        task.phase = "Failed".into();
                        task.error = format!(
                            "The {} instance {down} stopped during the import ({e}). openrds starts it again; the destination is as it was before, the source was not changed. Run the import again once both instances are Running.",
                            if down == task.dest_id { "destination" } else { "source" }
                        );
                        break;
                    }
                    if task.attempts >= MAX_ATTEMPTS {
                        task.status = "Failed".into();
                        task.phase = "Failed".into();
                        task.error = format!("{e} (gave up after {} attempts)", task.attempts);
                        break;
                    }
                    tracing::warn!(error = %e, attempt = task.attempts, "import attempt failed; retrying from a fresh snapshot");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "import failed");
                    task.status = "Failed".into();
                    task.phase = "Failed".into();
                    task.error = e.to_string();
                    break;
                }
            }
        }
        if task.status != "Success" {
            // A source whose engine died is started again before the task hands it back
            // as Running (the watcher would otherwise show it Rebooting right after).
            if let Ok(source) = self.store.get_instance(&task.source_id).await {
                if let Err(e) = crate::supervisor::ensure_running(&self, &source).await {
                    tracing::error!(error = %e, "could not start the source's engine again after the import");
                }
            }
            if let Err(e) = self.restore_destination(&task).await {
                tracing::error!(error = %e, "could not clean the destination after the import");
                task.error = format!("{} The destination still holds staging databases of this import ({e}); they are dropped at the next start of openrds.", task.error);
            }
        }
        failpoint("before_end");
        // The progress written while the copy ran is the task's final account of it.
        if let Ok(current) = self.store.get_import(task.id).await {
            task.progress = current.progress;
        }
        task.finished_at = Some(Utc::now());
        if let Err(e) = self.store.end_import(&task).await {
            tracing::error!(error = %e, "could not record the end of the import; recovery ends it at the next start");
        } else {
            tracing::info!(status = %task.status, "import ended");
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
        let over_quota: Arc<Mutex<Option<String>>> = Arc::default();
        // Row writes of the progress loop and of the publish gate are serialised, so a
        // late progress write can never hide the durable "Publishing" mark.
        let row_lock = Arc::new(tokio::sync::Mutex::new(false));
        let gate = {
            let (store, row_lock, id) = (self.store.clone(), row_lock.clone(), task.id);
            mover::PublishGate::new(move |mark| {
                let (store, row_lock) = (store.clone(), row_lock.clone());
                async move {
                    let mut publishing = row_lock.lock().await;
                    // The mover's mark is what recovery needs to tell, after a crash,
                    // whether publication happened (see mover::Copier::published).
                    let change = ImportChange {
                        status_in: vec!["Running".into()],
                        phase: Some(PUBLISHING.into()),
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
            before_publish: Some(gate),
            ..mover::CopyOptions::default()
        };
        let persist = {
            let progress = progress.clone();
            let store = self.store.clone();
            let engine = self.engine_of(&dest).map_err(|e| mover::MoveError::Internal(e.to_string()))?.clone();
            let spec = self.spec(&dest).map_err(|e| mover::MoveError::Internal(e.to_string()))?;
            let capacity = self.storage_capacity(&dest);
            let (over_quota, copy_token, row_lock) = (over_quota.clone(), copy_token.clone(), row_lock.clone());
            let id = task.id;
            let dest_id = dest.id.clone();
            let stop = CancellationToken::new();
            let stop_child = stop.clone();
            let handle = tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop_child.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    // The quota is DBInstanceStorage: what the destination's databases,
                    // staging included, take on disk.
                    if let Ok(used) = engine.disk_used(&spec).await {
                        if used > capacity {
                            let message = format!(
                                "the destination instance {dest_id} reached its storage quota during the import: {:.1} MB used of {:.1} MB (DBInstanceStorage); grow DBInstanceStorage or free space on it, then run the import again",
                                used as f64 / 1e6,
                                capacity as f64 / 1e6
                            );
                            tracing::warn!(used, capacity, "storage quota reached; stopping the import");
                            *over_quota.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
                            copy_token.cancel();
                        }
                    }
                    let publishing = row_lock.lock().await;
                    let snapshot = progress.snapshot();
                    // Only phase and progress are this loop's: status (a cancel) and result
                    // (the publication mark) are kept as they are in the store.
                    let change = ImportChange {
                        phase: Some(if *publishing { PUBLISHING.into() } else { snapshot.phase.clone() }),
                        progress: Some(serde_json::to_string(&snapshot).unwrap_or_default()),
                        ..ImportChange::default()
                    };
                    let _ = store.change_import(id, &change).await;
                }
            });
            (stop, handle)
        };
        let result = copier.copy(&src, &dst, &task.db_names, &options, progress.clone(), copy_token).await;
        persist.0.cancel();
        let _ = persist.1.await;
        // The last snapshot, so DescribeImportProgress shows the final figures.
        let last = ImportChange { progress: Some(serde_json::to_string(&progress.snapshot()).unwrap_or_default()), ..ImportChange::default() };
        let _ = self.store.change_import(task.id, &last).await;
        let over_quota = over_quota.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (result, over_quota) {
            (Err(_), Some(detail)) if !token.is_cancelled() => Err(mover::MoveError::DiskFull { detail }),
            (result, _) => result,
        }
    }

    /// Finds a task the caller may see through `instance_id` (source or destination). A
    /// task belongs to both its instances, so RAM must allow `action` on both: a user
    /// allowed on one instance neither reads nor cancels what runs into the other.
    async fn owned_import(&self, caller: &Caller, instance_id: &str, import_id: i64, action: &str) -> Result<ImportTaskRow> {
        self.authorized_instance(caller, action, instance_id).await?;
        let task = match self.store.get_import(import_id).await {
            Ok(t) if t.account_uid == caller.account_uid() && (t.source_id == instance_id || t.dest_id == instance_id) => t,
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(ControlError::ImportNotFound(format!("The import {import_id} does not exist for instance {instance_id}.")))
            }
            Err(e) => return Err(e.into()),
        };
        let other = if task.source_id == instance_id { &task.dest_id } else { &task.source_id };
        match self.store.get_instance(other).await {
            Ok(row) => {
                let arn = iam::rds_instance_arn(&row.region_id, &row.account_uid, &row.id);
                self.authorize(caller, &format!("rds:{action}"), &arn, &row.tags).await?;
            }
            // Deleted since: nothing of it left to protect.
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(task)
    }

    #[allow(clippy::too_many_arguments)] // the list call's filters, each optional on the wire
    pub async fn list_imports(
        &self,
        caller: &Caller,
        action: &str,
        instance_id: &str,
        import_id: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<Paged<ImportTaskRow>> {
        self.authorized_instance(caller, action, instance_id).await?;
        let filter = ImportFilter {
            account_uid: Some(caller.account_uid().to_string()),
            instance_id: Some(instance_id.to_string()),
            import_id,
            from,
            to,
        };
        Ok(self.store.list_imports(&filter, Some(page)).await?)
    }

    pub async fn import_progress(&self, caller: &Caller, instance_id: &str, import_id: i64) -> Result<ImportTaskRow> {
        self.owned_import(caller, instance_id, import_id, "DescribeImportProgress").await
    }

    /// `Pending`/`Running` → `Canceling`; the runner then drops the staging databases
    /// and ends the task `Canceled`.
    pub async fn cancel_import(&self, caller: &Caller, instance_id: &str, import_id: i64) -> Result<()> {
        self.owned_import(caller, instance_id, import_id, "CancelImport").await?;
        let change = ImportChange {
            status_in: vec!["Pending".into(), "Running".into()],
            phase_not: Some(PUBLISHING.into()),
            status: Some("Canceling".into()),
            ..ImportChange::default()
        };
        match self.store.change_import(import_id, &change).await {
            Ok(_) => {
                let token = self.running_imports.lock().unwrap_or_else(|e| e.into_inner()).get(&import_id).cloned();
                match token {
                    Some(t) => t.cancel(),
                    // No runner in this process (it is being recovered): recovery sees
                    // Canceling and ends it so.
                    None => tracing::warn!(import_id, "cancel of an import with no runner here"),
                }
                Ok(())
            }
            Err(StoreError::Conflict { .. }) => {
                let task = self.store.get_import(import_id).await?;
                match task.status.as_str() {
                    "Canceling" => Ok(()),
                    "Pending" | "Running" => Err(ControlError::ImportState(format!(
                        "The import {import_id} is publishing its verified copy; it can no longer be canceled."
                    ))),
                    other => Err(ControlError::ImportState(format!(
                        "The import {import_id} is {other}; only a Pending or Running import can be canceled."
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// At start-up: every unfinished task's staging databases are dropped; a task being
    /// canceled ends `Canceled`, one out of attempts ends `Failed`, others run again.
    pub(crate) async fn recover_imports(&self) -> Result<()> {
        for mut task in self.store.unfinished_imports().await? {
            if task.phase == PUBLISHING {
                if let Some(ended) = self.published_before_crash(&task).await {
                    task = ended;
                    self.store.end_import(&task).await?;
                    continue;
                }
            }
            let dest = self.store.get_instance(&task.dest_id).await;
            let cleaned = match &dest {
                Ok(dest) => match self.engine_of(dest).and_then(|e| Ok((e.clone(), self.spec(dest)?))) {
                    Ok((engine, spec)) => {
                        let _ = engine.start(&spec).await;
                        match engine.admin(&spec) {
                            Ok(admin) if !task.staging_tag.is_empty() => {
                                engine.copier().discard(&endpoint(admin), &task.staging_tag).await.map_err(|e| e.to_string())
                            }
                            Ok(_) => Ok(()),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let ending = match (&cleaned, task.status.as_str()) {
                (_, "Canceling") => Some(("Canceled", "The import was canceled; the destination is as it was before.".to_string())),
                (Err(e), _) => Some(("Failed", format!("Recovery after a restart could not clean the destination: {e}"))),
                (Ok(()), _) if task.attempts >= MAX_ATTEMPTS => Some((
                    "Failed",
                    format!("The import was interrupted {} times (last: a restart of openrds); giving up.", task.attempts),
                )),
                _ => None,
            };
            match ending {
                Some((status, error)) => {
                    tracing::warn!(import_id = task.id, status, "ending an interrupted import");
                    task.status = status.into();
                    task.phase = status.into();
                    task.error = error;
                    task.finished_at = Some(Utc::now());
                    self.store.end_import(&task).await?;
                }
                None => {
                    tracing::info!(import_id = task.id, attempt = task.attempts + 1, "resuming an interrupted import from a fresh snapshot");
                    self.spawn_import(task);
                }
            }
        }
        Ok(())
    }
}

impl ControlPlane {
    /// A task that crashed while publishing: whether the mark recorded at its publish
    /// gate shows the copy published (verification had passed before the gate), in which
    /// case the mover finishes what publication left and the task is returned ended
    /// `Success`. `None` means not published (or not knowable now), and the usual
    /// recovery applies.
    async fn published_before_crash(&self, task: &ImportTaskRow) -> Option<ImportTaskRow> {
        let marks: serde_json::Value = serde_json::from_str(&task.result).ok()?;
        let mark = marks.get("Publishing")?;
        let dest = self.store.get_instance(&task.dest_id).await.ok()?;
        let engine = self.engine_of(&dest).ok()?.clone();
        let spec = self.spec(&dest).ok()?;
        let _ = engine.start(&spec).await;
        let admin = endpoint(engine.admin(&spec).ok()?);
        match engine.copier().published(&admin, &task.staging_tag, mark).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "could not tell whether the import had published");
                return None;
            }
        }
        tracing::info!(import_id = task.id, "the import had published before the restart; ending it Success");
        let mut ended = task.clone();
        ended.status = "Success".into();
        ended.phase = "Done".into();
        ended.error.clear();
        ended.result = serde_json::json!({
            "Databases": task.db_names.iter().map(|(s, d)| serde_json::json!({"Source": s, "Destination": d})).collect::<Vec<_>>(),
            "Verified": true,
            "Note": "the verified copy was published, then the task was interrupted (a restart or a lost connection) and finished from its publication mark; per-table figures were not kept"
        })
        .to_string();
        ended.finished_at = Some(Utc::now());
        Some(ended)
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

fn major(version: &str) -> u32 {
    version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

impl ControlPlane {
    /// Both instances run the same engine (every engine brings a copier), the
    /// destination's major version at least the source's.
    fn check_engines(&self, source: &InstanceRow, dest: &InstanceRow) -> Result<()> {
        let (s, d) = (self.engine_of(source)?.kind(), self.engine_of(dest)?.kind());
        if s != d {
            return Err(ControlError::EngineTypeNotSupported(format!(
                "The source {} runs {} and the destination {} runs {}; both must run the same engine.",
                source.id, source.engine, dest.id, dest.engine
            )));
        }
        if major(&dest.engine_version) < major(&source.engine_version) {
            return Err(ControlError::EngineTypeNotSupported(format!(
                "The destination {} runs {} {}, older than the source's {}; the destination's major version must be the same or newer.",
                dest.id, dest.engine, dest.engine_version, source.engine_version
            )));
        }
        Ok(())
    }
}

fn host_free_bytes(dir: &std::path::Path) -> Result<u64> {
    // The instance directory may be gone or unreadable to us; its parent is ours.
    let probe = if dir.exists() { dir } else { dir.parent().unwrap_or(dir) };
    let stat = nix::sys::statvfs::statvfs(probe).map_err(|e| ControlError::Internal(format!("statvfs {}: {e}", probe.display())))?;
    Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_split_only_where_cores_allow() {
        assert_eq!(split_threshold(2), u64::MAX);
        assert_eq!(split_threshold(16), 1 << 30);
    }

    #[test]
    fn majors_are_compared_by_their_first_number() {
        assert_eq!((major("15.0"), major("15"), major("10.11")), (15, 15, 10));
    }
}
