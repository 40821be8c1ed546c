//! RecoveryDBInstance: databases of a backup set (or of a moment, with the log) restored
//! into an existing instance, or into a new one.
//!
//! Into an existing instance it is the two halves openrds already has, chained: the set is
//! restored into a private server (an instance row no caller sees), and an import copies
//! the databases from there into the target, renamed if asked, verified and invisible
//! until published. One task row carries the whole: it is written with the private
//! server's row and the target's `Restoring` state in one transaction, shows as an import
//! of the target (DescribeImportProgress, CancelImport), and is recovered after a restart
//! like any import. Its end deletes the private server.
//!
//! Into a new instance it is a clone that keeps only the databases named.

use crate::backups::{parse_restore_time, CloneRequest};
use crate::imports::major;
use crate::{dbinfo, Caller, ControlError, ControlPlane, Result};
use chrono::Utc;
use std::sync::Arc;
use store::{ImportPhase, ImportStatus, ImportTaskRow, InstanceRow, InstanceStatus, RecoveryRole, StoreError};
use tokio_util::sync::CancellationToken;
use wire::Action;

/// What RecoveryDBInstance asks for, as sent.
#[derive(Debug, Clone, Default)]
pub struct RecoveryRequest {
    /// `DbNames`: `db1,db2` (restored under their own names) or, into an existing
    /// instance, a DBInfo-style JSON map `{"db1":"db1_restored"}`.
    pub db_names: String,
    pub source_id: Option<String>,
    pub backup_id: Option<String>,
    pub restore_time: Option<String>,
    pub target_id: Option<String>,
    pub class: Option<String>,
    pub storage_gb: Option<i64>,
    pub storage_type: Option<String>,
    pub pay_type: Option<String>,
    pub network_type: Option<String>,
}

/// What a recovery started.
#[derive(Debug, Clone)]
pub struct RecoveryStarted {
    /// The instance the databases are restored into.
    pub instance_id: String,
    /// Into an existing instance: the task that restores them (an import of the target).
    pub task_id: Option<i64>,
}

impl ControlPlane {
    pub async fn recover_databases(&self, caller: &Caller, req: RecoveryRequest) -> Result<RecoveryStarted> {
        let names = parse_db_names(&req.db_names)?;
        let source_id = match (&req.source_id, &req.backup_id) {
            (Some(id), _) => id.clone(),
            // A set names its instance: DBInstanceId is optional with a BackupId.
            (None, Some(backup_id)) => {
                let found = match backup_id.parse::<i64>() {
                    Ok(n) => self.store.get_backup(n).await.ok().filter(|b| b.account_uid == caller.account_uid()),
                    Err(_) => None,
                };
                found.map(|b| b.instance_id).ok_or_else(|| ControlError::BackupNotFound(format!("The backup set {backup_id} does not exist.")))?
            }
            (None, None) => return Err(ControlError::invalid("DBInstanceId", "give the original instance's DBInstanceId with a RestoreTime, or a BackupId")),
        };
        let live_source = self.backup_scope(caller, Action::RecoveryDBInstance, &source_id).await?;
        let until = req.restore_time.as_deref().map(parse_restore_time).transpose()?;
        let Some(target_id) = req.target_id.clone() else {
            return self.recover_into_new(caller, req, source_id, names).await;
        };
        let set = self.restorable_set(caller, &source_id, req.backup_id.as_deref(), until).await?;
        let target = self.authorized_instance(caller, Action::RecoveryDBInstance, &target_id).await?;
        let engine = self.engine_of(&target)?.clone();
        if !engine.kind().matches(&set.engine) {
            return Err(ControlError::EngineTypeNotSupported(format!(
                "The backup set {} is of a {} instance and {} runs {}; databases are restored into an instance of the same engine.",
                set.id, set.engine, target.id, target.engine
            )));
        }
        if major(&target.engine_version) < major(&set.engine_version) {
            return Err(ControlError::EngineTypeNotSupported(format!(
                "{} runs {} {}, older than the backup set's {}; the target's major version must be the same or newer.",
                target.id, target.engine, target.engine_version, set.engine_version
            )));
        }
        dbinfo::check_names(engine.catalogue(), &names)?;
        if target.status != InstanceStatus::Running {
            return Err(ControlError::IncorrectInstanceState(format!("Instance {} is {}; databases can be restored into it only while it is Running.", target.id, target.status)));
        }
        let spec = self.spec(&target)?;
        let existing = engine.list_databases(&spec).await?;
        for (_, dst) in &names {
            if existing.iter().any(|d| &d.name == dst) && engine.user_object_count(&spec, dst).await? > 0 {
                return Err(ControlError::DbDuplicate(format!(
                    "The database {dst} already exists on instance {} and holds user objects; restore it under another name ({{\"{dst}\":\"{dst}_restored\"}}) or drop it first.",
                    target.id
                )));
            }
        }

        // The private server: the set's engine and class, on a port of its own, reachable
        // only by openrds's administrator.
        let id = crate::ids::instance_id(engine.catalogue());
        let now = Utc::now();
        let _ports = self.port_lock.lock().await;
        let port = self.free_port().await?;
        let staging = InstanceRow {
            id: id.clone(),
            account_uid: caller.account_uid().to_string(),
            region_id: set.region_id.clone(),
            zone_id: live_source.as_ref().map(|s| s.zone_id.clone()).unwrap_or_else(|| target.zone_id.clone()),
            engine: set.engine.clone(),
            engine_version: set.engine_version.clone(),
            class_code: set.class_code.clone(),
            storage_gb: set.storage_gb,
            storage_type: target.storage_type.clone(),
            status: InstanceStatus::Creating,
            description: format!("restores databases into {}", target.id),
            pay_type: "Postpaid".into(),
            category: "Basic".into(),
            net_type: "Intranet".into(),
            network_type: "VPC".into(),
            security_ip_list: String::new(),
            host: self.config.engine_host.clone(),
            port,
            data_dir: self.config.instances_dir().join(&id).to_string_lossy().into_owned(),
            tags: Vec::new(),
            restored_from: Some(set.id),
            restored_until: until,
            recovery: Some(RecoveryRole::Staging { target: target.id.clone() }),
            deletion_protection: false,
            maintain_time: store::DEFAULT_MAINTAIN_TIME.into(),
            created_at: now,
            updated_at: now,
        };
        let mut task = ImportTaskRow::queued(caller.account_uid(), &staging.id, &target.id, &target.engine, names, now);
        task.phase = ImportPhase::Restoring;
        let task_id = match self.store.begin_recovery(&staging, &task).await {
            Ok(id) => id,
            Err(StoreError::Conflict { actual, .. }) => {
                return Err(ControlError::IncorrectInstanceState(format!("Instance {} is {actual}; databases can be restored into it only while it is Running.", target.id)))
            }
            Err(e) => return Err(e.into()),
        };
        drop(_ports);
        tracing::info!(task_id, backup_id = set.id, target = %target.id, staging = %staging.id, "restoring databases into an existing instance");
        self.spawn_recovery(self.store.get_import(task_id).await?);
        Ok(RecoveryStarted { instance_id: target.id, task_id: Some(task_id) })
    }

