//! Physical backups, taken and restored with each engine's own tools (`pg_basebackup`,
//! `mariadb-backup`), in a layout every engine shares so the control plane can size,
//! check and delete a backup without knowing whose it is:
//!
//! ```text
//! <backup>/            0700, openrds only; made by `take_backup`, absent before
//!   data/              what the engine's tool wrote (a data directory once restored)
//!   admin.json         the instance administrator's credentials at backup time: a
//!                      restored server knows only the roles the backup holds
//!   openrds-manifest   one line per file of data/: xxh3-128, size, path; its own
//!                      SHA-256 is the backup's checksum in the metadata store
//! ```
//!
//! The manifest makes every backup verifiable the same way, also where the engine's tool
//! has no manifest of its own (mariadb-backup); an engine with one checks it as well.

use crate::instance_dir::{host_error, set_mode, write_private};
use crate::{EngineError, ErrorKind, InstanceSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a finished, verified backup is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSet {
    /// Bytes under the backup's directory.
    pub size_bytes: u64,
    /// SHA-256 (hex) of the backup's manifest: a backup whose files or manifest changed
    /// since no longer matches it.
    pub checksum: String,
    /// Unix seconds at which the data is consistent: a restore holds every transaction
    /// committed before it.
    pub consistent_at: u64,
    /// Where in the server's log the backup starts and ends, in the engine's terms (a
    /// WAL location, a binary log position), for point-in-time restores.
    pub log_start: String,
    pub log_end: String,
}

/// How far past its backup a restored server replays the archived log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreTarget {
    /// The instant `<unix seconds>.000`: every transaction committed before it is
    /// restored, none after; `None`: everything the archive holds (the log of a deleted
    /// instance, closed at its deletion).
    pub until_unix: Option<i64>,
    /// The archived log files ([`Backups::archive_logs`]) from the backup onward.
    pub logs: PathBuf,
}

/// Backups of a running server and new servers made from them (part of [`crate::Engine`]).
/// Engines that archive their log (for point-in-time restores) say so through
/// [`Backups::archives_logs`]; the others keep the defaults.
#[async_trait]
pub trait Backups {
    /// Takes a full physical backup of the running server into `target` (which must not
    /// exist), with the engine's tool, without stopping the server or blocking its writes
    /// beyond what the tool needs, then verifies it. On failure nothing of `target` is left.
    async fn take_backup(&self, spec: &InstanceSpec, target: &Path) -> Result<BackupSet, EngineError>;

    /// Checks a backup's files against its manifest (and the engine's own checks):
    /// `Corrupt` if anything differs.
    async fn verify_backup(&self, backup: &Path) -> Result<(), EngineError>;

    /// Provisions a new server `spec` holding the data of `backup` (replayed up to
    /// `target` when given), and starts it; like [`crate::Lifecycle::provision`], nothing is
    /// left when it fails. The backup and the logs are only read.
    async fn provision_from_backup(&self, spec: &InstanceSpec, backup: &Path, target: Option<&RestoreTarget>) -> Result<(), EngineError>;

    /// Whether the engine archives its log, so that a restore can reach any moment after
    /// a backup.
    fn archives_logs(&self) -> bool {
        false
    }

    /// Closes the log the server is writing, after a transaction committed now, so that
    /// everything up to this moment is in archived files (and a restore to any earlier
    /// time has a commit past its target to stop at). Returns once they are archived.
    async fn close_log(&self, _spec: &InstanceSpec) -> Result<(), EngineError> {
        Ok(())
    }

    /// Moves the log files the server has archived since the last call into `into` (made
    /// if missing); returns how many.
    async fn archive_logs(&self, _spec: &InstanceSpec, _into: &Path) -> Result<u64, EngineError> {
        Ok(0)
    }
}

/// Refusal of a point-in-time restore by an engine that does not archive its log.
pub fn no_log_archive(engine: &str) -> EngineError {
    EngineError::new(ErrorKind::InvalidInput, format!("{engine} instances keep no log archive yet: restore from a backup set, not to a point in time"))
}

