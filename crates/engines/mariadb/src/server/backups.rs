//! Backups with MariaDB's own tool, `mariadb-backup`: it copies the running server's data
//! files together with the redo log written meanwhile (holding writes back only for the
//! moments its backup locks need), and `--prepare` then applies that log, so the backup's
//! `data/` is a consistent data directory a server opens as it is. The tool keeps no
//! manifest: the shared one (`engine::backup`) is the whole check.

use super::MariaDbEngine;
use engine::backup::{self, BackupSet};
use engine::instance_dir::{self, host_error, write_private};
use engine::lifecycle::{self, data_dir};
use engine::process::{self, RunAs};
use engine::{EngineError, ErrorKind, InstanceSpec};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The tool's account of a backup in its data directory (renamed from `xtrabackup_` in
/// later MariaDB releases): its kind and the redo log it spans, and the binary log
/// position it is consistent at when the server writes one.
const CHECKPOINTS: &[&str] = &["xtrabackup_checkpoints", "mariadb_backup_checkpoints"];
const BINLOG_INFO: &[&str] = &["xtrabackup_binlog_info", "mariadb_backup_binlog_info"];

#[async_trait::async_trait]
impl engine::Backups for MariaDbEngine {
    async fn take_backup(&self, spec: &InstanceSpec, target: &Path) -> Result<BackupSet, EngineError> {
        instance_dir::require_tools(&[self.backup_tool()], "mariadb-backup")?;
        backup::into_new_target(target, || self.take_into(spec, target)).await
    }

    async fn verify_backup(&self, backup_dir: &Path) -> Result<(), EngineError> {
        let owned = backup_dir.to_path_buf();
        backup::blocking(move || backup::check_manifest(&owned)).await
    }

    async fn provision_from_backup(&self, spec: &InstanceSpec, backup_dir: &Path, target: Option<&engine::RestoreTarget>) -> Result<(), EngineError> {
        lifecycle::provision_from_backup(self, spec, backup_dir, target).await
    }

    fn archives_logs(&self) -> bool {
        true
    }

    async fn close_log(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        self.close_binlog(spec).await
    }

    async fn archive_logs(&self, spec: &InstanceSpec, into: &Path) -> Result<u64, EngineError> {
        self.archive_binlog(spec, into).await
    }
}

impl MariaDbEngine {
    fn backup_tool(&self) -> PathBuf {
        self.config.bin_dir.join("mariadb-backup")
    }

    async fn take_into(&self, spec: &InstanceSpec, target: &Path) -> Result<BackupSet, EngineError> {
        let admin = super::lifecycle::read_admin(spec)?;
        let data = backup::data_of(target);
        // The password goes in a file only openrds reads, never on the command line where
        // the host's process list shows it; the file lives only while the tool runs.
        let options = target.join("client.cnf");
        write_private(&options, &backup_options(spec, &admin.password))?;
        let args: Vec<OsString> = vec![
            // Must come first: the tool then reads nothing but the instance's own settings
            // (through the include), not /etc/mysql.
            format!("--defaults-file={}", options.display()).into(),
            "--backup".into(),
            format!("--target-dir={}", data.display()).into(),
            // The tool reads the server's files itself, as openrds (root), unconfined: the
            // backup is openrds's, and the instance's user could not write it there.
            format!("--datadir={}", data_dir(spec).display()).into(),
            // Not the instance's tmp/ from my.cnf: its user controls that directory, and
            // the tool runs as root.
            format!("--tmpdir={}", target.display()).into(),
            // A socket moved to /tmp by a long path is only visible in the instance's namespace.
            "--protocol=tcp".into(),
            format!("--host={}", admin.host).into(),
            format!("--port={}", admin.port).into(),
            format!("--user={}", admin.user).into(),
        ];
        let result = self.run_backup_tool(args, &format!("back up instance {}", spec.id)).await;
        let removed = std::fs::remove_file(&options).map_err(|e| host_error(format!("remove {}", options.display()), e));
        result?;
        removed?;
        let consistent_at = backup::now_unix();

        let args: Vec<OsString> = vec![
            // The settings the backup was taken with, which the tool wrote next to the
            // data; the host's option files have no say.
            format!("--defaults-file={}", data.join("backup-my.cnf").display()).into(),
            "--prepare".into(),
            format!("--target-dir={}", data.display()).into(),
            format!("--tmpdir={}", target.display()).into(),
        ];
        self.run_backup_tool(args, &format!("prepare the backup of instance {}", spec.id)).await?;
        backup::keep_admin(spec, target)?;
        let (log_start, log_end) = log_range(&data);
        let sealed = target.to_path_buf();
        let checksum = backup::blocking(move || backup::seal(&sealed)).await?;
        Ok(BackupSet { size_bytes: backup::size_of(target), checksum, consistent_at, log_start, log_end })
    }

    async fn run_backup_tool(&self, args: Vec<OsString>, what: &str) -> Result<(), EngineError> {
        process::run_for_task(&self.backup_tool(), args, what, &[])
            .await
            .map_err(|e| EngineError::new(if e.kind == ErrorKind::HostSetup { e.kind } else { ErrorKind::Unavailable }, e.message))
    }
}

/// The option file of one backup run: the instance's own settings (InnoDB's layout as the
/// server has it) and the administrator's password.
fn backup_options(spec: &InstanceSpec, password: &str) -> String {
    format!(
        "!include {}\n[mariadb-backup]\npassword = {}\n",
        spec.dir.join("my.cnf").display(),
        cnf_quote(password)
    )
}

/// A value in an option file: double-quoted, where backslashes escape.
pub(super) fn cnf_quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r");
    format!("\"{escaped}\"")
}

/// The first of `names` present in `data`, read.
fn read_first(data: &Path, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::fs::read_to_string(data.join(n)).ok())
}

