//! Backups (CreateBackup, DescribeBackups, DescribeBackupTasks, DeleteBackup) and the
//! instances made from them (CloneDBInstance). A job is a row before its work starts (at
//! most one per instance, checked in the same transaction); the engine's tool writes into
//! a directory of the job's own under the backup directory; a restart finds the jobs it
//! interrupted, discards what they wrote and runs them again. Backups outlive their
//! instance: a clone can be made from one after the instance is deleted.

use crate::{ids, Caller, ControlError, ControlPlane, Result};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::{BackupFilter, BackupMode, BackupRow, BackupStatus, InstanceRow, InstanceStatus, Page, Paged, StoreError};
use wire::Action;

/// How many times a job is tried (first run, retries after a lost server or a restart)
/// before it ends `Failed`.
const MAX_ATTEMPTS: i64 = 3;
/// How often a running job's progress is written.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often the logs instances have archived are moved to the backup area.
const LOG_SWEEP_EVERY: Duration = Duration::from_secs(5);
/// In an instance's log area: when its log was last closed by openrds (unix milliseconds).
pub(crate) const CLOSED_AT: &str = "closed-at";

/// What CreateBackup asks for, as sent.
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    pub method: Option<String>,
    pub strategy: Option<String>,
    pub backup_type: Option<String>,
}

/// What CloneDBInstance asks for, as sent.
#[derive(Debug, Clone, Default)]
pub struct CloneRequest {
    pub source_id: String,
    pub pay_type: String,
    pub backup_id: Option<String>,
    pub restore_time: Option<String>,
    pub class: Option<String>,
    pub storage_gb: Option<i64>,
    pub storage_type: Option<String>,
    pub description: Option<String>,
    pub region_id: Option<String>,
    pub zone_id: Option<String>,
    pub network_type: Option<String>,
    pub category: Option<String>,
}

/// Filters of DescribeBackups, parsed.
#[derive(Debug, Clone, Default)]
pub struct BackupQuery {
    pub backup_id: Option<i64>,
    pub status: Option<BackupStatus>,
    pub mode: Option<BackupMode>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub(crate) fn backup_not_found(id: &str, instance: &str) -> ControlError {
    ControlError::BackupNotFound(format!("The backup set {id} does not exist for instance {instance}."))
}

impl ControlPlane {
    /// Where a backup's files go: a directory per job and attempt, so a tool an earlier
    /// attempt left running never writes into the one that counts.
    fn backup_location(&self, b: &BackupRow) -> PathBuf {
        self.config.backups_dir().join(&b.instance_id).join(format!("{}-{}", b.id, b.attempts))
    }

    /// Where an instance's archived log files are kept, beside its backup sets.
    pub(crate) fn logs_dir(&self, instance_id: &str) -> PathBuf {
        self.config.backups_dir().join(instance_id).join("log")
    }

    /// Moves what each running instance's engine has archived to the backup area, where it
    /// outlives the instance.
    pub(crate) fn spawn_log_archiver(&self) {
        let Some(plane) = self.self_arc() else { return };
        // Imports write logs as large as what they copy: their instances are swept too.
        crate::supervisor::on_instances_in(&plane, LOG_SWEEP_EVERY, crate::supervisor::WRITING, |plane, rows| async move {
            for row in rows {
                if let Err(e) = plane.sweep_logs(&row, false).await {
                    tracing::warn!(instance = %row.id, error = %e, "could not move the instance's archived log");
                }
            }
        });
    }

