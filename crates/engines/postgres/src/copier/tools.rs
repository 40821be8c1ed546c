//! Running pg_dump and pg_restore: schema goes through them (they are the reference for
//! fidelity), data never does. Each child runs in its own process group with a clean
//! environment carrying the connection and the password; a guard kills the whole group
//! (pg_restore -j forks workers) when the run is dropped, so a cancel leaves no tool
//! behind. Output is relayed to tracing; the tail of stderr goes into the error.

use super::conn::{conninfo_dbname, PgEndpoint};
use mover::Endpoint;
use super::error::{tool_error, Result};
use mover::{MoveError, Side};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Keeps this much of a tool's stderr for the error message.
const STDERR_TAIL: usize = 2000;

/// Post-data sessions get the same settings as our own build sessions.
const RESTORE_PGOPTIONS: &str = "-c synchronous_commit=off -c maintenance_work_mem=512MB";

pub(crate) struct Tools {
    bin_dir: PathBuf,
}

/// Kills the process group of a child unless it was reaped.
struct GroupGuard {
    pgid: Option<i32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

struct Running {
    name: &'static str,
    side: Side,
    child: Child,
    guard: GroupGuard,
    stderr: JoinHandle<String>,
}

impl Running {
    async fn wait(mut self) -> Result<()> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| MoveError::Internal(format!("wait for {}: {e}", self.name)))?;
        // Reaped: its group may still hold forked workers only if it failed; kill those.
        if status.success() {
            self.guard.pgid = None;
        }
        let stderr = self.stderr.await.unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(tool_error(self.name, self.side, status.to_string(), stderr))
        }
    }
}

impl Tools {
    pub(crate) fn new(bin_dir: &Path) -> Self {
        Tools { bin_dir: bin_dir.to_path_buf() }
    }