    /// Into a new instance: a clone that keeps only the databases named (under their own
    /// names: renaming is for restores into an existing instance).
    async fn recover_into_new(&self, caller: &Caller, req: RecoveryRequest, source_id: String, names: Vec<(String, String)>) -> Result<RecoveryStarted> {
        if let Some((src, dst)) = names.iter().find(|(s, d)| s != d) {
            return Err(ControlError::invalid("DbNames", format!("{src} cannot be renamed to {dst} in a new instance; give TargetDBInstanceId to restore under another name into an existing one")));
        }
        let clone = CloneRequest {
            source_id,
            pay_type: req.pay_type.unwrap_or_else(|| "Postpaid".into()),
            backup_id: req.backup_id,
            restore_time: req.restore_time,
            class: req.class,
            storage_gb: req.storage_gb,
            storage_type: req.storage_type,
            network_type: req.network_type,
            ..CloneRequest::default()
        };
        let keep = RecoveryRole::KeepOnly { databases: names.into_iter().map(|(s, _)| s).collect() };
        let row = self.clone_as(caller, Action::RecoveryDBInstance, clone, Some(keep)).await?;
        Ok(RecoveryStarted { instance_id: row.id, task_id: None })
    }

    /// Drops from a new instance restored for RecoveryDBInstance every database it was not
    /// asked to keep; one it was asked for and the backup does not hold fails the creation.
    pub(crate) async fn keep_only(&self, row: &InstanceRow, keep: &[String]) -> Result<()> {
        let engine = self.engine_of(row)?;
        let spec = self.spec(row)?;
        let held = engine.list_databases(&spec).await?;
        if let Some(missing) = keep.iter().find(|k| !held.iter().any(|d| &d.name == *k)) {
            return Err(ControlError::DbNotFound(format!("The backup set {} holds no database {missing}.", row.restored_from.unwrap_or_default())));
        }
        for db in held.iter().filter(|d| !keep.contains(&d.name)) {
            engine.drop_database(&spec, &db.name).await?;
        }
        Ok(())
    }

