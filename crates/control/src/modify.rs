//! Day-two changes of an instance: its class and storage (ModifyDBInstanceSpec), stopping
//! and starting it, and what it is called, whether it may be deleted and when it may be
//! maintained. A change that needs the engine runs like every long change: the row says
//! what is happening first (`DBInstanceClassChanging`, `Stopping`, `Rebooting`), the engine
//! work follows in the background, and a restart finishes it from the row.

use crate::{classes, Caller, ControlError, ControlPlane, Result};
use store::{BackupFilter, BackupStatus, InstanceRow, InstanceStatus, StoreError};
use wire::Action;

/// What ModifyDBInstanceSpec asks for, as sent.
#[derive(Debug, Clone, Default)]
pub struct SpecChange {
    pub class: Option<String>,
    pub storage_gb: Option<i64>,
}

impl ControlPlane {
    /// ModifyDBInstanceSpec: the row takes the new class and storage with
    /// `DBInstanceClassChanging`; the engine is restarted with the new class's settings
    /// (memory, connections, CPU quota) when they differ, then `Running`. Storage alone
    /// is a quota openrds enforces: it changes at once. Returns the row as changed.
    pub async fn modify_spec(&self, caller: &Caller, id: &str, change: SpecChange) -> Result<InstanceRow> {
        let row = self.authorized_instance(caller, Action::ModifyDBInstanceSpec, id).await?;
        if change.class.is_none() && change.storage_gb.is_none() {
            return Err(ControlError::invalid("DBInstanceClass", "give a DBInstanceClass, a DBInstanceStorage, or both"));
        }
        let engine = self.engine_of(&row)?.clone();
        let catalogue = engine.catalogue();
        let class_code = change.class.clone().unwrap_or_else(|| row.class_code.clone());
        let class = classes::offered(catalogue, &class_code)?;
        let storage_gb = change.storage_gb.unwrap_or(row.storage_gb);
        classes::check_storage(storage_gb)?;
        Self::require_running(&row)?;
        if storage_gb < row.storage_gb {
            let used = engine.disk_used(&self.spec(&row)?).await?;
            let capacity = (storage_gb as u64).saturating_mul(self.config.storage_unit_bytes);
            // Alibaba asks for room above what is used: 1.1 times it.
            if used.saturating_mul(11) / 10 >= capacity {
                return Err(ControlError::ReduceDiskSize(format!(
                    "DBInstanceStorage {storage_gb} GB is less than 1.1 times the {:.2} GB instance {id} uses; the storage after a scale-down must be larger than the used amount.",
                    used as f64 / self.config.storage_unit_bytes as f64
                )));
            }
        }
        self.refuse_during_backup(&row, "change its specification").await?;
        let old_class = catalogue.class(&row.class_code);
        let restart = old_class.is_none_or(|old| old.settings() != class.settings());
        let mut changed = row.clone();
        changed.class_code = class.code.to_string();
        changed.storage_gb = storage_gb;
        if !restart {
            if changed.class_code != row.class_code || changed.storage_gb != row.storage_gb {
                self.store.update_instance_if(&changed, InstanceStatus::Running).await.map_err(|e| self.state_conflict(&row, e))?;
                tracing::info!(instance = %id, class = %changed.class_code, storage_gb, "specification changed; no restart needed");
            }
            return Ok(changed);
        }
        changed.status = InstanceStatus::DBInstanceClassChanging;
        self.store.update_instance_if(&changed, InstanceStatus::Running).await.map_err(|e| self.state_conflict(&row, e))?;
        tracing::info!(instance = %id, from = %row.class_code, to = %changed.class_code, storage_gb, "changing the instance's class");
        self.spawn_apply_spec(changed.clone());
        Ok(changed)
    }

