//! What the fleet looks like now, for monitoring (the server's `/metrics`, `/ready`):
//! instances with whether their engine runs and the storage they use, tasks by state, and
//! what imports have moved since this process started. Storage is sampled in the
//! background (it takes a query per instance), everything else is read when asked.

use crate::{ControlPlane, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{BackupStatus, ImportStatus, InstanceFilter, InstanceStatus};

/// How often the storage each running instance uses is measured.
const SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// One instance as monitoring sees it.
#[derive(Debug, Clone)]
pub struct InstanceHealth {
    pub id: String,
    pub engine: String,
    pub status: InstanceStatus,
    /// Whether the engine's server process runs.
    pub up: bool,
    /// Bytes its databases use, as last sampled (none yet, or not running).
    pub used_bytes: Option<u64>,
    /// Its storage quota (`DBInstanceStorage`) in bytes.
    pub capacity_bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct FleetStatus {
    pub instances: Vec<InstanceHealth>,
    pub imports: Vec<(ImportStatus, u64)>,
    pub backups: Vec<(BackupStatus, u64)>,
    /// Bytes and rows published by imports that succeeded since this process started.
    pub imported_bytes: u64,
    pub imported_rows: u64,
}

/// Totals of the imports this process ran to success.
#[derive(Debug, Default)]
pub(crate) struct ImportTotals {
    bytes: AtomicU64,
    rows: AtomicU64,
}

impl ImportTotals {
    pub(crate) fn add(&self, bytes: u64, rows: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

impl ControlPlane {
    /// The fleet now (every account's instances: this is the operator's view).
    pub async fn fleet_status(&self) -> Result<FleetStatus> {
        let rows = self.store.list_instances(&InstanceFilter::default(), None).await?.items;
        let sampled = self.storage_samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut instances = Vec::with_capacity(rows.len());
        for row in rows {
            let up = match (self.engine_of(&row), self.spec(&row)) {
                (Ok(engine), Ok(spec)) => engine.server_running(&spec),
                _ => false,
            };
            instances.push(InstanceHealth {
                used_bytes: sampled.get(&row.id).copied(),
                capacity_bytes: (row.storage_gb.max(0) as u64).saturating_mul(self.config.storage_unit_bytes),
                id: row.id,
                engine: row.engine,
                status: row.status,
                up,
            });
        }
        Ok(FleetStatus {
            instances,
            imports: self.store.import_counts().await?,
            backups: self.store.backup_counts().await?,
            imported_bytes: self.import_totals.bytes.load(Ordering::Relaxed),
            imported_rows: self.import_totals.rows.load(Ordering::Relaxed),
        })
    }

    /// Whether the metadata store answers (what every call needs).
    pub async fn ready(&self) -> Result<()> {
        self.store.get_account(&self.root.uid).await?;
        Ok(())
    }

    /// Measures, every [`SAMPLE_EVERY`], the storage each running instance uses.
    pub(crate) fn spawn_storage_sampler(&self) {
        let Some(plane) = self.self_arc() else { return };
        crate::supervisor::on_running_instances(&plane, SAMPLE_EVERY, |plane, rows| async move {
            let mut samples = HashMap::with_capacity(rows.len());
            for row in &rows {
                let (Ok(engine), Ok(spec)) = (plane.engine_of(row), plane.spec(row)) else { continue };
                if let Ok(used) = engine.disk_used(&spec).await {
                    samples.insert(row.id.clone(), used);
                }
            }
            *plane.storage_samples.lock().unwrap_or_else(|e| e.into_inner()) = samples;
        });
    }
}
