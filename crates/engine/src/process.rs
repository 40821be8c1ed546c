//! Child processes: engine tools run confined to their instance (its own system user,
//! namespace and control groups: see `isolation`; initdb and the servers refuse root), in
//! their own process group so a terminal's Ctrl-C aimed at openrds does
//! not reach the engines, which must outlive it.
//!
//! Servers are found again through their pid files, so these helpers also decide whether
//! a recorded pid is still *that* server: after a host reboot or a crash the number may
//! belong to an unrelated process, and signalling it would be a serious mistake.

use crate::isolation::Confinement;
use crate::{EngineError, ErrorKind};
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tracing::Instrument;

/// A system user to run engines as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// Gives `path` to the instance's user (no-op when openrds does not run as root and so
/// confines nothing).
pub fn chown(path: &Path, run_as: Option<RunAs>) -> Result<(), EngineError> {
    if let Some(u) = run_as {
        std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
            .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("chown {}: {e}", path.display())))?;
    }
    Ok(())
}

/// A command for `program`, confined to its instance when `confinement` is given.
pub fn command(program: &Path, args: Vec<std::ffi::OsString>, confinement: Option<&Confinement>) -> std::process::Command {
    let mut cmd = match confinement {
        Some(c) => {
            let mut cmd = c.command(program, args);
            // The caller's working directory may be closed to the instance's user.
            cmd.current_dir("/");
            cmd
        }
        None => {
            let mut cmd = std::process::Command::new(program);
            cmd.args(args);
            cmd
        }
    };
    cmd.process_group(0);
    // Client variables of the caller's environment must not steer the engine's tools.
    for var in ["PGPASSWORD", "PGPASSFILE", "PGUSER", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGDATA", "PGOPTIONS"] {
        cmd.env_remove(var);
    }
    for var in ["MYSQL_HOME", "MYSQL_UNIX_PORT", "MYSQL_TCP_PORT", "MYSQL_HOST", "MYSQL_PWD"] {
        cmd.env_remove(var);
    }
    cmd
}

/// How many of a tool's last output lines an error message carries.
const KEPT_LINES: usize = 12;

/// Runs a tool to completion. Its output is relayed line by line to the debug log (in
/// the caller's span) as it comes, and its last lines go into the error when it fails.
/// A tool that cannot be started is `HostSetup`; one that fails is `Unavailable`, which
/// callers re-kind when they know better.
pub async fn run<I, S>(program: &Path, args: I, confinement: Option<&Confinement>, what: &str) -> Result<(), EngineError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_inner(program, args, confinement, what, &[], false).await
}

/// A client tool openrds runs for a task of its own (a backup), unconfined, with
/// variables set in its environment (how it gets a password without that showing in the
/// host's process list). If the task is dropped (a shutdown) before the tool ends, the
/// tool's whole process group is killed: it must not go on writing where nobody wants it.
pub async fn run_for_task<I, S>(program: &Path, args: I, what: &str, env: &[(&str, &str)]) -> Result<(), EngineError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_inner(program, args, None, what, env, true).await
}

/// util-linux's `setpriv` (essential on Debian): sets the parent-death signal, then runs the tool.
const SETPRIV: &str = "/usr/bin/setpriv";

/// Kills a process group when dropped, unless disarmed first.
struct KillGroupOnDrop(Option<i32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

async fn run_inner<I, S>(program: &Path, args: I, confinement: Option<&Confinement>, what: &str, env: &[(&str, &str)], kill_on_drop: bool) -> Result<(), EngineError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    let mut cmd = if kill_on_drop && confinement.is_none() {
        // The guard below covers an orderly stop; this covers openrds being killed: the
        // kernel kills the tool when the thread that started it (a runtime worker, which
        // lives as long as openrds) dies. A restart discards what the tool wrote, so one
        // left running would only write where nobody reads.
        let mut wrapped: Vec<std::ffi::OsString> = vec!["--pdeathsig".into(), "KILL".into(), "--".into(), program.as_os_str().to_os_string()];
        wrapped.extend(args);
        command(Path::new(SETPRIV), wrapped, None)
    } else {
        command(program, args, confinement)
    };
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let tool = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut child = tokio::process::Command::from(cmd)
        .spawn()
        .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("{what}: cannot run {}: {e}", program.display())))?;
    // The tool leads its own process group (`command`), so its group id is its pid.
    let mut guard = KillGroupOnDrop(if kill_on_drop { child.id().map(|p| p as i32) } else { None });
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(relay(out, tool.clone()).in_current_span()));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(relay(err, tool.clone()).in_current_span()));
    }
    let status = child
        .wait()
        .await
        .map_err(|e| EngineError::new(ErrorKind::Internal, format!("{what}: waiting for {tool}: {e}")))?;
    guard.0 = None;
    let mut lines = Vec::new();
    for reader in readers {
        // A grandchild that kept the pipe open must not hold us once the tool is done.
        let abort = reader.abort_handle();
        match tokio::time::timeout(Duration::from_secs(5), reader).await {
            Ok(Ok(kept)) => lines.extend(kept),
            Ok(Err(_)) => {}
            Err(_) => abort.abort(),
        }
    }
    if status.success() {
        Ok(())
    } else {
        Err(EngineError::new(ErrorKind::Unavailable, format!("{what} failed ({status}): {}", lines.join(" | "))))
    }
}