/// Where the engine's tool writes inside a backup.
pub fn data_of(backup: &Path) -> PathBuf {
    backup.join("data")
}

const MANIFEST: &str = "openrds-manifest";

/// Makes `target` (0700) for a backup about to be taken; refuses one that exists.
pub fn create_target(target: &Path) -> Result<(), EngineError> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| host_error(format!("create {}", parent.display()), e))?;
    }
    std::fs::create_dir(target).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::AlreadyExists {
            ErrorKind::AlreadyExists
        } else {
            ErrorKind::HostSetup
        };
        EngineError::new(
            kind,
            format!("create backup directory {}: {e}", target.display()),
        )
    })?;
    set_mode(target, 0o700)
}

/// Takes a backup into the new directory `target` with `work`, which writes `data/` and
/// returns the set; on any failure nothing of `target` is left.
pub async fn into_new_target<F, Fut>(target: &Path, work: F) -> Result<BackupSet, EngineError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<BackupSet, EngineError>>,
{
    create_target(target)?;
    let result = work().await;
    if result.is_err() {
        discard(target).await;
    }
    result
}

/// Copies the instance's administrator credentials into the backup.
pub fn keep_admin(spec: &InstanceSpec, backup: &Path) -> Result<(), EngineError> {
    let from = spec.dir.join("admin.json");
    let text = std::fs::read_to_string(&from)
        .map_err(|e| host_error(format!("read {}", from.display()), e))?;
    write_private(&backup.join("admin.json"), &text)
}

/// Gives a new instance the credentials kept in `backup`.
pub fn restore_admin(backup: &Path, spec: &InstanceSpec) -> Result<(), EngineError> {
    let from = backup.join("admin.json");
    let text = std::fs::read_to_string(&from).map_err(|e| {
        corrupt(format!(
            "the backup {} has no readable admin.json: {e}",
            backup.display()
        ))
    })?;
    write_private(&spec.dir.join("admin.json"), &text)
}

fn corrupt(message: String) -> EngineError {
    EngineError::new(ErrorKind::Corrupt, message)
}

