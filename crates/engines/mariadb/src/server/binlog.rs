//! The binary log, kept for point-in-time restores. Every instance writes one in its
//! `binlog/` directory (lifecycle.rs). openrds copies each *closed* file (every one but the
//! file the server is writing) into the instance's log area and then purges it from the
//! server with `PURGE BINARY LOGS`, so the instance's disk holds little more than the file
//! being written. A restore lays out a backup, starts the server and pipes the archived
//! files, from the position the backup is consistent at, through `mariadb-binlog` into it.
//!
//! How far a replay goes: every transaction committed before the instant `until_unix`
//! (`<seconds>.000`), none after, as on PostgreSQL; or, without a target, all the archive
//! holds. `mariadb-binlog --stop-datetime` stops at the first event stamped at or after it.
//! An event is stamped (in whole seconds) when the statement that wrote it began, and the
//! log is in commit order: an event stamped in the second `until_unix` or later began at or
//! after the instant, and is left out with all that follows it. The one inexactness: a
//! statement begun before the instant that committed after it (the log keeps no commit
//! time). A log whose last archived event is older than `until_unix` was not archived to
//! the end (its last files never reached the archive): the restore fails before anything
//! is made, as a PostgreSQL recovery that ends before its target does, rather than hold
//! less than asked. `close_log`'s rotation is stamped with the moment it closed, which a
//! target up to then never passes.

use super::lifecycle::{binlog_dir, binlog_index, read_admin};
use super::sql::{literal, my_error};
use super::MariaDbEngine;
use engine::backup::{self, RestoreTarget};
use engine::instance_dir::{self, host_error, write_private};
use engine::{process, EngineError, ErrorKind, InstanceSpec};
use mysql_async::prelude::*;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// `SHOW BINARY LOGS` on a server that writes none (an instance made before binary logs
/// were on, until its next start).
const ER_NO_BINARY_LOGGING: u16 = 1381;
/// What `mariadb-binlog` says when its input ends before `--stop-datetime` (MDEV-27037).
const STOP_NOT_REACHED: &str = "Did not reach stop datetime";

/// What a point-in-time restore replays: the archived files from the one the backup's
/// position is in, and how far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Replay {
    start_position: u64,
    files: Vec<PathBuf>,
    until_unix: Option<i64>,
}

impl MariaDbEngine {
    fn binlog_tool(&self) -> PathBuf {
        self.config.bin_dir.join("mariadb-binlog")
    }

    fn client_tool(&self) -> PathBuf {
        self.config.bin_dir.join("mariadb")
    }

    /// Rotates the log: every transaction committed so far is then in a closed file, which
    /// the next [`Self::archive_binlog`] moves. No commit of openrds's own is needed: the
    /// rotation itself is an event stamped now, which shows the log reaches any target up
    /// to now.
    pub(super) async fn close_binlog(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let mut c = self.connect(spec).await?;
        // A no-op on a server that writes no binary log.
        let result = c.query_drop("FLUSH BINARY LOGS").await.map_err(|e| my_error(e, &format!("close the binary log of instance {}", spec.id)));
        let _ = c.disconnect().await;
        result
    }

    /// Copies the closed files into `into`, then purges them from the server. A file the
    /// server still needs for its crash recovery survives the purge silently, and the next
    /// call finds it archived already.
    pub(super) async fn archive_binlog(&self, spec: &InstanceSpec, into: &Path) -> Result<u64, EngineError> {
        // Closed files of a stopped server wait for its next start, when the server itself
        // says which file it writes.
        if Self::running_pid(spec).is_none() {
            return Ok(0);
        }
        // Most calls find the server still on its one file: no need to log in (every 5 s,
        // on every instance) to learn it. No index at all: no binary log (yet).
        let listed = std::fs::read_to_string(binlog_index(spec)).unwrap_or_default();
        if listed.lines().filter(|l| !l.trim().is_empty()).count() < 2 {
            return Ok(0);
        }
        let mut c = self.connect(spec).await?;
        let result = self.archive_with(&mut c, spec, into).await;
        let _ = c.disconnect().await;
        result
    }

