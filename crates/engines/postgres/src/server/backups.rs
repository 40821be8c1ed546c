//! Backups with PostgreSQL's own tools: `pg_basebackup` streams a plain copy of the
//! cluster with the WAL that makes it consistent (`-X stream`) and a manifest of CRC32C
//! checksums; `pg_verifybackup` checks files and WAL against it. A server restored from
//! it starts from its `backup_label`, replays that WAL, and opens.

use super::PostgresEngine;
use engine::backup::{self, BackupSet};
use engine::isolation::Confinement;
use engine::lifecycle::{self, data_dir};
use engine::instance_dir::host_error;
use engine::{instance_dir, process, EngineError, ErrorKind, InstanceSpec, RestoreTarget};
use std::path::Path;
use std::time::Duration;
use super::sql::{conf_string, pg_error};

#[async_trait::async_trait]
impl engine::Backups for PostgresEngine {
    async fn take_backup(&self, spec: &InstanceSpec, target: &Path) -> Result<BackupSet, EngineError> {
        backup::into_new_target(target, || self.take_into(spec, target)).await
    }

    async fn verify_backup(&self, backup_dir: &Path) -> Result<(), EngineError> {
        let owned = backup_dir.to_path_buf();
        let (manifest, tool) = tokio::join!(backup::blocking(move || backup::check_manifest(&owned)), self.verify_with_tool(backup_dir));
        manifest.and(tool)
    }

    async fn provision_from_backup(&self, spec: &InstanceSpec, backup_dir: &Path, target: Option<&RestoreTarget>) -> Result<(), EngineError> {
        lifecycle::provision_from_backup(self, spec, backup_dir, target).await
    }

    fn archives_logs(&self) -> bool {
        true
    }

