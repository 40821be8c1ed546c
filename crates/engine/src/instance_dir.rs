//! What every adapter keeps in an instance's directory the same way: the internal
//! administrator's credentials (`admin.json`, 0600, openrds only), the server's log, and
//! the file helpers around them.

use crate::process::{self, RunAs};
use crate::{AdminConnection, EngineError, ErrorKind, InstanceSpec};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The internal administrator's credentials, kept in `admin.json`.
#[derive(Serialize, Deserialize)]
struct AdminFile {
    user: String,
    password: String,
}

pub fn log_file(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("server.log")
}

/// The last lines of the server's log, for error messages.
pub fn log_tail(spec: &InstanceSpec) -> String {
    match std::fs::read_to_string(log_file(spec)) {
        Ok(text) if !text.trim().is_empty() => format!("; server log: {}", process::tail(&text, 6)),
        _ => String::new(),
    }
}

pub fn host_error(what: String, e: std::io::Error) -> EngineError {
    EngineError::new(ErrorKind::HostSetup, format!("{what}: {e}"))
}

/// Records the administrator's credentials; fails if they exist already.
pub fn write_admin(spec: &InstanceSpec, user: &str, password: &str) -> Result<(), EngineError> {
    let admin = serde_json::to_string(&AdminFile { user: user.into(), password: password.into() })
        .map_err(|e| EngineError::new(ErrorKind::Internal, format!("encode admin credentials: {e}")))?;
    write_private(&spec.dir.join("admin.json"), &admin)
}

/// How to reach the instance as its administrator, from `admin.json`.
pub fn read_admin(spec: &InstanceSpec, maintenance_db: &str) -> Result<AdminConnection, EngineError> {
    let path = spec.dir.join("admin.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::HostSetup };
        EngineError::new(kind, format!("instance {} has no readable admin credentials at {}: {e}", spec.id, path.display()))
    })?;
    let admin: AdminFile = serde_json::from_str(&text)
        .map_err(|e| EngineError::new(ErrorKind::Internal, format!("admin credentials of instance {} are malformed: {e}", spec.id)))?;
    Ok(AdminConnection {
        host: connect_host(&spec.listen_host),
        port: spec.port,
        user: admin.user,
        password: admin.password,
        maintenance_db: maintenance_db.into(),
    })
}

/// Where to reach a server listening on `listen`: a wildcard is reached on loopback, and
/// of a list the first address serves.
pub fn connect_host(listen: &str) -> String {
    let first = listen.split(',').next().unwrap_or_default().trim();
    match first {
        "" | "*" | "0.0.0.0" => "127.0.0.1".into(),
        "::" => "::1".into(),
        other => other.into(),
    }
}

/// A new file only openrds can read.
pub fn write_private(path: &Path, text: &str) -> Result<(), EngineError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| host_error(format!("write {}", path.display()), e))
}

pub fn set_mode(path: &Path, mode: u32) -> Result<(), EngineError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| host_error(format!("chmod {}", path.display()), e))
}

/// The instance's user must pass through every directory above the instance's, or the
/// server cannot reach its data; say which one blocks it rather than let the engine's
/// tools fail obscurely.
pub fn check_traversable(dir: &Path, run_as: RunAs) -> Result<(), EngineError> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(ancestor) else { continue };
        let mode = meta.mode();
        let passes = if meta.uid() == run_as.uid {
            mode & 0o100 != 0
        } else if meta.gid() == run_as.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !passes {
            return Err(EngineError::new(
                ErrorKind::HostSetup,
                format!(
                    "the instance's system user (uid {}) cannot enter {} (mode {:o}); make it traversable, e.g. chmod 0711",
                    run_as.uid,
                    ancestor.display(),
                    mode & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses to provision on a host without the engine's server tools; `package` says what
/// to install.
pub fn require_tools(tools: &[PathBuf], package: &str) -> Result<(), EngineError> {
    match tools.iter().find(|tool| !tool.is_file()) {
        Some(missing) => Err(EngineError::new(ErrorKind::HostSetup, format!("{} is missing; install the {package} package", missing.display()))),
        None => Ok(()),
    }
}

/// Someone else's files (or a live instance) are never overwritten, nor removed by the
/// clean-up of a failed provision: a directory that is not empty is refused.
pub fn refuse_occupied(dir: &Path) -> Result<(), EngineError> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(EngineError::new(ErrorKind::AlreadyExists, format!("instance directory {} already exists and is not empty", dir.display())));
    }
    Ok(())
}

/// A provision's outcome; on failure `undo` removes what was made first (its own failure
/// is logged: the provision's error is the one to report).
pub async fn undo_on_failure(result: Result<(), EngineError>, undo: impl std::future::Future<Output = Result<(), EngineError>>) -> Result<(), EngineError> {
    if let Err(e) = &result {
        tracing::warn!(error = %e, "provisioning failed; removing what was made");
        if let Err(cleanup) = undo.await {
            tracing::error!(error = %cleanup, "cannot remove a failed instance");
        }
    }
    result
}

/// The server's log, made if missing, 0600 and the instance's user's (who cannot create
/// files in the instance directory, only use them).
pub fn ensure_log(spec: &InstanceSpec, run_as: Option<crate::process::RunAs>) -> Result<(), EngineError> {
    let log = log_file(spec);
    if !log.exists() {
        std::fs::write(&log, b"").map_err(|e| host_error(format!("create {}", log.display()), e))?;
    }
    set_mode(&log, 0o600)?;
    crate::process::chown(&log, run_as)
}

/// Creates the instance's directory: traversable for the instance's user, listable by
/// nobody else (`admin.json` sits there).
pub fn create_instance_dir(spec: &InstanceSpec, run_as: Option<RunAs>) -> Result<(), EngineError> {
    std::fs::create_dir_all(&spec.dir).map_err(|e| host_error(format!("create {}", spec.dir.display()), e))?;
    set_mode(&spec.dir, 0o711)?;
    if let Some(u) = run_as {
        check_traversable(&spec.dir, u)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_reached_on_loopback() {
        let cases = [("0.0.0.0", "127.0.0.1"), ("*", "127.0.0.1"), ("::", "::1"), ("10.0.0.5, 127.0.0.1", "10.0.0.5"), ("localhost", "localhost")];
        for (listen, reached) in cases {
            assert_eq!(connect_host(listen), reached, "listening on {listen}");
        }
    }
}