/// `key = value` of the tool's checkpoints file.
fn checkpoint(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The binary log position a backup in `data` is consistent at (file name, offset), which
/// the tool took while commits were blocked: a replay from there misses and repeats
/// nothing. `None` when the server wrote no binary log then.
pub(super) fn binlog_position(data: &Path) -> Option<(String, u64)> {
    let text = read_first(data, BINLOG_INFO)?;
    let mut fields = text.split_whitespace();
    let (file, position) = (fields.next()?, fields.next()?.parse().ok()?);
    Some((file.to_string(), position))
}

/// Where the backup stands in the server's logs: the binary log position it is
/// consistent at (`file:position`, both ends, as replay starts there) when the server
/// writes a binary log, else the InnoDB redo log it spans (the checkpoint LSN the copy
/// started from, the last LSN copied); empty when the tool said neither.
fn log_range(data: &Path) -> (String, String) {
    if let Some((file, position)) = binlog_position(data) {
        let at = format!("{file}:{position}");
        return (at.clone(), at);
    }
    let Some(text) = read_first(data, CHECKPOINTS) else { return (String::new(), String::new()) };
    (checkpoint(&text, "to_lsn").unwrap_or_default(), checkpoint(&text, "last_lsn").unwrap_or_default())
}

/// Gives a new instance the backup's data directory: a copy, without the tool's own files,
/// owned by the instance's user. Only a prepared backup is a data directory a server opens
/// consistent; anything else is `Corrupt`.
pub(super) async fn restore_data(spec: &InstanceSpec, run_as: Option<RunAs>, backup_dir: &Path) -> Result<(), EngineError> {
    let (from, data) = (backup::data_of(backup_dir), data_dir(spec));
    if !from.join("mysql").is_dir() {
        return Err(EngineError::new(ErrorKind::Corrupt, format!("the backup {} holds no MariaDB data directory", backup_dir.display())));
    }
    let kind = read_first(&from, CHECKPOINTS).and_then(|text| checkpoint(&text, "backup_type"));
    // `log-applied` in MariaDB, `full-prepared` in the tool it derives from.
    if !matches!(kind.as_deref(), Some("log-applied" | "full-prepared")) {
        return Err(EngineError::new(
            ErrorKind::Corrupt,
            format!("the backup {} is not a prepared mariadb-backup backup (backup_type {})", backup_dir.display(), kind.as_deref().unwrap_or("missing")),
        ));
    }
    let to = data.clone();
    backup::blocking(move || backup::copy_tree(&from, &to)).await?;
    // They describe the backup, not the server that grows from it (mariadb-backup's
    // --copy-back leaves them out too).
    let entries = std::fs::read_dir(&data).map_err(|e| host_error(format!("read {}", data.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| host_error(format!("read {}", data.display()), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let tools = name == "backup-my.cnf" || name.starts_with("xtrabackup_") || name.starts_with("mariadb_backup_");
        if tools && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).map_err(|e| host_error(format!("remove {}", entry.path().display()), e))?;
        }
    }
    if let Some(user) = run_as {
        engine::isolation::chown_tree(&data, user)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_quoted_in_the_option_file() {
        assert_eq!(cnf_quote("pa\"s\\s#x"), "\"pa\\\"s\\\\s#x\"");
        let spec = engine::conformance::support::class_spec("rm-test", "/srv/i", 3999, 1024, 10);
        assert_eq!(backup_options(&spec, "pw"), "!include /srv/i/my.cnf\n[mariadb-backup]\npassword = \"pw\"\n");
    }

    #[test]
    fn log_range_prefers_the_binary_log() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(log_range(tmp.path()), (String::new(), String::new()));
        std::fs::write(tmp.path().join("xtrabackup_checkpoints"), "backup_type = full-prepared\nfrom_lsn = 0\nto_lsn = 46846\nlast_lsn = 46858\n").unwrap();
        assert_eq!(log_range(tmp.path()), ("46846".into(), "46858".into()));
        std::fs::write(tmp.path().join("xtrabackup_binlog_info"), "mariadb-bin.000002\t328\t0-1-5\n").unwrap();
        assert_eq!(log_range(tmp.path()), ("mariadb-bin.000002:328".into(), "mariadb-bin.000002:328".into()));
    }

    #[tokio::test]
    async fn only_a_prepared_mariadb_data_directory_is_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = engine::conformance::support::class_spec("rm-test", tmp.path().join("i").to_str().unwrap(), 3999, 1024, 10);
        std::fs::create_dir_all(&spec.dir).unwrap();
        let backup_dir = tmp.path().join("b1");
        std::fs::create_dir_all(backup::data_of(&backup_dir).join("base")).unwrap();
        let e = restore_data(&spec, None, &backup_dir).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        let data = backup::data_of(&backup_dir);
        std::fs::create_dir(data.join("mysql")).unwrap();
        std::fs::write(data.join("xtrabackup_checkpoints"), "backup_type = full-backuped\n").unwrap();
        let e = restore_data(&spec, None, &backup_dir).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        assert!(!data_dir(&spec).exists());

        std::fs::write(data.join("xtrabackup_checkpoints"), "backup_type = log-applied\n").unwrap();
        std::fs::write(data.join("backup-my.cnf"), "[mysqld]\n").unwrap();
        std::fs::create_dir(data.join("xtrabackup_db")).unwrap();
        restore_data(&spec, None, &backup_dir).await.unwrap();
        let restored = data_dir(&spec);
        assert!(restored.join("mysql").is_dir() && restored.join("xtrabackup_db").is_dir(), "a database keeps its name");
        assert!(!restored.join("xtrabackup_checkpoints").exists() && !restored.join("backup-my.cnf").exists());
    }
}