async fn relay(stream: impl AsyncRead + Unpin, tool: String) -> VecDeque<String> {
    let mut kept = VecDeque::with_capacity(KEPT_LINES);
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        tracing::debug!(tool = %tool, "{line}");
        if kept.len() == KEPT_LINES {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    kept
}

/// The last `lines` non-empty lines of `text`, joined on one line for an error message.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

/// What `/proc/<pid>/stat` says of a process: its state letter and process group.
struct ProcStat {
    state: char,
    pgrp: i32,
}

fn proc_stat(pid: i32) -> std::io::Result<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let mut fields = rest.split_whitespace();
    let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
    let pgrp = fields.nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    Ok(ProcStat { state, pgrp })
}

/// Whether `pid` is a live server process whose working directory is `data_dir` (servers
/// chdir to their data directory). A zombie counts as gone: nothing reaps orphans
/// promptly in some containers. Where `/proc` tells nothing, existence is all we check.
pub fn server_alive(pid: i32, data_dir: &Path, names: &[&str]) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(pid) {
        Ok(stat) if matches!(stat.state, 'Z' | 'X' | 'x') => return false,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => {
            return matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Ok(()) | Err(nix::errno::Errno::EPERM)
            )
        }
    }
    if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        if !names.contains(&comm.trim()) {
            return false;
        }
    }
    // Unreadable when the process belongs to another user and we are not root; then the
    // name check above is all we have.
    if let (Ok(cwd), Ok(dir)) = (std::fs::read_link(format!("/proc/{pid}/cwd")), data_dir.canonicalize()) {
        if cwd != dir {
            return false;
        }
    }
    true
}

/// Whether `pid` is a live process (not a zombie), whatever it is called.
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && proc_stat(pid).is_ok_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Kills a server and, when it leads its own process group (servers started by pg_ctl
/// do), every process of that group, so no backend outlives it.
pub fn kill_server(pid: i32) {
    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;
    let leads_group = proc_stat(pid).map(|s| s.pgrp == pid).unwrap_or(false);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    if leads_group {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Whether any process other than a zombie is still in process group `pgrp`.
pub fn group_alive(pgrp: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| proc_stat(pid).ok())
        .any(|s| s.pgrp == pgrp && !matches!(s.state, 'Z' | 'X' | 'x'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        assert_eq!(tail("a\n\nb\nc\n\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn our_own_process_is_alive_only_under_its_own_name_and_directory() {
        let me = std::process::id() as i32;
        let cwd = std::env::current_dir().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        assert!(server_alive(me, &cwd, &[comm.trim()]));
        assert!(!server_alive(me, &cwd, &["some-other-server"]), "another program's pid is not a server");
        assert!(!server_alive(me, Path::new("/"), &[comm.trim()]), "a server of another directory is not ours");
        assert!(!server_alive(0, &cwd, &[comm.trim()]));
    }

    #[tokio::test]
    async fn a_failing_tool_reports_its_last_lines() {
        let err = run(Path::new("/bin/sh"), ["-c", "echo first; echo second >&2; exit 3"], None, "try the shell").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable);
        assert!(err.message.contains("try the shell failed") && err.message.contains("first") && err.message.contains("second"), "{}", err.message);
        let err = run(Path::new("/nonexistent/tool"), ["x"], None, "run a missing tool").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::HostSetup);
        run(Path::new("/bin/true"), Vec::<&str>::new(), None, "run true").await.unwrap();
    }

    /// As if openrds were killed: the task is neither finished nor dropped (no guard
    /// runs), only the thread that started the tool goes away.
    #[test]
    fn a_task_s_tool_dies_with_the_thread_that_started_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut task = Box::pin(run_for_task(Path::new("/bin/sh"), ["-c", script.as_str()], "sleep", &[]));
            rt.block_on(async {
                tokio::select! {
                    _ = &mut task => panic!("the tool ended by itself"),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            });
            std::mem::forget(task);
            std::mem::forget(rt);
        })
        .join()
        .unwrap();
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // Gone, or a zombie nobody reaps (its parent is this process).
        let gone = || std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "));
        while !gone() {
            assert!(std::time::Instant::now() < deadline, "the tool {pid} outlived the thread that started it");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
