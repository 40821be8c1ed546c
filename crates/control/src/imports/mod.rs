//! ImportDatabaseBetweenInstances, by responsibility: [`start`] checks the preconditions
//! (in the order of the shared API.md, none of which changes anything) and writes the
//! task row together with the instances' `Migrating`/`Importing` states; [`run`] runs the
//! copy with the engine's copier as a tracked, cancellable background task; [`recover`]
//! finishes or undoes the tasks a crash interrupted. Reading and cancelling tasks is here.

mod recover;
mod run;
mod start;
mod task;

pub use task::ImportTask;
pub(crate) use start::major;

use wire::Action;
use store::{ImportPhase, ImportStatus};
use crate::{dbinfo, Caller, ControlError, ControlPlane, Result};
use chrono::{DateTime, Utc};
use engine::{AdminConnection, InstanceSpec};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{ImportChange, ImportFilter, ImportTaskRow, InstanceRow, Page, Paged, StoreError};
use tokio_util::sync::CancellationToken;


/// How many times a task is tried (first run plus retries after retryable failures or
/// restarts) before it ends `Failed`.
pub const MAX_ATTEMPTS: i64 = 3;

const GIB: u64 = 1 << 30;


/// Crash points for recovery tests (feature `failpoints`): `OPENRDS_FAILPOINT=<name>`
/// ends the process at `name`, as a crash would.
fn failpoint(name: &str) {
    failpoint::exit_if_armed(name);
}

fn endpoint(admin: AdminConnection) -> mover::Endpoint {
    mover::Endpoint { host: admin.host, port: admin.port, user: admin.user, password: admin.password }
}


impl ControlPlane {
    /// Finds a task the caller may see through `instance_id` (source or destination). A
    /// task belongs to both its instances, so RAM must allow `action` on both: a user
    /// allowed on one instance neither reads nor cancels what runs into the other.
    async fn owned_import(&self, caller: &Caller, instance_id: &str, import_id: i64, action: Action) -> Result<ImportTaskRow> {
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
            // A recovery's private server: openrds's own, nobody's to protect.
            Ok(row) if row.is_private() => {}
            Ok(row) => {
                let arn = iam::rds_instance_arn(&row.region_id, &row.account_uid, &row.id);
                self.authorize(caller, action, &arn, &row.tags).await?;
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
        action: Action,
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
        self.owned_import(caller, instance_id, import_id, Action::DescribeImportProgress).await
    }

    /// `Pending`/`Running` → `Canceling`; the runner then drops the staging databases
    /// and ends the task `Canceled`.
    pub async fn cancel_import(&self, caller: &Caller, instance_id: &str, import_id: i64) -> Result<()> {
        self.owned_import(caller, instance_id, import_id, Action::CancelImport).await?;
        let change = ImportChange {
            status_in: vec![ImportStatus::Pending, ImportStatus::Running],
            phase_not: Some(ImportPhase::Publishing),
            status: Some(ImportStatus::Canceling),
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
                match task.status {
                    ImportStatus::Canceling => Ok(()),
                    ImportStatus::Pending | ImportStatus::Running => Err(ControlError::ImportState(format!(
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
}