    /// Runs a recovery task: its private server restored from the set (unless a restart
    /// found it restored already), then the copy as an import.
    pub(crate) fn spawn_recovery(&self, task: ImportTaskRow) {
        let Some(plane) = self.self_arc() else { return };
        let token = self.shutdown.child_token();
        self.running_imports.lock().unwrap_or_else(|e| e.into_inner()).insert(task.id, token.clone());
        self.tasks.spawn(async move {
            let id = task.id;
            let span = tracing::info_span!("recovery", import_id = id);
            let _ = tracing::Instrument::instrument(plane.clone().run_recovery(task, token), span).await;
            plane.running_imports.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }

    async fn run_recovery(self: Arc<Self>, task: ImportTaskRow, token: CancellationToken) {
        let restored = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => {
                tracing::info!("stopping; the restore runs again at the next start");
                return;
            }
            // CancelImport: the half-made server goes with the rest below.
            _ = token.cancelled() => Err(ControlError::ImportState("canceled while restoring".into())),
            restored = self.restore_private_server(&task) => restored,
        };
        if let Err(e) = restored {
            let canceled = token.is_cancelled() || matches!(self.store.get_import(task.id).await, Ok(t) if t.status == ImportStatus::Canceling);
            let source = task.source_id.clone();
            let mut ended = crate::imports::ImportTask::new(task);
            if canceled {
                ended.end(ImportStatus::Canceled, "The restore was canceled; the target is as it was before.".into());
            } else {
                tracing::error!(error = %e, "the backup could not be restored");
                ended.end(ImportStatus::Failed, format!("The backup could not be restored, so nothing was copied into the target: {}", public_reason(&e)));
            }
            match self.store.end_import(&ended).await {
                Ok(()) => self.release_private_source(&source).await,
                Err(e) => tracing::error!(error = %e, "could not record the end of a recovery; recovery ends it at the next start"),
            }
            return;
        }
        self.run_import(task, token).await;
    }

    /// The private server of a recovery task made from its backup set (again, from
    /// scratch, when a restart interrupted it), then `Migrating` as an import's source.
    async fn restore_private_server(&self, task: &ImportTaskRow) -> Result<()> {
        let row = self.store.get_instance(&task.source_id).await?;
        if row.status != InstanceStatus::Creating {
            return Ok(());
        }
        let backup_id = row.restored_from.ok_or_else(|| ControlError::Internal(format!("recovery server {} names no backup set", row.id)))?;
        let result = async {
            self.provision_from_backup(&row, backup_id, row.restored_until).await?;
            let engine = self.engine_of(&row)?;
            let held = engine.list_databases(&self.spec(&row)?).await?;
            if let Some((missing, _)) = task.db_names.iter().find(|(src, _)| !held.iter().any(|d| &d.name == src)) {
                return Err(ControlError::DbNotFound(format!("the backup set {backup_id} holds no database {missing}")));
            }
            self.store.transition_instance(&row.id, &[InstanceStatus::Creating], InstanceStatus::Migrating).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            if let (Ok(engine), Ok(spec)) = (self.engine_of(&row), self.spec(&row)) {
                let _ = engine.destroy(&spec).await;
            }
        }
        result
    }

    /// Deletes a recovery's private server once its task has ended (the store moved it to
    /// `Deleting` with the task's end).
    pub(crate) async fn release_private_source(&self, instance_id: &str) {
        match self.store.get_instance(instance_id).await {
            Ok(row) if row.is_private() && row.status == InstanceStatus::Deleting => self.spawn_delete(row),
            _ => {}
        }
    }
}

/// What the task's caller is told of a failed restore: the domain's own words, the
/// engine's stay in the log.
fn public_reason(e: &ControlError) -> String {
    match e {
        ControlError::DbNotFound(m) | ControlError::BackupCorrupt(m) => format!("{m}."),
        _ => "the engine could not start a server from the backup set; the cause is in the openrds log.".into(),
    }
}

/// `DbNames`: a JSON map or list (as ImportDatabaseBetweenInstances's DBInfo) or a comma
/// list of names, each restored under its own name.
fn parse_db_names(text: &str) -> Result<Vec<(String, String)>> {
    let text = text.trim();
    if text.starts_with('{') || text.starts_with('[') {
        let wrapped = if text.starts_with('[') { format!("{{\"DBNames\":{text}}}") } else { text.to_string() };
        return dbinfo::parse(&wrapped);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for name in text.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(ControlError::invalid("DbNames", "give the databases to restore, as db1,db2"));
        }
        if pairs.iter().any(|(n, _)| n == name) {
            return Err(ControlError::DbDuplicate(format!("The database {name} is named twice in DbNames.")));
        }
        pairs.push((name.to_string(), name.to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names_are_a_comma_list_or_a_map() {
        assert_eq!(parse_db_names("shop, crm").unwrap(), vec![("shop".into(), "shop".into()), ("crm".into(), "crm".into())]);
        assert_eq!(parse_db_names(r#"{"shop":"shop2"}"#).unwrap(), vec![("shop".into(), "shop2".into())]);
        assert_eq!(parse_db_names(r#"["shop"]"#).unwrap(), vec![("shop".into(), "shop".into())]);
        assert!(matches!(parse_db_names("shop,,crm"), Err(ControlError::InvalidParameter { .. })));
        assert!(matches!(parse_db_names("shop,shop"), Err(ControlError::DbDuplicate(_))));
    }
}
