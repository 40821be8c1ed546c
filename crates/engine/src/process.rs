//! Child processes: engine tools run as the engine's system user (initdb and the servers
//! refuse root), in their own process group so a terminal's Ctrl-C aimed at openrds does
//! not reach the engines, which must outlive it.

use crate::{EngineError, ErrorKind};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

/// A system user to run engines as.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

pub(crate) fn lookup_user(name: &str) -> Result<RunAs, EngineError> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(RunAs { uid: u.uid.as_raw(), gid: u.gid.as_raw() }),
        _ => Err(EngineError::new(ErrorKind::HostSetup, format!("the system user {name} does not exist on this host"))),
    }
}

/// Gives `path` to the engine user (no-op when openrds runs as that user already).
pub(crate) fn chown(path: &Path, run_as: Option<RunAs>) -> Result<(), EngineError> {
    if let Some(u) = run_as {
        std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
            .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("chown {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Runs a tool to completion; its output goes to the debug log, and its last lines into
/// the error when it fails.
pub(crate) async fn run(program: &Path, args: &[&str], run_as: Option<RunAs>, what: &str) -> Result<String, EngineError> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    // Client variables of the caller's environment must not steer the engine's tools.
    for var in ["PGPASSWORD", "PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "PGDATA"] {
        cmd.env_remove(var);
    }
    if let Some(u) = run_as {
        cmd.uid(u.uid).gid(u.gid).current_dir("/");
    }
    let mut cmd = tokio::process::Command::from(cmd);
    let out = cmd
        .output()
        .await
        .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("{what}: cannot run {}: {e}", program.display())))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for line in text.lines() {
        tracing::debug!(tool = %program.display(), "{line}");
    }
    if out.status.success() {
        Ok(text)
    } else {
        Err(EngineError::new(ErrorKind::Unavailable, format!("{what} failed ({}): {}", out.status, tail(&text, 8))))
    }
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}