    /// Moves the instance's archived log files into its log area; with `close`, first has
    /// the engine archive everything written up to now.
    pub(crate) async fn sweep_logs(&self, row: &InstanceRow, close: bool) -> Result<()> {
        let engine = self.engine_of(row)?;
        // A recovery's private server writes nothing anybody restores.
        if !engine.archives_logs() || row.is_private() {
            return Ok(());
        }
        let spec = self.spec(row)?;
        // The periodic sweep, a clone's and a delete's may meet on one instance's files.
        let _sweeping = self.log_sweep.lock().await;
        let logs = self.logs_dir(&row.id);
        let marker = logs.join(CLOSED_AT);
        if row.status == InstanceStatus::Stopped {
            // Down since its log was closed as it stopped: the marker stands, and what the
            // archiver finished before the stop can still be moved without the server.
            let moved = engine.archive_logs(&spec, &logs).await.unwrap_or(0);
            tracing::debug!(instance = %row.id, moved, "archived log of a stopped instance moved");
            return Ok(());
        }
        // The instance writes again (or is about to close anew): an earlier close no longer
        // says where its log ends.
        if let Err(e) = std::fs::remove_file(&marker) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(ControlError::Internal(format!("remove {}: {e}", marker.display())));
            }
        }
        let closing = Utc::now();
        if close {
            engine.close_log(&spec).await?;
        }
        let moved = engine.archive_logs(&spec, &logs).await?;
        if moved > 0 {
            tracing::debug!(instance = %row.id, moved, "archived log files moved to the backup area");
        }
        if close {
            // Everything committed before this moment is in the area, and a commit after
            // it too: a deleted instance can be restored to any moment up to here.
            std::fs::create_dir_all(&logs)
                .and_then(|()| std::fs::write(&marker, closing.timestamp_millis().to_string()))
                .map_err(|e| ControlError::Internal(format!("write {}: {e}", marker.display())))?;
        }
        Ok(())
    }

    /// The caller's instance for a backup call: a live one (RAM-checked with its tags), or
    /// one deleted since whose backups the caller's account still holds.
    pub(crate) async fn backup_scope(&self, caller: &Caller, action: Action, instance_id: &str) -> Result<Option<InstanceRow>> {
        match self.authorized_instance(caller, action, instance_id).await {
            Ok(row) => Ok(Some(row)),
            Err(ControlError::InstanceNotFound(_)) => {
                let filter = BackupFilter { account_uid: Some(caller.account_uid().to_string()), instance_id: Some(instance_id.to_string()), ..Default::default() };
                let any = self.store.list_backups(&filter, Some(Page { number: 1, size: 1 })).await?;
                let Some(first) = any.items.first() else { return Err(ControlError::InstanceNotFound(instance_id.to_string())) };
                let arn = iam::rds_instance_arn(&first.region_id, caller.account_uid(), instance_id);
                self.authorize(caller, action, &arn, &[]).await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// CreateBackup: records the job and starts it; the instance stays `Running`.
    pub async fn create_backup(&self, caller: &Caller, instance_id: &str, req: BackupRequest) -> Result<i64> {
        let row = self.authorized_instance(caller, Action::CreateBackup, instance_id).await?;
        match req.method.as_deref() {
            None | Some("Physical") => {}
            Some(other @ ("Logical" | "Snapshot")) => {
                return Err(ControlError::BackupMethod(format!("BackupMethod {other} is not offered; openrds takes Physical backups with the engine's own tool.")))
            }
            Some(other) => return Err(ControlError::invalid("BackupMethod", format!("{other:?} is not one of Physical, Logical, Snapshot"))),
        }
        match req.strategy.as_deref() {
            None | Some("instance") => {}
            Some("db") => return Err(ControlError::BackupMethod("BackupStrategy db (single databases) needs a logical backup; openrds backs up whole instances.".into())),
            Some(other) => return Err(ControlError::invalid("BackupStrategy", format!("{other:?} is not one of db, instance"))),
        }
        match req.backup_type.as_deref() {
            None | Some("Auto" | "FullBackup" | "Physical") => {}
            Some(other) => return Err(ControlError::invalid("BackupType", format!("{other:?} is not one of Auto, FullBackup"))),
        }
        if row.status != InstanceStatus::Running {
            return Err(ControlError::IncorrectInstanceState(format!(
                "The instance {} is {}; a backup can be taken only while it is Running.",
                row.id, row.status
            )));
        }
        let job = BackupRow::queued(&row, BackupMode::Manual, Utc::now());
        let id = match self.store.begin_backup(&job).await {
            Ok(id) => id,
            Err(StoreError::Conflict { actual, .. }) => {
                return Err(ControlError::BackupJobExists(format!("The instance {} already has a backup job running ({actual}); wait for it to end.", row.id)))
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(instance = %row.id, backup_id = id, "backup job created");
        self.spawn_backup(BackupRow { id, ..job });
        Ok(id)
    }

    pub(crate) fn spawn_backup(&self, job: BackupRow) {
        let Some(plane) = self.self_arc() else { return };
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            let id = job.id;
            let span = tracing::info_span!("backup", backup_id = id, instance = %job.instance_id);
            tokio::select! {
                _ = token.cancelled() => tracing::info!(backup_id = id, "stopping; the backup runs again at the next start"),
                _ = tracing::Instrument::instrument(plane.clone().run_backup(job), span) => {}
            }
        });
    }

    async fn run_backup(self: Arc<Self>, mut job: BackupRow) {
        loop {
            job.attempts += 1;
            job.status = BackupStatus::Running;
            job.error.clear();
            job.started_at.get_or_insert(Utc::now());
            let location = self.backup_location(&job);
            job.location = location.to_string_lossy().into_owned();
            job.bytes_done = 0;
            let outcome = self.take_once(&mut job, &location).await;
            match outcome {
                Ok(set) => {
                    job.status = BackupStatus::Success;
                    job.size_bytes = set.size_bytes as i64;
                    job.bytes_done = set.size_bytes as i64;
                    job.checksum = set.checksum;
                    job.consistent_at = DateTime::from_timestamp(set.consistent_at as i64, 0);
                    job.log_start = set.log_start;
                    job.log_end = set.log_end;
                    tracing::info!(size = set.size_bytes, "backup taken and verified");
                    break;
                }
                Err(e) if e.is_retryable() && job.attempts < MAX_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt = job.attempts, "backup attempt failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "backup failed");
                    job.status = BackupStatus::Failed;
                    job.error = format!("The backup failed: {}", e.public_message());
                    break;
                }
            }
        }
        job.finished_at = Some(Utc::now());
        if let Err(e) = self.store.update_backup(&job).await {
            tracing::error!(error = %e, "could not record the end of a backup");
        }
    }

    /// One attempt: the engine's backup, with its progress written while it runs.
    async fn take_once(&self, job: &mut BackupRow, location: &std::path::Path) -> std::result::Result<engine::BackupSet, BackupFailure> {
        let row = self.store.get_instance(&job.instance_id).await.map_err(|_| BackupFailure::Gone(job.instance_id.clone()))?;
        if row.status == InstanceStatus::Deleting {
            return Err(BackupFailure::Gone(row.id));
        }
        let engine = self.engine_of(&row).map_err(BackupFailure::Control)?.clone();
        let spec = self.spec(&row).map_err(BackupFailure::Control)?;
        job.bytes_expected = engine.disk_used(&spec).await.map(|b| b as i64).unwrap_or(0);
        if let Err(e) = self.store.update_backup(job).await {
            tracing::warn!(error = %e, "could not record the start of a backup attempt");
        }
        let work = engine.take_backup(&spec, location);
        tokio::pin!(work);
        let mut ticker = tokio::time::interval(PROGRESS_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return result.map_err(BackupFailure::Engine),
                _ = ticker.tick() => {
                    job.bytes_done = engine::backup::size_of(location) as i64;
                    if let Err(e) = self.store.update_backup(job).await {
                        tracing::warn!(error = %e, "could not record a backup's progress");
                    }
                }
            }
        }
    }

    /// At start-up: jobs a restart interrupted lose what they wrote and run again, or end
    /// `Failed` when out of attempts.
    pub(crate) async fn recover_backups(&self) -> Result<()> {
        for mut job in self.store.unfinished_backups().await? {
            if !job.location.is_empty() {
                engine::backup::discard(std::path::Path::new(&job.location)).await;
            }
            if job.attempts >= MAX_ATTEMPTS {
                job.status = BackupStatus::Failed;
                job.error = format!("The backup was interrupted {} times (last: a restart of openrds); giving up.", job.attempts);
                job.finished_at = Some(Utc::now());
                self.store.update_backup(&job).await?;
                continue;
            }
            tracing::info!(backup_id = job.id, "resuming an interrupted backup");
            self.spawn_backup(job);
        }
        Ok(())
    }

    /// DescribeBackups: the instance's backup sets (jobs still running are tasks, not
    /// sets), newest first.
    pub async fn list_backups(&self, caller: &Caller, instance_id: &str, query: BackupQuery, page: Page) -> Result<Paged<BackupRow>> {
        self.backup_scope(caller, Action::DescribeBackups, instance_id).await?;
        let status = match query.status {
            Some(s) => vec![s],
            None => vec![BackupStatus::Success, BackupStatus::Failed],
        };
        let filter = BackupFilter {
            account_uid: Some(caller.account_uid().to_string()),
            instance_id: Some(instance_id.to_string()),
            backup_id: query.backup_id,
            status: Some(status),
            mode: query.mode,
            from: query.from,
            to: query.to,
        };
        Ok(self.store.list_backups(&filter, Some(page)).await?)
    }

    /// DescribeBackupTasks: the instance's jobs that have not ended (Alibaba lists the
    /// running ones), or the one asked for by id whatever its state.
    pub async fn list_backup_tasks(&self, caller: &Caller, instance_id: &str, job_id: Option<i64>, status: Option<BackupStatus>, mode: Option<BackupMode>) -> Result<Vec<BackupRow>> {
        self.backup_scope(caller, Action::DescribeBackupTasks, instance_id).await?;
        let statuses = match (status, job_id) {
            (Some(s), _) => Some(vec![s]),
            (None, Some(_)) => None,
            (None, None) => Some(vec![BackupStatus::Pending, BackupStatus::Running]),
        };
        let filter = BackupFilter {
            account_uid: Some(caller.account_uid().to_string()),
            instance_id: Some(instance_id.to_string()),
            backup_id: job_id,
            status: statuses,
            mode,
            from: None,
            to: None,
        };
        Ok(self.store.list_backups(&filter, Some(Page { number: 1, size: 100 })).await?.items)
    }

    /// DeleteBackup: each set (of this instance, ended) loses its files, then its row.
    /// All are checked before any is deleted.
    pub async fn delete_backups(&self, caller: &Caller, instance_id: &str, ids: &[String]) -> Result<()> {
        self.backup_scope(caller, Action::DeleteBackup, instance_id).await?;
        if ids.is_empty() || ids.len() > 100 {
            return Err(ControlError::invalid("BackupId", "give 1 to 100 backup set ids, comma-separated"));
        }
        let mut rows = Vec::new();
        for id in ids {
            let row = match id.parse::<i64>() {
                Ok(n) => match self.store.get_backup(n).await {
                    Ok(b) if b.account_uid == caller.account_uid() && b.instance_id == instance_id => b,
                    Ok(_) | Err(StoreError::NotFound(_)) => return Err(backup_not_found(id, instance_id)),
                    Err(e) => return Err(e.into()),
                },
                Err(_) => return Err(backup_not_found(id, instance_id)),
            };
            if !row.status.is_terminal() {
                return Err(ControlError::BackupState(format!("The backup set {id} is being taken ({}); delete it once it has ended.", row.status)));
            }
            rows.push(row);
        }
        for row in rows {
            if !row.location.is_empty() {
                let path = std::path::Path::new(&row.location);
                if let Err(e) = std::fs::remove_dir_all(path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(ControlError::Internal(format!("remove backup {}: {e}", path.display())));
                    }
                }
            }
            self.store.delete_backup(row.id).await?;
            tracing::info!(backup_id = row.id, "backup deleted");
        }
        Ok(())
    }

    /// CloneDBInstance from a backup set: a new instance (`Creating` until its data is
    /// restored and verified, then `Running`) of the set's engine, of the class and storage
    /// asked for (or the source's), holding the data as it was at the set's
    /// `ConsistentTime`. The set is checked first: a set whose manifest changed is refused
    /// here, one whose data changed fails the clone (which leaves no instance).
    pub async fn clone_instance(&self, caller: &Caller, req: CloneRequest) -> Result<InstanceRow> {
        self.clone_as(caller, Action::CloneDBInstance, req, None).await
    }

    /// A clone for `action` (CloneDBInstance, or RecoveryDBInstance into a new instance,
    /// which says what else the clone is for in `recovery`).
    pub(crate) async fn clone_as(&self, caller: &Caller, action: Action, req: CloneRequest, recovery: Option<store::RecoveryRole>) -> Result<InstanceRow> {
        let live = self.backup_scope(caller, action, &req.source_id).await?;
        if !matches!(req.pay_type.as_str(), "Postpaid" | "Prepaid" | "Serverless") {
            return Err(ControlError::invalid("PayType", format!("{:?} is not one of Postpaid, Prepaid, Serverless", req.pay_type)));
        }
        let until = req.restore_time.as_deref().map(parse_restore_time).transpose()?;
        let set = self.restorable_set(caller, &req.source_id, req.backup_id.as_deref(), until).await?;
        let engine = self.engine_named(&set.engine)?.clone();
        let catalogue = engine.catalogue();
        let class_code = req.class.clone().unwrap_or_else(|| set.class_code.clone());
        let class = crate::classes::offered(catalogue, &class_code)?;
        let storage_gb = req.storage_gb.unwrap_or(set.storage_gb);
        crate::classes::check_storage(storage_gb)?;
        if (storage_gb as u64).saturating_mul(self.config.storage_unit_bytes) < set.size_bytes as u64 {
            return Err(ControlError::StorageInvalid(format!(
                "DBInstanceStorage {storage_gb} GB cannot hold the backup set {} ({} bytes); give more storage.",
                set.id, set.size_bytes
            )));
        }
        let region = self.check_region(req.region_id.as_deref().or(Some(set.region_id.as_str())))?;
        let zones = self.config.region(&region).map(|r| r.zones.clone()).unwrap_or_default();
        let zone = match &req.zone_id {
            None => live.as_ref().filter(|l| zones.contains(&l.zone_id)).map(|l| l.zone_id.clone()).unwrap_or_else(|| zones[0].clone()),
            Some(z) if zones.contains(z) => z.clone(),
            Some(z) => return Err(ControlError::invalid("ZoneId", format!("zone {z} is not in region {region}; available: {}", zones.join(", ")))),
        };
        if let Some(d) = &req.description {
            if d.chars().count() > 256 {
                return Err(ControlError::invalid("DBInstanceDescription", "it must be at most 256 characters"));
            }
        }
        let id = ids::instance_id(catalogue);
        let now = Utc::now();
        let _ports = self.port_lock.lock().await;
        let port = self.free_port().await?;
        let row = InstanceRow {
            id: id.clone(),
            account_uid: caller.account_uid().to_string(),
            region_id: region,
            zone_id: zone,
            engine: set.engine.clone(),
            engine_version: set.engine_version.clone(),
            class_code: class.code.to_string(),
            storage_gb,
            storage_type: req.storage_type.clone().or_else(|| live.as_ref().map(|l| l.storage_type.clone())).unwrap_or_else(|| "local_ssd".into()),
            status: InstanceStatus::Creating,
            description: req.description.clone().unwrap_or_default(),
            pay_type: req.pay_type.clone(),
            category: req.category.clone().or_else(|| live.as_ref().map(|l| l.category.clone())).unwrap_or_else(|| "Basic".into()),
            net_type: live.as_ref().map(|l| l.net_type.clone()).unwrap_or_else(|| "Intranet".into()),
            network_type: req.network_type.clone().or_else(|| live.as_ref().map(|l| l.network_type.clone())).unwrap_or_else(|| "VPC".into()),
            // The backup holds the source's accounts; who may reach them is the source's
            // list, as a clone of it would have.
            security_ip_list: live.as_ref().map(|l| l.security_ip_list.clone()).unwrap_or_else(|| "127.0.0.1".into()),
            host: self.config.engine_host.clone(),
            port,
            data_dir: self.config.instances_dir().join(&id).to_string_lossy().into_owned(),
            tags: Vec::new(),
            restored_from: Some(set.id),
            restored_until: until,
            recovery,
            deletion_protection: false,
            maintain_time: live.as_ref().map(|l| l.maintain_time.clone()).unwrap_or_else(|| store::DEFAULT_MAINTAIN_TIME.into()),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_instance(&row).await?;
        drop(_ports);
        tracing::info!(instance = %row.id, backup_id = set.id, source = %set.instance_id, "cloning an instance from a backup");
        self.spawn_provision(row.clone());
        Ok(row)
    }

    /// The backup set a restore of `source_id` starts from (the one asked for, or the
    /// latest consistent by `until`), checked: successful, unchanged since it was taken,
    /// and with the log a restore to `until` needs.
    pub(crate) async fn restorable_set(&self, caller: &Caller, source_id: &str, backup_id: Option<&str>, until: Option<DateTime<Utc>>) -> Result<BackupRow> {
        let set = match (backup_id, until) {
            (Some(backup_id), _) => match backup_id.parse::<i64>().ok() {
                Some(n) => match self.store.get_backup(n).await {
                    Ok(b) if b.account_uid == caller.account_uid() && b.instance_id == source_id => b,
                    Ok(_) | Err(StoreError::NotFound(_)) => return Err(backup_not_found(backup_id, source_id)),
                    Err(e) => return Err(e.into()),
                },
                None => return Err(backup_not_found(backup_id, source_id)),
            },
            (None, Some(until)) => self.set_before(caller, source_id, until).await?,
            (None, None) => return Err(ControlError::invalid("BackupId", "give a BackupId or a RestoreTime to restore from")),
        };
        if let Some(until) = until {
            if let Ok(source) = self.store.get_instance(source_id).await {
                if matches!(source.status, InstanceStatus::Stopping | InstanceStatus::Deleting) {
                    return Err(ControlError::IncorrectInstanceState(format!(
                        "Instance {source_id} is {}: its log is being closed; restore to a moment once it is {}.",
                        source.status,
                        if source.status == InstanceStatus::Stopping { "Stopped" } else { "deleted" }
                    )));
                }
            }
            if until > Utc::now() {
                return Err(ControlError::invalid("RestoreTime", format!("{} is in the future", until.format("%Y-%m-%dT%H:%M:%SZ"))));
            }
            if set.consistent_at.is_some_and(|c| c > until) {
                return Err(ControlError::invalid(
                    "RestoreTime",
                    format!("the backup set {} is consistent only from {}; give a later time or another set", set.id, set.consistent_at.map(|c| c.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()),
                ));
            }
            let engine = self.engine_named(&set.engine)?;
            let policy = self.store.get_backup_policy(&set.instance_id).await?;
            if policy.is_some_and(|p| !p.log_backup) {
                return Err(ControlError::invalid("RestoreTime", format!("log backup is disabled for instance {}; restore from a BackupId", set.instance_id)));
            }
            if !engine.archives_logs() {
                return Err(ControlError::invalid("RestoreTime", engine::backup::no_log_archive(&set.engine).message));
            }
        }
        if set.status != BackupStatus::Success {
            return Err(ControlError::BackupState(format!("The backup set {} is {}; only a successful set can be restored.", set.id, set.status)));
        }
        let location = std::path::Path::new(&set.location);
        match engine::backup::checksum(location) {
            Ok(sum) if sum == set.checksum => {}
            Ok(_) => return Err(ControlError::BackupCorrupt(format!("The backup set {} no longer matches its checksum; it cannot be restored.", set.id))),
            Err(e) => return Err(ControlError::BackupCorrupt(format!("The backup set {} cannot be read: {}", set.id, e.message))),
        }
        Ok(set)
    }

    /// The latest successful set of `instance_id` consistent by `until`: where a restore to
    /// that moment starts.
    async fn set_before(&self, caller: &Caller, instance_id: &str, until: DateTime<Utc>) -> Result<BackupRow> {
        let filter = BackupFilter {
            account_uid: Some(caller.account_uid().to_string()),
            instance_id: Some(instance_id.to_string()),
            status: Some(vec![BackupStatus::Success]),
            ..Default::default()
        };
        let sets = self.store.list_backups(&filter, None).await?.items;
        let earliest = sets.iter().filter_map(|s| s.consistent_at).min();
        sets.into_iter().filter(|s| s.consistent_at.is_some_and(|c| c <= until)).max_by_key(|s| s.consistent_at).ok_or_else(|| {
            let reason = match earliest {
                Some(t) => format!("the earliest time instance {instance_id} can be restored to is {} (its first backup set)", t.format("%Y-%m-%dT%H:%M:%SZ")),
                None => format!("instance {instance_id} has no backup set to start from; take one with CreateBackup"),
            };
            ControlError::invalid("RestoreTime", reason)
        })
    }

    /// The engine work of a clone: the set verified in full, then a server made from it
    /// (replayed to `until` from the log archive, once the source, if it still runs, has
    /// archived everything up to now).
    pub(crate) async fn provision_from_backup(&self, row: &InstanceRow, backup_id: i64, until: Option<DateTime<Utc>>) -> Result<()> {
        let set = self.store.get_backup(backup_id).await?;
        let engine = self.engine_of(row)?;
        let spec = self.spec(row)?;
        let location = std::path::Path::new(&set.location);
        engine.destroy(&spec).await?;
        engine.verify_backup(location).await.map_err(|e| {
            if e.kind == engine::ErrorKind::Corrupt {
                ControlError::BackupCorrupt(format!("The backup set {} failed its verification and was not restored: {}", set.id, e.message))
            } else {
                e.into()
            }
        })?;
        let target = match until {
            Some(until) => {
                let logs = self.logs_dir(&set.instance_id);
                let running = self.store.get_instance(&set.instance_id).await.ok().filter(|s| !matches!(s.status, InstanceStatus::Deleting | InstanceStatus::Stopping | InstanceStatus::Stopped));
                let until_unix = match running {
                    Some(source) => {
                        self.sweep_logs(&source, true).await?;
                        Some(until.timestamp())
                    }
                    // Deleted or stopped: its log ends where it was last closed (as it
                    // stopped), and a later moment holds all of it.
                    None => {
                        let closed_ms = std::fs::read_to_string(logs.join(CLOSED_AT)).ok().and_then(|t| t.trim().parse::<i64>().ok()).map(|v| {
                            // Markers of earlier releases are whole seconds.
                            if v < 100_000_000_000 { v * 1000 } else { v }
                        });
                        match closed_ms {
                            Some(c) if until.timestamp_millis() >= c => None,
                            _ => Some(until.timestamp()),
                        }
                    }
                };
                Some(engine::RestoreTarget { until_unix, logs })
            }
            None => None,
        };
        engine.provision_from_backup(&spec, location, target.as_ref()).await?;
        Ok(())
    }
}

/// One archived log file of an instance (DescribeLogBackupFiles).
#[derive(Debug, Clone)]
pub struct LogFile {
    pub name: String,
    pub size: u64,
    /// When the previous file was archived: the file holds what was written from then on.
    pub begin: DateTime<Utc>,
    /// When it was archived.
    pub end: DateTime<Utc>,
}

impl ControlPlane {
    /// DescribeLogBackupFiles (or DescribeBinlogFiles, `action`): the archived log files whose span meets [`from`, `to`],
    /// oldest first.
    pub async fn log_files(&self, caller: &Caller, action: Action, instance_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LogFile>> {
        self.backup_scope(caller, action, instance_id).await?;
        let Ok(entries) = std::fs::read_dir(self.logs_dir(instance_id)) else { return Ok(Vec::new()) };
        let mut files: Vec<(DateTime<Utc>, String, u64)> = entries
            .flatten()
            .filter(|e| e.file_name() != CLOSED_AT && !e.file_name().to_string_lossy().ends_with(".part"))
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                Some((DateTime::<Utc>::from(meta.modified().ok()?), e.file_name().to_string_lossy().into_owned(), meta.len()))
            })
            .collect();
        files.sort();
        let mut listed = Vec::new();
        let mut begin = files.first().map(|f| f.0).unwrap_or_default();
        for (end, name, size) in files {
            if end >= from && begin <= to {
                listed.push(LogFile { name, size, begin, end });
            }
            begin = end;
        }
        Ok(listed)
    }
}

