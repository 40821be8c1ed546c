//! Backups with MariaDB's own tool, `mariadb-backup`.

use super::MariaDbEngine;
use engine::backup::BackupSet;
use engine::{EngineError, ErrorKind, InstanceSpec};
use std::path::Path;

fn not_yet() -> EngineError {
    EngineError::new(ErrorKind::Internal, "MariaDB backups are not built yet")
}

#[async_trait::async_trait]
impl engine::Backups for MariaDbEngine {
    async fn take_backup(&self, _spec: &InstanceSpec, _target: &Path) -> Result<BackupSet, EngineError> {
        Err(not_yet())
    }

    async fn verify_backup(&self, _backup: &Path) -> Result<(), EngineError> {
        Err(not_yet())
    }

    async fn provision_from_backup(&self, _spec: &InstanceSpec, _backup: &Path) -> Result<(), EngineError> {
        Err(not_yet())
    }
}