    async fn archive_with(&self, c: &mut mysql_async::Conn, spec: &InstanceSpec, into: &Path) -> Result<u64, EngineError> {
        let fail = |e| my_error(e, &format!("archive the binary log of instance {}", spec.id));
        let mut names: Vec<String> = match c.query::<(String, u64), _>("SHOW BINARY LOGS").await {
            Ok(rows) => rows.into_iter().map(|(name, _)| name).collect(),
            Err(mysql_async::Error::Server(s)) if s.code == ER_NO_BINARY_LOGGING => return Ok(0),
            Err(e) => return Err(fail(e)),
        };
        let Some(current) = names.pop() else { return Ok(0) };
        if names.is_empty() {
            return Ok(0);
        }
        if let Some(odd) = names.iter().find(|n| n.contains('/') || n.starts_with('.')) {
            return Err(EngineError::new(ErrorKind::Internal, format!("instance {}: the server names a binary log file {odd:?}", spec.id)));
        }
        let (from, to) = (binlog_dir(spec), into.to_path_buf());
        let moved = backup::blocking(move || archive_files(&from, &names, &to)).await?;
        c.query_drop(format!("PURGE BINARY LOGS TO {}", literal(&current))).await.map_err(fail)?;
        Ok(moved)
    }

    /// What a restore of `backup` to `target` replays, checked before anything is made:
    /// the backup's binary log position, an unbroken run of archived files from it, and
    /// that they reach the target.
    pub(super) async fn plan_replay(&self, backup_dir: &Path, target: &RestoreTarget) -> Result<Replay, EngineError> {
        instance_dir::require_tools(&[self.binlog_tool(), self.client_tool()], "mariadb-client")?;
        let (file, start_position) = super::backups::binlog_position(&backup::data_of(backup_dir)).ok_or_else(|| {
            EngineError::new(
                ErrorKind::InvalidInput,
                format!(
                    "the backup {} was taken while the instance wrote no binary log (before its first start with binary logging on): \
                     restore it as it is, or to a time after a later backup",
                    backup_dir.display()
                ),
            )
        })?;
        let files = chain(&target.logs, &file)?;
        let Some(last) = files.last() else {
            return Err(EngineError::new(ErrorKind::Internal, format!("no archived binary log from {file} on")));
        };
        if let Some(until) = target.until_unix {
            if !self.reaches(last, until).await? {
                return Err(EngineError::new(
                    ErrorKind::NotFound,
                    format!("the archived binary log ends before {} UTC (its last file is {}): it cannot restore to that time", utc_datetime(until), last.display()),
                ));
            }
        }
        Ok(Replay { start_position, files, until_unix: target.until_unix })
    }