    /// A transaction committed now (so a restore to any earlier moment finds a commit past
    /// its target and stops there), then the segment switched and waited for in the archive.
    async fn close_log(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let fail = |e| pg_error(e, &format!("close the WAL of instance {}", spec.id));
        c.simple_query("SELECT txid_current()").await.map_err(fail)?;
        let row = c.query_one("SELECT pg_walfile_name(pg_switch_wal())", &[]).await.map_err(fail)?;
        let segment: String = row.get(0);
        let deadline = tokio::time::Instant::now() + ARCHIVE_WAIT;
        loop {
            let row = c.query_one("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", &[]).await.map_err(fail)?;
            let archived: String = row.get(0);
            // Names of one timeline sort in WAL order.
            if archived.len() == segment.len() && archived >= segment {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::new(
                    ErrorKind::Unavailable,
                    format!("instance {}: WAL segment {segment} was not archived within {}s (last archived: {archived:?})", spec.id, ARCHIVE_WAIT.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn archive_logs(&self, spec: &InstanceSpec, into: &Path) -> Result<u64, EngineError> {
        let (from, into) = (super::lifecycle::wal_archive(spec), into.to_path_buf());
        backup::blocking(move || move_finished(&from, &into)).await
    }
}

/// How long a switched WAL segment may take to reach the archive.
const ARCHIVE_WAIT: Duration = Duration::from_secs(30);

/// Moves every finished file of `from` (not a `.part` the archive command is writing) into
/// `into` ([`backup::archive_log_file`]: renamed on one filesystem, else copied, synced and
/// then removed from `from`, so a crash between the two leaves it in both places, never in
/// neither).
fn move_finished(from: &Path, into: &Path) -> Result<u64, EngineError> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(0) };
    let mut moved = 0;
    for entry in entries {
        let entry = entry.map_err(|e| host_error(format!("read {}", from.display()), e))?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".part") || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if moved == 0 {
            std::fs::create_dir_all(into).map_err(|e| host_error(format!("create {}", into.display()), e))?;
        }
        backup::archive_log_file(&entry.path(), &into.join(&name), backup::Handover::Move)?;
        moved += 1;
    }
    Ok(moved)
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
        process::run_for_task(&self.bin("pg_basebackup"), args, &format!("back up instance {}", spec.id), &[("PGPASSWORD", &admin.password)])
            .await
            .map_err(|e| EngineError::new(if e.kind == ErrorKind::HostSetup { e.kind } else { ErrorKind::Unavailable }, e.message))?;
        let consistent_at = backup::now_unix();
        backup::keep_admin(spec, target)?;
        // Both read every file: side by side, on two cores, they take the time of the
        // longer (a 1 GB backup: 0.55 s instead of 0.9 s, bench/RESULTS.md).
        let sealed = target.to_path_buf();
        let (verified, checksum) = tokio::join!(self.verify_with_tool(target), backup::blocking(move || backup::seal(&sealed)));
        verified?;
        let checksum = checksum?;
        let (log_start, log_end) = wal_range(&data)?;
        Ok(BackupSet { size_bytes: backup::size_of(target), checksum, consistent_at, log_start, log_end })
    }

    /// `pg_verifybackup`: every file and the WAL against the backup's own manifest.
    async fn verify_with_tool(&self, backup_dir: &Path) -> Result<(), EngineError> {
        let data = backup::data_of(backup_dir);
        process::run_for_task(&self.bin("pg_verifybackup"), [data.as_os_str()], &format!("verify backup {}", backup_dir.display()), &[])
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
    /// server then recovers from the backup label when it starts. With a target, it first
    /// replays the archived WAL (copied into its own directory, the only one it sees) up to
    /// the target time, promotes, and only then opens to connections.
    pub(super) async fn lay_out_from(
        &self,
        spec: &InstanceSpec,
        confinement: Option<&Confinement>,
        backup_dir: &Path,
        target: Option<&RestoreTarget>,
    ) -> Result<(), EngineError> {
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
        let replay = spec.dir.join("restore-wal");
        if let Some(target) = target {
            let (logs, copy) = (target.logs.clone(), replay.clone());
            backup::blocking(move || if logs.is_dir() { backup::copy_tree(&logs, &copy) } else { std::fs::create_dir(&copy).map_err(|e| host_error(format!("create {}", copy.display()), e)) }).await?;
            std::fs::write(data.join("recovery.signal"), b"").map_err(|e| host_error("write recovery.signal".into(), e))?;
            let restore = data.join(super::lifecycle::RESTORE_SETTINGS);
            std::fs::write(&restore, restore_settings(&replay, target.until_unix)).map_err(|e| host_error(format!("write {}", restore.display()), e))?;
            if let Some(user) = run_as {
                engine::isolation::chown_tree(&replay, user)?;
            }
        }
        if let Some(user) = run_as {
            engine::isolation::chown_tree(&data, user)?;
        }
        instance_dir::ensure_log(spec, run_as)?;
        backup::restore_admin(backup_dir, spec)?;
        lifecycle::start(self, spec).await?;
        if target.is_some() {
            // Promoted: the settings of the replay have done their work.
            let _ = std::fs::remove_file(data.join(super::lifecycle::RESTORE_SETTINGS));
            let _ = std::fs::remove_dir_all(&replay);
        }
        Ok(())
    }
}

/// The recovery settings of a point-in-time restore: replay the archived WAL in `replay`
/// up to and including the transactions committed at `until` (unix seconds), then promote.
/// Closed to connections until then (no hot standby), so the server that answers is the
/// restored one.
fn restore_settings(replay: &Path, until: Option<i64>) -> String {
    let dir = replay.to_string_lossy().replace('%', "%%");
    let command = format!("cp '{}'/%f %p", dir.replace('\'', "'\\''"));
    // Without a target the server replays all it is given, then promotes itself.
    let target = match until {
        Some(until) => format!(
            "recovery_target_time = {}\nrecovery_target_inclusive = on\nrecovery_target_action = 'promote'\n",
            conf_string(&utc_timestamp(until))
        ),
        None => String::new(),
    };
    format!(
        "# Written by openrds for a point-in-time restore; removed once the server is promoted.\n\
         restore_command = {}\n\
         {target}\
         hot_standby = off\n",
        conf_string(&command),
    )
}

/// `YYYY-MM-DD HH:MM:SS+00` of unix seconds, as recovery_target_time reads it.
fn utc_timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%S+00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_targets_are_utc_timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00+00");
        assert_eq!(utc_timestamp(1_796_401_955), "2026-12-04 16:32:35+00");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29 00:00:00+00");
        let conf = restore_settings(Path::new("/srv/i/restore-wal"), Some(0));
        assert!(conf.contains("restore_command = 'cp ''/srv/i/restore-wal''/%f %p'"), "{conf}");
        assert!(conf.contains("recovery_target_time = '1970-01-01 00:00:00+00'"), "{conf}");
        let whole = restore_settings(Path::new("/srv/i/restore-wal"), None);
        assert!(whole.contains("restore_command") && !whole.contains("recovery_target"), "{whole}");
    }

    #[test]
    fn finished_segments_move_and_those_being_written_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, into) = (tmp.path().join("a"), tmp.path().join("b"));
        assert_eq!(move_finished(&from, &into).unwrap(), 0, "no archive yet");
        std::fs::create_dir(&from).unwrap();
        std::fs::write(from.join("000000010000000000000001"), b"one").unwrap();
        std::fs::write(from.join("000000010000000000000002.part"), b"half").unwrap();
        assert_eq!(move_finished(&from, &into).unwrap(), 1);
        assert_eq!(std::fs::read(into.join("000000010000000000000001")).unwrap(), b"one");
        assert!(!from.join("000000010000000000000001").exists() && from.join("000000010000000000000002.part").exists());
        assert!(!into.join("000000010000000000000002.part").exists());
    }
}