    /// Restarts the engine with the row's (new) class, then `Running` whatever the outcome:
    /// the supervisor keeps starting an engine that did not come back.
    pub(crate) fn spawn_apply_spec(&self, row: InstanceRow) {
        let Some(plane) = self.self_arc() else { return };
        self.tasks.spawn(async move {
            let result = async {
                let engine = plane.engine_of(&row)?.clone();
                let spec = plane.spec(&row)?;
                let _engine = plane.lock_engine(&row.id).await;
                engine.restart(&spec).await?;
                Ok::<_, ControlError>(())
            }
            .await;
            match &result {
                Ok(()) => tracing::info!(instance = %row.id, class = %row.class_code, "the new class is in effect"),
                Err(e) => tracing::error!(instance = %row.id, error = %e, "restart with the new class failed; the supervisor keeps trying to start it"),
            }
            let _ = plane.store.transition_instance(&row.id, &[InstanceStatus::DBInstanceClassChanging], InstanceStatus::Running).await;
        });
    }

    /// StopDBInstance: `Running` → `Stopping` → `Stopped`. The supervisor leaves a stopped
    /// instance alone, and nothing is backed up or archived from it.
    pub async fn stop_instance(&self, caller: &Caller, id: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::StopDBInstance, id).await?;
        Self::require_running(&row)?;
        self.refuse_during_backup(&row, "stop it").await?;
        self.transition_from_running(&row, InstanceStatus::Stopping).await?;
        tracing::info!(instance = %id, "stopping instance");
        self.spawn_stop(row);
        Ok(())
    }

    pub(crate) fn spawn_stop(&self, row: InstanceRow) {
        let Some(plane) = self.self_arc() else { return };
        self.tasks.spawn(async move {
            // What the log holds up to now is archived while the engine can still close it;
            // a stopped instance must be restorable to its last moment, so no log, no stop.
            let result = async {
                plane.sweep_logs(&row, true).await?;
                let engine = plane.engine_of(&row)?.clone();
                let spec = plane.spec(&row)?;
                let _engine = plane.lock_engine(&row.id).await;
                engine.stop(&spec).await?;
                Ok::<_, ControlError>(())
            }
            .await;
            match result {
                Ok(()) => {
                    let _ = plane.store.transition_instance(&row.id, &[InstanceStatus::Stopping], InstanceStatus::Stopped).await;
                    tracing::info!(instance = %row.id, "instance stopped");
                }
                // Not stopped: back to Running (the supervisor starts the engine if it went
                // down), with an event saying why; the caller may try again.
                Err(e) => {
                    tracing::error!(instance = %row.id, error = %e, "stopping the instance failed; it stays Running");
                    let _ = plane.store.append_event(&format!("dbinstance/{}", row.id), "StopFailed", &serde_json::json!({"error": e.to_string()}).to_string()).await;
                    let _ = plane.store.transition_instance(&row.id, &[InstanceStatus::Stopping], InstanceStatus::Running).await;
                }
            }
        });
    }

    /// StartDBInstance: `Stopped` → `Rebooting` (the state table has no starting state) →
    /// `Running`.
    pub async fn start_instance(&self, caller: &Caller, id: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::StartDBInstance, id).await?;
        match self.store.transition_instance(&row.id, &[InstanceStatus::Stopped], InstanceStatus::Rebooting).await {
            Ok(_) => {}
            Err(StoreError::Conflict { actual, .. }) => {
                return Err(ControlError::IncorrectInstanceState(format!("Instance {id} is {actual}; only a Stopped instance can be started.")))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(instance = %id, "starting instance");
        self.spawn_restart(row);
        Ok(())
    }

    /// ModifyDBInstanceDescription.
    pub async fn modify_instance_description(&self, caller: &Caller, id: &str, description: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifyDBInstanceDescription, id).await?;
        check_description("DBInstanceDescription", description)?;
        self.update_settled(&row, |r| r.description = description.to_string()).await
    }

    /// ModifyDBInstanceDeletionProtection: DeleteDBInstance is refused while it is on.
    pub async fn modify_deletion_protection(&self, caller: &Caller, id: &str, protect: bool) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifyDBInstanceDeletionProtection, id).await?;
        self.update_settled(&row, |r| r.deletion_protection = protect).await
    }

    /// ModifyDBInstanceMaintainTime: `HH:mmZ-HH:mmZ`, on the hour or half hour as
    /// Alibaba's console offers (openrds runs no maintenance yet; the window is kept and shown).
    pub async fn modify_maintain_time(&self, caller: &Caller, id: &str, window: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifyDBInstanceMaintainTime, id).await?;
        check_window(window)?;
        self.update_settled(&row, |r| r.maintain_time = window.to_string()).await
    }

    /// A restart or stop under a running backup would fail it; the caller waits for it.
    async fn refuse_during_backup(&self, row: &InstanceRow, what: &str) -> Result<()> {
        let running = BackupFilter {
            account_uid: Some(row.account_uid.clone()),
            instance_id: Some(row.id.clone()),
            status: Some(vec![BackupStatus::Pending, BackupStatus::Running]),
            ..Default::default()
        };
        if self.store.list_backups(&running, None).await?.total > 0 {
            return Err(ControlError::IncorrectInstanceState(format!("Instance {} is being backed up; {what} once the backup has ended.", row.id)));
        }
        Ok(())
    }

    /// Changes fields of a row that no transient work is about to rewrite.
    async fn update_settled(&self, row: &InstanceRow, change: impl FnOnce(&mut InstanceRow)) -> Result<()> {
        let mut changed = row.clone();
        change(&mut changed);
        self.store.update_instance_if(&changed, row.status).await.map_err(|e| self.state_conflict(row, e))
    }

    pub(crate) fn state_conflict(&self, row: &InstanceRow, e: StoreError) -> ControlError {
        match e {
            StoreError::Conflict { actual, .. } if actual == store::CHANGED_SINCE_READ => {
                ControlError::IncorrectInstanceState(format!("Instance {} was changed by another call meanwhile; read it again and retry.", row.id))
            }
            StoreError::Conflict { actual, .. } => ControlError::InstanceState { id: row.id.clone(), status: InstanceStatus::parse(&actual).unwrap_or(row.status) },
            e => e.into(),
        }
    }
}

