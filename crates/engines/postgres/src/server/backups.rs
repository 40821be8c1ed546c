//! Backups with PostgreSQL's own tools: `pg_basebackup` streams a plain copy of the
//! cluster with the WAL that makes it consistent (`-X stream`) and a manifest of CRC32C
//! checksums; `pg_verifybackup` checks files and WAL against it. A server restored from
//! it starts from its `backup_label`, replays that WAL, and opens.

use super::PostgresEngine;
use engine::backup::{self, BackupSet};
use engine::isolation::Confinement;
use engine::lifecycle::{self, data_dir};
use engine::{instance_dir, process, EngineError, ErrorKind, InstanceSpec};
use std::path::Path;

#[async_trait::async_trait]
impl engine::Backups for PostgresEngine {
    async fn take_backup(&self, spec: &InstanceSpec, target: &Path) -> Result<BackupSet, EngineError> {
        backup::into_new_target(target, || self.take_into(spec, target)).await
    }

    async fn verify_backup(&self, backup_dir: &Path) -> Result<(), EngineError> {
        let owned = backup_dir.to_path_buf();
        backup::blocking(move || backup::check_manifest(&owned)).await?;
        self.verify_with_tool(backup_dir).await
    }

    async fn provision_from_backup(&self, spec: &InstanceSpec, backup_dir: &Path) -> Result<(), EngineError> {
        lifecycle::provision_from_backup(self, spec, backup_dir).await
    }
}

impl PostgresEngine {
    async fn take_into(&self, spec: &InstanceSpec, target: &Path) -> Result<BackupSet, EngineError> {
        let admin = super::lifecycle::read_admin(spec)?;
        let data = backup::data_of(target);
        let port = admin.port.to_string();
        let args: Vec<std::ffi::OsString> = vec![
            "-h".into(),
            admin.host.clone().into(),
            "-p".into(),
            port.into(),
            "-U".into(),
            admin.user.clone().into(),
            "-D".into(),
            data.clone().into(),
            "-F".into(),
            "p".into(),
            "-X".into(),
            "stream".into(),
            // A spread checkpoint could hold the backup for minutes; the copy that
            // follows does the same I/O anyway.
            "-c".into(),
            "fast".into(),
            "--no-password".into(),
            "--label".into(),
            format!("openrds {}", spec.id).into(),
        ];
        // Run as openrds, not the instance's user: the backup is openrds's, and the
        // server sees only a replication client.
        process::run_with_env(&self.bin("pg_basebackup"), args, None, &format!("back up instance {}", spec.id), &[("PGPASSWORD", &admin.password)])
            .await
            .map_err(|e| EngineError::new(if e.kind == ErrorKind::HostSetup { e.kind } else { ErrorKind::Unavailable }, e.message))?;
        let consistent_at = backup::now_unix();
        backup::keep_admin(spec, target)?;
        self.verify_with_tool(target).await?;
        let (log_start, log_end) = wal_range(&data)?;
        let sealed = target.to_path_buf();
        let checksum = backup::blocking(move || backup::seal(&sealed)).await?;
        Ok(BackupSet { size_bytes: backup::size_of(target), checksum, consistent_at, log_start, log_end })
    }

    /// `pg_verifybackup`: every file and the WAL against the backup's own manifest.
    async fn verify_with_tool(&self, backup_dir: &Path) -> Result<(), EngineError> {
        let data = backup::data_of(backup_dir);
        process::run(&self.bin("pg_verifybackup"), [data.as_os_str()], None, &format!("verify backup {}", backup_dir.display()))
            .await
            .map_err(|e| EngineError::new(if e.kind == ErrorKind::HostSetup { e.kind } else { ErrorKind::Corrupt }, e.message))
    }
}

/// The WAL range the backup needs, from its manifest.
fn wal_range(data: &Path) -> Result<(String, String), EngineError> {
    let path = data.join("backup_manifest");
    let text = std::fs::read_to_string(&path).map_err(|e| EngineError::new(ErrorKind::Corrupt, format!("read {}: {e}", path.display())))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EngineError::new(ErrorKind::Corrupt, format!("{} is not JSON: {e}", path.display())))?;
    let ranges = manifest.get("WAL-Ranges").and_then(|r| r.as_array()).cloned().unwrap_or_default();
    let lsn = |range: Option<&serde_json::Value>, key: &str| range.and_then(|r| r.get(key)).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Ok((lsn(ranges.first(), "Start-LSN"), lsn(ranges.last(), "End-LSN")))
}

impl PostgresEngine {
    /// A new instance's data directory is the backup's, given to the instance's user; the
    /// server then recovers from the backup label when it starts.
    pub(super) async fn lay_out_from(&self, spec: &InstanceSpec, confinement: Option<&Confinement>, backup_dir: &Path) -> Result<(), EngineError> {
        let run_as = confinement.map(Confinement::owner);
        instance_dir::create_instance_dir(spec, run_as)?;
        let (from, data) = (backup::data_of(backup_dir), data_dir(spec));
        if !from.join("PG_VERSION").is_file() {
            return Err(EngineError::new(ErrorKind::Corrupt, format!("the backup {} holds no PostgreSQL data directory", backup_dir.display())));
        }
        let to = data.clone();
        backup::blocking(move || backup::copy_tree(&from, &to)).await?;
        // The manifest describes the backup, not the server that grows from it.
        let _ = std::fs::remove_file(data.join("backup_manifest"));
        if let Some(user) = run_as {
            engine::isolation::chown_tree(&data, user)?;
        }
        instance_dir::ensure_log(spec, run_as)?;
        backup::restore_admin(backup_dir, spec)?;
        lifecycle::start(self, spec).await
    }
}