/// Every regular file under `root`, as paths relative to it, sorted.
fn files_under(root: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        for entry in
            std::fs::read_dir(&dir).map_err(|e| host_error(format!("read {}", dir.display()), e))?
        {
            let entry = entry.map_err(|e| host_error(format!("read {}", dir.display()), e))?;
            let kind = entry
                .file_type()
                .map_err(|e| host_error(format!("stat {}", entry.path().display()), e))?;
            let rel = rel.join(entry.file_name());
            if kind.is_dir() {
                pending.push(rel);
            } else if kind.is_file() {
                found.push(rel);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn hash_file(path: &Path) -> Result<(u128, u64), EngineError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| host_error(format!("open {}", path.display()), e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| host_error(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hasher.digest128(), size))
}

/// The manifest text of the files under `data`.
fn manifest_of(data: &Path) -> Result<String, EngineError> {
    let mut text = String::new();
    for rel in files_under(data)? {
        let (digest, size) = hash_file(&data.join(&rel))?;
        let name = rel
            .to_str()
            .ok_or_else(|| corrupt(format!("file name {} is not UTF-8", rel.display())))?;
        text.push_str(&format!("{digest:032x} {size} {name}\n"));
    }
    Ok(text)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the manifest of `backup`'s data and returns the backup's checksum. Blocking:
/// it reads every byte (call it from `spawn_blocking`).
pub fn seal(backup: &Path) -> Result<String, EngineError> {
    let text = manifest_of(&data_of(backup))?;
    write_private(&backup.join(MANIFEST), &text)?;
    Ok(sha256_hex(text.as_bytes()))
}

/// The checksum of `backup`'s manifest as it is now (cheap: the manifest alone).
pub fn checksum(backup: &Path) -> Result<String, EngineError> {
    let text = std::fs::read(backup.join(MANIFEST)).map_err(|e| {
        corrupt(format!(
            "the backup {} has no readable manifest: {e}",
            backup.display()
        ))
    })?;
    Ok(sha256_hex(&text))
}

/// Re-hashes every file of `backup`'s data and compares with its manifest: a file
/// changed, missing or added is `Corrupt`, named. Blocking, like [`seal`].
pub fn check_manifest(backup: &Path) -> Result<(), EngineError> {
    let kept = std::fs::read_to_string(backup.join(MANIFEST)).map_err(|e| {
        corrupt(format!(
            "the backup {} has no readable manifest: {e}",
            backup.display()
        ))
    })?;
    let now = manifest_of(&data_of(backup))?;
    if kept == now {
        return Ok(());
    }
    let kept_lines: std::collections::HashSet<&str> = kept.lines().collect();
    let first = now.lines().find(|l| !kept_lines.contains(l)).or_else(|| {
        let now_lines: std::collections::HashSet<&str> = now.lines().collect();
        kept.lines().find(|l| !now_lines.contains(l))
    });
    let file = first.and_then(|l| l.splitn(3, ' ').nth(2)).unwrap_or("?");
    Err(corrupt(format!(
        "the backup {} is corrupt: {file} does not match its manifest",
        backup.display()
    )))
}

/// Bytes of the regular files under `dir` (0 when it does not exist): how far a backup
/// being written has come.
pub fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

/// Copies the tree `from` into `to` (made, 0700), regular files and directories with
/// their modes, symlinks as links. Blocking.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to).map_err(|e| host_error(format!("create {}", to.display()), e))?;
    set_mode(to, 0o700)?;
    for entry in
        std::fs::read_dir(from).map_err(|e| host_error(format!("read {}", from.display()), e))?
    {
        let entry = entry.map_err(|e| host_error(format!("read {}", from.display()), e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src)
            .map_err(|e| host_error(format!("stat {}", src.display()), e))?;
        if meta.is_dir() {
            copy_tree(&src, &dst)?;
            set_mode(&dst, meta.permissions().mode() & 0o7777)?;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src)
                .map_err(|e| host_error(format!("read link {}", src.display()), e))?;
            std::os::unix::fs::symlink(target, &dst)
                .map_err(|e| host_error(format!("link {}", dst.display()), e))?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| {
                host_error(format!("copy {} to {}", src.display(), dst.display()), e)
            })?;
        }
    }
    Ok(())
}

/// Runs blocking file work off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        EngineError::new(
            ErrorKind::Internal,
            format!("backup file work panicked: {e}"),
        )
    })?
}

/// Removes a backup directory that failed half-way (logged, not raised: the caller's
/// error is the one to report).
pub async fn discard(target: &Path) {
    // A tool that is being killed may still add a file while the tree goes.
    for attempt in 1..=3 {
        let owned = target.to_path_buf();
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(owned)).await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match removed {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if attempt == 3 => tracing::error!(path = %target.display(), error = %e, "cannot remove a failed backup"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

/// Unix seconds now.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// How a closed log file reaches the log archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// The file leaves the instance (a WAL segment its archive command set down):
    /// renamed into the archive.
    Move,
    /// The server removes its own name later (a binary log it purges once archived):
    /// a second name in the archive for the same file.
    Link,
}

/// Puts the closed log file `src` into the archive as `dst`, durably: the file's bytes
/// and its new name are on disk when this returns, and `dst` never names half a file.
/// On one filesystem no byte is copied: a bulk load writes a gigabyte of log per gigabyte
/// of data, and copying it again was a quarter of openrds's CPU during an import. Across
/// filesystems (a `--backup-dir` elsewhere) the file is copied under a `.part` name,
/// synced and renamed. Blocking.
pub fn archive_log_file(src: &Path, dst: &Path, how: Handover) -> Result<(), EngineError> {
    let what = || format!("archive {} as {}", src.display(), dst.display());
    // A file set down by `cp`, or written without a sync of its own, is synced first:
    // the archive is what a restore relies on once the server has let go of the file.
    std::fs::File::open(src).and_then(|f| f.sync_all()).map_err(|e| host_error(what(), e))?;
    let placed = match how {
        Handover::Move => std::fs::rename(src, dst),
        Handover::Link => std::fs::hard_link(src, dst),
    };
    match placed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let staged = dst.with_file_name(format!("{}.part", dst.file_name().unwrap_or_default().to_string_lossy()));
            std::fs::copy(src, &staged)
                .and_then(|_| std::fs::File::open(&staged)?.sync_all())
                .and_then(|()| std::fs::rename(&staged, dst))
                .map_err(|e| host_error(what(), e))?;
            if how == Handover::Move {
                std::fs::remove_file(src).map_err(|e| host_error(format!("remove {}", src.display()), e))?;
            }
        }
        Err(e) => return Err(host_error(what(), e)),
    }
    sync_dir(dst.parent().unwrap_or(Path::new("/")))
}