/// A description (of an instance, a database or an account): Alibaba's rules, 2 to 256
/// characters, not starting with `http://` or `https://`.
pub(crate) fn check_description(name: &str, text: &str) -> Result<()> {
    let n = text.chars().count();
    if !(2..=256).contains(&n) {
        return Err(ControlError::invalid(name, "it must be 2 to 256 characters long"));
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        return Err(ControlError::invalid(name, "it must not start with http:// or https://"));
    }
    Ok(())
}

/// `HH:mmZ-HH:mmZ`, a window of whole or half hours that does not end where it starts.
fn check_window(window: &str) -> Result<()> {
    let bad = || ControlError::invalid("MaintainTime", format!("{window:?} is not a window like 02:00Z-06:00Z (UTC, whole or half hours)"));
    let (from, to) = window.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Option<u32> {
        let t = t.strip_suffix('Z')?;
        let (h, m) = t.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && (m == 0 || m == 30)).then_some(h * 60 + m)
    };
    match (minutes(from), minutes(to)) {
        (Some(a), Some(b)) if a != b => Ok(()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_or_half_hours_in_utc() {
        for ok in ["02:00Z-06:00Z", "23:30Z-01:00Z", "00:00Z-00:30Z"] {
            assert!(check_window(ok).is_ok(), "{ok}");
        }
        for bad in ["02:00-06:00", "02:15Z-06:00Z", "24:00Z-01:00Z", "02:00Z-02:00Z", "2:00Z-6:00Z", "", "02:00Z"] {
            assert!(check_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_follow_alibaba_s_rules() {
        assert!(check_description("D", "orders database").is_ok());
        assert!(check_description("D", "x").is_err());
        assert!(check_description("D", &"y".repeat(257)).is_err());
        assert!(check_description("D", "https://example.com").is_err());
    }
}
