//! What an instance uses and what went wrong on it: DescribeResourceUsage (its disk, its
//! backups and archived logs), DescribeErrorLogs (the errors its server logged) and
//! DescribeSlowLogRecords (the statements it logged as slow).

use crate::{Caller, ControlPlane, Result};
use chrono::{DateTime, Utc};
use store::{BackupFilter, BackupStatus, InstanceRow};
use wire::Action;

/// DescribeResourceUsage's figures, in bytes.
#[derive(Debug, Clone)]
pub struct ResourceUsage {
    pub row: InstanceRow,
    /// The databases' data, as the engine measures it.
    pub data: u64,
    /// Everything else of the instance on disk: the engine's logs (WAL, binary and redo
    /// logs, the server log), its catalogs and configuration.
    pub log: u64,
    /// Successful backup sets of the instance.
    pub backup_data: u64,
    /// Its archived log.
    pub backup_log: u64,
}

impl ControlPlane {
    pub async fn resource_usage(&self, caller: &Caller, id: &str) -> Result<ResourceUsage> {
        let row = self.authorized_instance(caller, Action::DescribeResourceUsage, id).await?;
        let engine = self.engine_of(&row)?;
        let spec = self.spec(&row)?;
        let data = engine.disk_used(&spec).await.unwrap_or(0);
        let (dir, logs) = (spec.dir.clone(), self.logs_dir(&row.id));
        let (on_disk, backup_log) = engine::backup::blocking(move || Ok((engine::backup::size_of(&dir), engine::backup::size_of(&logs)))).await?;
        let sets = BackupFilter {
            account_uid: Some(row.account_uid.clone()),
            instance_id: Some(row.id.clone()),
            status: Some(vec![BackupStatus::Success]),
            ..Default::default()
        };
        let backup_data = self.store.list_backups(&sets, None).await?.items.iter().map(|b| b.size_bytes.max(0) as u64).sum();
        Ok(ResourceUsage { log: on_disk.saturating_sub(data), data, backup_data, backup_log, row })
    }

    /// DescribeSlowLogRecords: the statements the instance's server logged as slow that
    /// started in [`from`, `to`], of database `db` if given.
    pub async fn slow_log_records(&self, caller: &Caller, id: &str, from: DateTime<Utc>, to: DateTime<Utc>, db: Option<&str>) -> Result<(InstanceRow, Vec<engine::SlowQuery>)> {
        let row = self.authorized_instance(caller, Action::DescribeSlowLogRecords, id).await?;
        let engine = self.engine_of(&row)?;
        let mut records = engine.slow_log(&self.spec(&row)?, from.timestamp_millis(), to.timestamp_millis()).await?;
        if let Some(db) = db {
            records.retain(|r| r.database == db);
        }
        Ok((row, records))
    }

    /// DescribeErrorLogs: the errors the instance's server logged in [`from`, `to`].
    pub async fn error_logs(&self, caller: &Caller, id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<engine::ErrorLogEntry>> {
        let row = self.authorized_instance(caller, Action::DescribeErrorLogs, id).await?;
        let engine = self.engine_of(&row)?;
        Ok(engine.error_log(&self.spec(&row)?, from.timestamp_millis(), to.timestamp_millis()).await?)
    }
}