/// Why one backup attempt failed.
#[derive(Debug, thiserror::Error)]
enum BackupFailure {
    #[error("the instance {0} was deleted")]
    Gone(String),
    #[error("{0}")]
    Engine(engine::EngineError),
    #[error("{0}")]
    Control(ControlError),
}

impl BackupFailure {
    fn is_retryable(&self) -> bool {
        matches!(self, BackupFailure::Engine(e) if e.is_retryable())
    }

    /// What the job's caller is told: the engine's own words stay in the log.
    fn public_message(&self) -> String {
        match self {
            BackupFailure::Gone(id) => format!("the instance {id} was deleted while it was backed up."),
            BackupFailure::Engine(e) if e.kind == engine::ErrorKind::Corrupt => "the backup did not pass its verification; take another.".into(),
            BackupFailure::Engine(e) if e.kind == engine::ErrorKind::DiskFull => "the backup location is full.".into(),
            BackupFailure::Engine(_) | BackupFailure::Control(_) => "the engine's backup tool failed; the cause is in the openrds log.".into(),
        }
    }
}

/// `RestoreTime`: `yyyy-MM-ddTHH:mm:ssZ` (UTC), as CloneDBInstance documents it.
pub(crate) fn parse_restore_time(value: &str) -> Result<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| ControlError::invalid("RestoreTime", format!("{value:?} is not a UTC time like 2026-01-01T00:00:00Z")))
}