    /// Whether the closed log file `last` holds an event stamped at `unix` or later.
    async fn reaches(&self, last: &Path, unix: i64) -> Result<bool, EngineError> {
        let args: Vec<OsString> = vec!["--no-defaults".into(), format!("--stop-datetime={}", utc_datetime(unix)).into(), last.as_os_str().to_os_string()];
        let mut reader = process::command(&self.binlog_tool(), args, None);
        reader.env("TZ", "UTC0").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut reader = tokio::process::Command::from(reader);
        reader.kill_on_drop(true);
        let out = reader.output().await.map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("read {}: cannot run {}: {e}", last.display(), self.binlog_tool().display())))?;
        let said = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(EngineError::new(ErrorKind::Corrupt, format!("read {}: mariadb-binlog failed ({}): {}", last.display(), out.status, process::tail(&said, 6))));
        }
        Ok(!said.contains(STOP_NOT_REACHED))
    }

    /// Replays `replay` into the instance's running server as its administrator, the
    /// password in an option file only openrds reads, removed once the client ends.
    pub(super) async fn replay(&self, spec: &InstanceSpec, replay: &Replay) -> Result<(), EngineError> {
        let admin = read_admin(spec)?;
        let options = spec.dir.join("replay.cnf");
        write_private(&options, &format!("[client]\npassword = {}\n", super::backups::cnf_quote(&admin.password)))?;
        let client_args: Vec<OsString> = vec![
            // Must come first: nothing of /etc/mysql applies.
            format!("--defaults-file={}", options.display()).into(),
            "--protocol=tcp".into(),
            format!("--host={}", admin.host).into(),
            format!("--port={}", admin.port).into(),
            format!("--user={}", admin.user).into(),
            // Row events are base64 and statements may carry any bytes; a row is as large
            // as the server allows (max_allowed_packet in my.cnf).
            "--binary-mode".into(),
            "--max-allowed-packet=1G".into(),
        ];
        let result = self.pipe_into_client(spec, replay, client_args).await;
        let removed = std::fs::remove_file(&options).map_err(|e| host_error(format!("remove {}", options.display()), e));
        result?;
        removed
    }

    async fn pipe_into_client(&self, spec: &InstanceSpec, replay: &Replay, client_args: Vec<OsString>) -> Result<(), EngineError> {
        let mut reader_args: Vec<OsString> = vec![
            "--no-defaults".into(),
            format!("--start-position={}", replay.start_position).into(),
            // The restored server's own log starts after the replay: nothing can be
            // restored to a moment before its first backup, which holds the replayed rows.
            "--disable-log-bin".into(),
        ];
        if let Some(until) = replay.until_unix {
            reader_args.push(format!("--stop-datetime={}", utc_datetime(until)).into());
        }
        reader_args.extend(replay.files.iter().map(|f| f.as_os_str().to_os_string()));
        let what = format!("replay the binary log into instance {}", spec.id);
        let cannot_run = |tool: &Path, e: std::io::Error| EngineError::new(ErrorKind::HostSetup, format!("{what}: cannot run {}: {e}", tool.display()));

        // Unconfined, as openrds: the archive is openrds's; the client reaches the server
        // over TCP like any other.
        let mut reader = process::command(&self.binlog_tool(), reader_args, None);
        // --stop-datetime is read in the tool's local time zone; POSIX spelling, so no
        // zoneinfo file is needed.
        reader.env("TZ", "UTC0").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut reader = tokio::process::Command::from(reader);
        // Dropped (a shutdown) before they end, neither goes on writing into a server
        // nobody wants any more.
        reader.kill_on_drop(true);
        let mut reader = reader.spawn().map_err(|e| cannot_run(&self.binlog_tool(), e))?;
        let stream: Stdio = reader
            .stdout
            .take()
            .ok_or_else(|| EngineError::new(ErrorKind::Internal, format!("{what}: no output of mariadb-binlog")))?
            .try_into()
            .map_err(|e| EngineError::new(ErrorKind::Internal, format!("{what}: pipe mariadb-binlog into mariadb: {e}")))?;
        let mut client = process::command(&self.client_tool(), client_args, None);
        client.stdin(stream).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut client = tokio::process::Command::from(client);
        client.kill_on_drop(true);
        let client = client.spawn().map_err(|e| cannot_run(&self.client_tool(), e))?;
        let (read, applied) = tokio::join!(reader.wait_with_output(), client.wait_with_output());
        let waited = |e: std::io::Error| EngineError::new(ErrorKind::Internal, format!("{what}: waiting for the tools: {e}"));
        let (read, applied) = (read.map_err(waited)?, applied.map_err(waited)?);
        let said = |out: &std::process::Output| process::tail(&String::from_utf8_lossy(&out.stderr), 6);
        // The client's failure first: the reader then only fails writing into a closed pipe.
        if !applied.status.success() {
            return Err(EngineError::new(ErrorKind::Unavailable, format!("{what} failed ({}): {}", applied.status, said(&applied))));
        }
        if !read.status.success() {
            return Err(EngineError::new(ErrorKind::Corrupt, format!("{what}: mariadb-binlog failed ({}): {}", read.status, said(&read))));
        }
        Ok(())
    }
}