/// Whether `a` and `b` name the same file (one was linked to the other).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Makes the names in `dir` durable (a rename or link into it).
pub fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| host_error(format!("sync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_missing_or_added_file_breaks_the_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let backup = tmp.path().join("b1");
        create_target(&backup).unwrap();
        let data = data_of(&backup);
        std::fs::create_dir_all(data.join("base/1")).unwrap();
        std::fs::write(data.join("base/1/100"), vec![7u8; 3 << 20]).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let sum = seal(&backup).unwrap();
        assert_eq!(checksum(&backup).unwrap(), sum);
        check_manifest(&backup).unwrap();
        assert_eq!(size_of(&data), (3 << 20) + 3);

        // One byte changed in the middle of a file.
        let file = data.join("base/1/100");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[1 << 20] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let e = check_manifest(&backup).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt);
        assert!(e.message.contains("base/1/100"), "{e}");
        bytes[1 << 20] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        check_manifest(&backup).unwrap();

        std::fs::remove_file(data.join("PG_VERSION")).unwrap();
        assert!(check_manifest(&backup)
            .unwrap_err()
            .message
            .contains("PG_VERSION"));
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        std::fs::write(data.join("extra"), "x").unwrap();
        assert!(check_manifest(&backup)
            .unwrap_err()
            .message
            .contains("extra"));
        assert_eq!(
            create_target(&backup).unwrap_err().kind,
            ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn a_copied_tree_keeps_modes_and_links() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("from");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/f"), "hello").unwrap();
        std::fs::set_permissions(from.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", from.join("link")).unwrap();
        let to = tmp.path().join("to");
        copy_tree(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("sub/f")).unwrap(), "hello");
        assert_eq!(
            std::fs::metadata(to.join("sub/f"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(to.join("link")).unwrap(),
            PathBuf::from("sub/f")
        );
    }

    #[test]
    fn a_log_file_is_moved_or_linked_on_one_filesystem_and_copied_across() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::write(&a, b"segment").unwrap();
        archive_log_file(&a, &b, Handover::Link).unwrap();
        assert!(same_file(&a, &b), "a second name, no copy");
        std::fs::remove_file(&b).unwrap();
        archive_log_file(&a, &b, Handover::Move).unwrap();
        assert!(!a.exists() && std::fs::read(&b).unwrap() == b"segment");

        // Another filesystem (tmpfs): copied under a .part name, then renamed.
        let other = tempfile::tempdir_in("/dev/shm").expect("/dev/shm, a tmpfs: a second filesystem");
        for how in [Handover::Link, Handover::Move] {
            let src = other.path().join(format!("{how:?}"));
            std::fs::write(&src, b"closed log").unwrap();
            let dst = tmp.path().join(format!("{how:?}"));
            archive_log_file(&src, &dst, how).unwrap();
            assert_eq!(std::fs::read(&dst).unwrap(), b"closed log");
            assert!(!same_file(&src, &dst));
            assert_eq!(src.exists(), how == Handover::Link, "{how:?}: a moved file leaves its source");
            assert!(!tmp.path().join(format!("{how:?}.part")).exists());
        }
    }
}