    fn command(&self, name: &str, ep: &Endpoint, pgoptions: Option<&str>) -> Command {
        let program = if self.bin_dir.as_os_str().is_empty() { PathBuf::from(name) } else { self.bin_dir.join(name) };
        let mut c = Command::new(program);
        c.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            c.env("PATH", path);
        }
        c.env("LC_ALL", "C");
        for (k, v) in ep.tool_env() {
            c.env(k, v);
        }
        if let Some(o) = pgoptions {
            c.env("PGOPTIONS", o);
        }
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        c.process_group(0);
        c.kill_on_drop(true);
        c
    }

    fn spawn(name: &'static str, side: Side, mut cmd: Command) -> Result<Running> {
        let mut child = cmd
            .spawn()
            .map_err(|e| MoveError::Internal(format!("start {name} ({}): {e}", cmd.as_std().get_program().to_string_lossy())))?;
        let guard = GroupGuard { pgid: child.id().map(|p| p as i32) };
        let stderr = match child.stderr.take() {
            Some(s) => tokio::spawn(relay(name, s)),
            None => tokio::spawn(async { String::new() }),
        };
        Ok(Running { name, side, child, guard, stderr })
    }

    fn dump_args(section: &str, snapshot: &str, db: &str) -> Vec<String> {
        vec![
            "--format=custom".into(),
            // Compression would put zlib on the critical path of a local pipe.
            "--compress=0".into(),
            format!("--section={section}"),
            format!("--snapshot={snapshot}"),
            format!("--dbname={}", conninfo_dbname(db)),
        ]
    }

    /// `pg_dump --section=pre-data | pg_restore` into the staging database. Not in one
    /// transaction: a database with tens of thousands of tables would exhaust the lock
    /// table, and a failed restore is dropped with its staging database anyway.
    pub(crate) async fn pre_data(&self, src: &Endpoint, db: &str, snapshot: &str, dst: &Endpoint, staging: &str) -> Result<()> {
        let mut dump = self.command("pg_dump", src, Some("-c default_transaction_read_only=on"));
        dump.args(Self::dump_args("pre-data", snapshot, db)).stdout(Stdio::piped());
        let mut dump = Self::spawn("pg_dump", Side::Source, dump)?;
        let pipe: Stdio = dump
            .child
            .stdout
            .take()
            .ok_or_else(|| MoveError::Internal("pg_dump has no stdout".into()))?
            .try_into()
            .map_err(|e| MoveError::Internal(format!("pipe pg_dump into pg_restore: {e}")))?;
        let mut restore = self.command("pg_restore", dst, Some(RESTORE_PGOPTIONS));
        restore
            .args(["--exit-on-error", "--no-tablespaces"])
            .arg(format!("--dbname={}", conninfo_dbname(staging)))
            .stdin(pipe);
        let restore = Self::spawn("pg_restore", Side::Destination, restore)?;
        let (d, r) = tokio::join!(dump.wait(), restore.wait());
        // pg_dump's error explains a broken pipe on pg_restore's side, and vice versa
        // pg_restore's explains a pg_dump killed by SIGPIPE.
        match (d, r) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(d), Err(r)) => Err(if matches!(r, MoveError::Tool { .. }) && !matches!(d, MoveError::Tool { .. }) { d } else { r }),
        }
    }

    /// `pg_dump --section=post-data` into `file` (DDL only, small).
    pub(crate) async fn dump_post_data(&self, src: &Endpoint, db: &str, snapshot: &str, file: &Path) -> Result<()> {
        let mut dump = self.command("pg_dump", src, Some("-c default_transaction_read_only=on"));
        dump.args(Self::dump_args("post-data", snapshot, db)).arg("--file").arg(file);
        Self::spawn("pg_dump", Side::Source, dump)?.wait().await
    }

    /// The table of contents of an archive (`pg_restore -l`).
    pub(crate) async fn list(&self, dst: &Endpoint, file: &Path) -> Result<String> {
        self.capture(dst, &["--list".as_ref(), file.as_os_str()]).await
    }

    /// The SQL of the entries in `list_file`, in that file's order.
    pub(crate) async fn sql_of(&self, dst: &Endpoint, file: &Path, list_file: &Path) -> Result<String> {
        self.capture(
            dst,
            &["--no-tablespaces".as_ref(), "--file=-".as_ref(), "--use-list".as_ref(), list_file.as_os_str(), file.as_os_str()],
        )
        .await
    }

    async fn capture(&self, dst: &Endpoint, args: &[&std::ffi::OsStr]) -> Result<String> {
        let mut cmd = self.command("pg_restore", dst, None);
        cmd.args(args).stdout(Stdio::piped());
        let mut run = Self::spawn("pg_restore", Side::Destination, cmd)?;
        let mut out = String::new();
        if let Some(mut s) = run.child.stdout.take() {
            s.read_to_string(&mut out)
                .await
                .map_err(|e| MoveError::Internal(format!("read pg_restore output: {e}")))?;
        }
        run.wait().await?;
        Ok(out)
    }

    /// Restores the entries of `list_file` into `staging` with `jobs` parallel sessions.
    pub(crate) async fn restore(&self, dst: &Endpoint, staging: &str, file: &Path, list_file: &Path, jobs: usize) -> Result<()> {
        let mut cmd = self.command("pg_restore", dst, Some(RESTORE_PGOPTIONS));
        cmd.args(["--exit-on-error", "--no-tablespaces"])
            .arg(format!("--jobs={}", jobs.max(1)))
            .arg("--use-list")
            .arg(list_file)
            .arg(format!("--dbname={}", conninfo_dbname(staging)))
            .arg(file);
        Self::spawn("pg_restore", Side::Destination, cmd)?.wait().await
    }
}

/// Relays a tool's stderr line by line into tracing and returns its tail.
async fn relay(name: &'static str, stream: impl AsyncRead + Unpin) -> String {
    let mut lines = BufReader::new(stream).lines();
    let mut tail = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(tool = name, "{line}");
        tail.push_str(&line);
        tail.push('\n');
        if tail.len() > 2 * STDERR_TAIL {
            let cut = tail.len() - STDERR_TAIL;
            let cut = (cut..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
            tail.drain(..cut);
        }
    }
    if tail.len() > STDERR_TAIL {
        let cut = tail.len() - STDERR_TAIL;
        let cut = (cut..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
        tail.drain(..cut);
    }
    tail.trim_end().to_string()
}