/// `YYYY-MM-DD HH:MM:SS` of unix seconds, in UTC.
fn utc_datetime(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `mariadb-bin.000042` → (`mariadb-bin`, 42).
fn sequence_of(name: &str) -> Option<(&str, u64)> {
    let (base, digits) = name.rsplit_once('.')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    Some((base, digits.parse().ok()?))
}

/// The archived files of `logs` from `start` on, in order; `NotFound` when `start` is
/// missing or a file after it is (the archive could not replay past the gap).
fn chain(logs: &Path, start: &str) -> Result<Vec<PathBuf>, EngineError> {
    let Some((base, first)) = sequence_of(start) else {
        return Err(EngineError::new(ErrorKind::Corrupt, format!("the backup's binary log position names no log file ({start:?})")));
    };
    let mut found: Vec<u64> = match std::fs::read_dir(logs) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                sequence_of(&name).filter(|&(b, n)| b == base && n >= first).map(|(_, n)| n)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(host_error(format!("read {}", logs.display()), e)),
    };
    found.sort_unstable();
    if found.first() != Some(&first) {
        return Err(EngineError::new(ErrorKind::NotFound, format!("the log archive {} holds no {start}, where the backup's binary log position is", logs.display())));
    }
    if let Some(pair) = found.windows(2).find(|w| w[1] != w[0] + 1) {
        return Err(EngineError::new(ErrorKind::NotFound, format!("the log archive {} lacks {base}.{:06} (it has {} and {})", logs.display(), pair[0] + 1, pair[0], pair[1])));
    }
    // The server's own spelling (at least six digits) is what the archive holds.
    let width = start.len() - base.len() - 1;
    Ok(found.into_iter().map(|n| logs.join(format!("{base}.{n:0width$}"))).collect())
}

/// Puts each of `names` from `from` into `into` (made if missing) as a second name of the
/// same file ([`backup::archive_log_file`]; copied if the archive is on another
/// filesystem): the server's purge then removes only its own name. A name archived
/// already (purged late, see `archive_binlog`) with the same bytes is skipped. One
/// archived with other bytes means the server's log was reset (`RESET MASTER`) and numbers
/// again from 1: the earlier files are set aside, so no replay ever runs into the new ones
/// from them. Returns how many were archived.
fn archive_files(from: &Path, names: &[String], into: &Path) -> Result<u64, EngineError> {
    std::fs::create_dir_all(into).map_err(|e| host_error(format!("create {}", into.display()), e))?;
    let mut archived = 0;
    for name in names {
        let (src, dst) = (from.join(name), into.join(name));
        if dst.exists() {
            if backup::same_file(&src, &dst) || same_bytes(&src, &dst)? {
                continue;
            }
            set_aside_earlier_log(into, name)?;
        }
        backup::archive_log_file(&src, &dst, backup::Handover::Link)?;
        archived += 1;
    }
    Ok(archived)
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool, EngineError> {
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| host_error(format!("open {}", p.display()), e));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let len = |f: &std::fs::File, p: &Path| f.metadata().map(|m| m.len()).map_err(|e| host_error(format!("stat {}", p.display()), e));
    if len(&fa, a)? != len(&fb, b)? {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).map_err(|e| host_error(format!("read {}", a.display()), e))?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n]).map_err(|e| host_error(format!("read {}", b.display()), e))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Renames every archived file of the log `name` belongs to `<file>.reset-<unix seconds>`:
/// kept (and listed, and deleted by retention), but out of every replay.
fn set_aside_earlier_log(into: &Path, name: &str) -> Result<(), EngineError> {
    let Some((base, _)) = sequence_of(name) else { return Ok(()) };
    let suffix = format!("reset-{}", backup::now_unix());
    tracing::warn!(archive = %into.display(), file = name, "the instance's binary log was reset; setting the files archived before aside");
    let entries = std::fs::read_dir(into).map_err(|e| host_error(format!("read {}", into.display()), e))?;
    for entry in entries.flatten() {
        let Ok(file) = entry.file_name().into_string() else { continue };
        if sequence_of(&file).is_some_and(|(b, _)| b == base) {
            let aside = into.join(format!("{file}.{suffix}"));
            std::fs::rename(entry.path(), &aside).map_err(|e| host_error(format!("rename {} to {}", entry.path().display(), aside.display()), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_times_are_utc() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(utc_datetime(1_796_401_955), "2026-12-04 16:32:35");
    }

    #[test]
    fn a_replay_runs_from_the_backup_s_file_through_an_unbroken_run() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("log");
        assert_eq!(chain(&logs, "mariadb-bin.000002").unwrap_err().kind, ErrorKind::NotFound, "no archive yet");
        std::fs::create_dir(&logs).unwrap();
        for name in ["mariadb-bin.000001", "mariadb-bin.000002", "mariadb-bin.000003", "mariadb-bin.000004.part", "closed-at", "mariadb-bin.000001.reset-5", "other.000003"] {
            std::fs::write(logs.join(name), name).unwrap();
        }
        let files = chain(&logs, "mariadb-bin.000002").unwrap();
        assert_eq!(files, [logs.join("mariadb-bin.000002"), logs.join("mariadb-bin.000003")]);
        assert!(chain(&logs, "mariadb-bin.000007").unwrap_err().message.contains("holds no mariadb-bin.000007"));

        std::fs::write(logs.join("mariadb-bin.000005"), "5").unwrap();
        let e = chain(&logs, "mariadb-bin.000002").unwrap_err();
        assert!(e.kind == ErrorKind::NotFound && e.message.contains("lacks mariadb-bin.000004"), "{e}");
        assert_eq!(chain(&logs, "no-number").unwrap_err().kind, ErrorKind::Corrupt);
    }

    #[test]
    fn closed_files_are_archived_once_and_a_reset_log_sets_the_earlier_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, into) = (tmp.path().join("binlog"), tmp.path().join("log"));
        std::fs::create_dir(&from).unwrap();
        let names = ["mariadb-bin.000001".to_string(), "mariadb-bin.000002".to_string()];
        std::fs::write(from.join(&names[0]), b"first").unwrap();
        std::fs::write(from.join(&names[1]), b"second").unwrap();
        assert_eq!(archive_files(&from, &names, &into).unwrap(), 2);
        assert_eq!(std::fs::read(into.join(&names[1])).unwrap(), b"second");
        assert!(!into.join("mariadb-bin.000001.part").exists());
        // On one filesystem the archive holds the server's file under a second name: no
        // byte copied, and the server's purge removes only its own name.
        assert!(backup::same_file(&from.join(&names[0]), &into.join(&names[0])), "linked, not copied");
        std::fs::remove_file(from.join(&names[0])).unwrap();
        assert_eq!(std::fs::read(into.join(&names[0])).unwrap(), b"first", "the archive keeps a purged file");
        // A purge that left a file: archived already, not archived again.
        assert_eq!(archive_files(&from, &names[1..], &into).unwrap(), 0);

        // RESET MASTER: the server removes its files and numbers from 1 again, other bytes.
        std::fs::remove_file(from.join(&names[1])).unwrap();
        std::fs::write(from.join(&names[0]), b"after the reset").unwrap();
        assert_eq!(archive_files(&from, &names[..1], &into).unwrap(), 1);
        assert_eq!(std::fs::read(into.join(&names[0])).unwrap(), b"after the reset");
        let aside: Vec<String> = std::fs::read_dir(&into).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).filter(|n| n.contains(".reset-")).collect();
        assert_eq!(aside.len(), 2, "both earlier files set aside: {aside:?}");
        assert_eq!(chain(&into, "mariadb-bin.000001").unwrap(), [into.join("mariadb-bin.000001")], "a replay never runs into the earlier files");
    }
}
