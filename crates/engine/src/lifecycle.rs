//! The parts of a server's life every engine goes through the same way, written once:
//! provisioning that leaves nothing behind when it fails, destroying that stops cleanly
//! when it can and kills what is left when it cannot (never removing the files of a
//! server that survived), and the liveness probe. What differs (how the files are laid
//! out, how the server is stopped, how it is asked whether it answers) each engine says
//! through [`ServerLifecycle`].

use crate::instance_dir::{self, host_error};
use crate::isolation::{self, Confinement};
use crate::process;
use crate::{EngineError, ErrorKind, InstanceSpec, Lifecycle, Liveness};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;

/// How long a server may take to start or stop.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long destroy waits for a clean shutdown before killing: the data is about to go.
const DESTROY_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long killed server processes may take to be gone.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long a running server has to answer the liveness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the shared lifecycle needs of one engine's server.
#[async_trait]
pub trait ServerLifecycle: Send + Sync {
    /// What the server's processes are called (`/proc/<pid>/comm`).
    const SERVER_NAMES: &'static [&'static str];
    /// The engine's name in errors about missing binaries (`PostgreSQL server`).
    const SERVER_LABEL: &'static str;
    /// What an initialized data directory holds (`PG_VERSION`, `mysql`).
    const DATA_MARKER: &'static str;
    /// The signal on which the server shuts down fast and clean.
    const FAST_STOP: nix::sys::signal::Signal;

    /// The binaries provisioning needs.
    fn required_tools(&self) -> Vec<PathBuf>;
    /// Whether instances run confined, each as its own system user.
    fn isolate(&self) -> bool;
    /// How the instance's processes are confined (its user made and its control groups
    /// set up if missing), or `None` when openrds does not confine (not root).
    async fn confinement(&self, spec: &InstanceSpec) -> Result<Option<Confinement>, EngineError> {
        if !self.isolate() {
            return Ok(None);
        }
        isolation::confine(spec).await.map(Some)
    }
    /// Creates the instance's files in its fresh directory and starts the server.
    async fn lay_out_and_start(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError>;
    /// What the instance's own user must own: data, log, runtime directories.
    fn owned_paths(&self, spec: &InstanceSpec) -> Vec<PathBuf>;
    /// Runs the server, launching it unless it runs, and returns once it accepts the
    /// administrator ([`wait_accepting`]).
    async fn run(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError>;
    /// The pid of the instance's running server, if any.
    fn server_pid(&self, spec: &InstanceSpec) -> Option<i32>;
    /// Stops the running server `pid` cleanly within `timeout` ([`stop`] runs it).
    async fn stop_server(&self, spec: &InstanceSpec, pid: i32, timeout: Duration) -> Result<(), EngineError>;
    /// Logs in as the administrator and runs a query; the engine's error when it cannot
    /// (`Unavailable` while the server does not accept connections yet).
    async fn check(&self, spec: &InstanceSpec) -> Result<(), EngineError>;
    /// Lays out a new instance's files from a backup (`engine::backup` layout) in its fresh
    /// directory and starts the server. Engines without backups refuse.
    async fn lay_out_from_backup(
        &self,
        _spec: &InstanceSpec,
        _confinement: Option<&Confinement>,
        _backup: &Path,
        _target: Option<&crate::RestoreTarget>,
    ) -> Result<(), EngineError> {
        Err(EngineError::new(ErrorKind::Internal, format!("{} cannot be restored from a backup", Self::SERVER_LABEL)))
    }
    /// Files the server keeps outside its directory (a socket moved by a long path),
    /// removed with it.
    fn remove_outside_files(&self, _spec: &InstanceSpec) -> Result<(), EngineError> {
        Ok(())
    }
}

/// Every server that says how it lays out, runs, stops and answers has the whole life.
#[async_trait]
impl<S: ServerLifecycle> Lifecycle for S {
    async fn provision(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        provision(self, spec).await
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        start(self, spec).await
    }

    async fn stop(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        stop(self, spec, SERVER_TIMEOUT).await
    }

    async fn restart(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        stop(self, spec, SERVER_TIMEOUT).await?;
        start(self, spec).await
    }

    async fn destroy(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        destroy(self, spec).await
    }

    async fn liveness(&self, spec: &InstanceSpec) -> Liveness {
        probe(self, spec).await
    }

    fn server_running(&self, spec: &InstanceSpec) -> bool {
        self.server_pid(spec).is_some()
    }
}

/// Where an instance's server keeps its data; its processes run there.
pub fn data_dir(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("data")
}

/// Lays out and starts a new instance; on any failure whatever it made is destroyed.
pub async fn provision<S: ServerLifecycle>(server: &S, spec: &InstanceSpec) -> Result<(), EngineError> {
    provision_as(server, spec, None).await
}

/// Provisions a new instance from a backup: as [`provision`], with the files laid out
/// from the backup instead of made afresh.
pub async fn provision_from_backup<S: ServerLifecycle>(
    server: &S,
    spec: &InstanceSpec,
    backup: &Path,
    target: Option<&crate::RestoreTarget>,
) -> Result<(), EngineError> {
    provision_as(server, spec, Some((backup, target))).await
}

async fn provision_as<S: ServerLifecycle>(server: &S, spec: &InstanceSpec, backup: Option<(&Path, Option<&crate::RestoreTarget>)>) -> Result<(), EngineError> {
    let span = tracing::info_span!("provision", instance = %spec.id, from_backup = backup.is_some());
    async {
        instance_dir::require_tools(&server.required_tools(), S::SERVER_LABEL)?;
        instance_dir::refuse_occupied(&spec.dir)?;
        // The directory before the instance's user: a user whose home (this directory)
        // does not exist is an orphan to `isolation::sweep_orphaned_users`, which another
        // control plane starting on this host may run at any moment.
        let result = match instance_dir::create_instance_dir(spec, None) {
            Ok(()) => server.confinement(spec).await,
            Err(e) => Err(e),
        };
        let result = match (result, backup) {
            (Ok(confinement), None) => server.lay_out_and_start(spec, confinement.as_ref()).await,
            (Ok(confinement), Some((backup, target))) => server.lay_out_from_backup(spec, confinement.as_ref(), backup, target).await,
            (Err(e), _) => Err(e),
        };
        instance_dir::undo_on_failure(result, destroy(server, spec)).await
    }
    .instrument(span)
    .await
}

/// Starts the server of an existing instance (a running one is left alone, once it
/// answers), confined to the instance's own user when openrds confines.
pub async fn start<S: ServerLifecycle>(server: &S, spec: &InstanceSpec) -> Result<(), EngineError> {
    let span = tracing::info_span!("start", instance = %spec.id);
    async {
        if std::fs::symlink_metadata(data_dir(spec).join(S::DATA_MARKER)).is_err() {
            return Err(EngineError::new(
                ErrorKind::NotFound,
                format!("instance {} has no data directory under {}", spec.id, spec.dir.display()),
            ));
        }
        let confinement = server.confinement(spec).await?;
        if let Some(c) = &confinement {
            move_to_own_user(server, spec, c).await?;
        }
        server.run(spec, confinement.as_ref()).await
    }
    .instrument(span)
    .await
}

/// An instance made by an earlier version ran as the engine's shared user: its server (if
/// running) is stopped, and its files are given to the instance's own user, so the start
/// that follows runs it confined. Its data is untouched.
async fn move_to_own_user<S: ServerLifecycle>(server: &S, spec: &InstanceSpec, confinement: &Confinement) -> Result<(), EngineError> {
    let own = confinement.owner();
    if let Some(pid) = server.server_pid(spec) {
        if isolation::process_uid(pid).is_some_and(|uid| uid != own.uid) {
            tracing::info!(instance = %spec.id, pid, "stopping a server that runs as the shared user, to restart it as the instance's own");
            // Signalled from here: the engine's tools, run as the instance's user, could not.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), S::FAST_STOP);
            let deadline = tokio::time::Instant::now() + SERVER_TIMEOUT;
            while server.server_pid(spec).is_some() {
                if tokio::time::Instant::now() >= deadline {
                    return Err(EngineError::new(ErrorKind::Unavailable, format!("instance {} did not stop to move to its own user", spec.id)));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    for path in server.owned_paths(spec) {
        if isolation::owner_uid(&path).is_some_and(|uid| uid != own.uid) {
            tracing::info!(instance = %spec.id, path = %path.display(), "giving the instance's files to its own system user");
            isolation::chown_tree(&path, own)?;
        }
    }
    Ok(())
}

/// Stops the server cleanly within `timeout`; nothing to do when it is not running.
pub async fn stop<S: ServerLifecycle>(server: &S, spec: &InstanceSpec, timeout: Duration) -> Result<(), EngineError> {
    let span = tracing::info_span!("stop", instance = %spec.id);
    async {
        let Some(pid) = server.server_pid(spec) else { return Ok(()) };
        match server.stop_server(spec, pid, timeout).await {
            // It may have stopped on its own meanwhile.
            Err(_) if server.server_pid(spec).is_none() => {}
            Err(e) => return Err(EngineError::new(e.kind, format!("{}{}", e.message, instance_dir::log_tail(spec)))),
            Ok(()) => {}
        }
        tracing::info!("server stopped");
        Ok(())
    }
    .instrument(span)
    .await
}

/// Stops the server (killing it when a clean stop fails), then removes the instance's
/// files and its user. Harmless when there is nothing left; a server that survives
/// SIGKILL keeps its directory.
pub async fn destroy<S: ServerLifecycle>(server: &S, spec: &InstanceSpec) -> Result<(), EngineError> {
    let span = tracing::info_span!("destroy", instance = %spec.id);
    async {
        if std::fs::symlink_metadata(&spec.dir).is_err() {
            return release(server, spec).await;
        }
        if let Err(e) = stop(server, spec, DESTROY_STOP_TIMEOUT).await {
            tracing::warn!(error = %e, "clean shutdown failed; killing the server");
        }
        kill_what_is_left::<S>(server.server_pid(spec), &data_dir(spec), &spec.id).await?;
        server.remove_outside_files(spec)?;
        match std::fs::remove_dir_all(&spec.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(host_error(format!("remove {}", spec.dir.display()), e)),
            _ => {
                tracing::info!("instance removed");
                release(server, spec).await
            }
        }
    }
    .instrument(span)
    .await
}

/// Kills the server `pid` and every server process of `data` (one still starting has no
/// pid file yet; it is found by its directory), with their process groups, and waits for
/// them to be gone.
async fn kill_what_is_left<S: ServerLifecycle>(pid: Option<i32>, data: &Path, id: &str) -> Result<(), EngineError> {
    let pids: Vec<i32> = pid.into_iter().chain(servers_in(data, S::SERVER_NAMES)).collect();
    if pids.is_empty() {
        return Ok(());
    }
    for &pid in &pids {
        process::kill_server(pid);
    }
    let deadline = tokio::time::Instant::now() + KILL_WAIT;
    let alive = || pids.iter().any(|&p| process::server_alive(p, data, S::SERVER_NAMES) || process::group_alive(p));
    while alive() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match pids.iter().find(|&&p| process::server_alive(p, data, S::SERVER_NAMES)) {
        Some(pid) => Err(EngineError::new(
            ErrorKind::Internal,
            format!("server process {pid} of instance {id} survived SIGKILL; its directory is kept"),
        )),
        None => Ok(()),
    }
}

/// Server processes (called one of `names`) whose working directory is `data`, seen to
/// be: none when `data` does not exist or a process's directory cannot be read. Never
/// the name alone, which would take the host's own servers of the same engine.
fn servers_in(data: &Path, names: &[&str]) -> Vec<i32> {
    let (Ok(data), Ok(entries)) = (data.canonicalize(), std::fs::read_dir("/proc")) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data))
        .filter(|&pid| process::server_alive(pid, &data, names))
        .collect()
}

/// The instance's user and control groups go once nothing of it is left.
async fn release<S: ServerLifecycle>(server: &S, spec: &InstanceSpec) -> Result<(), EngineError> {
    if server.isolate() {
        isolation::release(spec).await?;
    }
    Ok(())
}

/// Running when the server's process is there and it answers in time; Unresponsive when
/// it is there but does not.
pub async fn probe<S: ServerLifecycle>(server: &S, spec: &InstanceSpec) -> Liveness {
    if server.server_pid(spec).is_none() {
        return Liveness::Stopped;
    }
    match tokio::time::timeout(PROBE_TIMEOUT, server.check(spec)).await {
        Ok(Ok(())) => Liveness::Running,
        _ => Liveness::Unresponsive,
    }
}

/// Waits until a server just started accepts the administrator's login (what callers
/// need, and the proof that its credentials match). Gives up when it stops (`alive`
/// says no more) or after [`SERVER_TIMEOUT`], with the end of its log; an error other than
/// `Unavailable` (a refused login) is final at once.
pub async fn wait_accepting<S: ServerLifecycle>(server: &S, spec: &InstanceSpec, alive: impl Fn() -> bool) -> Result<(), EngineError> {
    let deadline = tokio::time::Instant::now() + SERVER_TIMEOUT;
    loop {
        let err = match server.check(spec).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let log = instance_dir::log_tail(spec);
        if err.kind != ErrorKind::Unavailable {
            return Err(EngineError::new(err.kind, format!("{}{log}", err.message)));
        }
        if !alive() {
            return Err(EngineError::new(ErrorKind::Unavailable, format!("instance {} stopped while starting: {}{log}", spec.id, err.message)));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(EngineError::new(ErrorKind::Unavailable, format!("{}{log}", err.message)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A server that records whether the instance directory existed when the instance's
    /// user was asked for, then fails to lay out.
    #[derive(Default)]
    struct Recorder {
        dir_before_user: AtomicBool,
    }

    #[async_trait]
    impl ServerLifecycle for Recorder {
        const SERVER_NAMES: &'static [&'static str] = &["openrds-no-such-server"];
        const SERVER_LABEL: &'static str = "test server";
        const DATA_MARKER: &'static str = "marker";
        const FAST_STOP: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGTERM;

        fn required_tools(&self) -> Vec<PathBuf> {
            Vec::new()
        }
        fn isolate(&self) -> bool {
            false
        }
        async fn confinement(&self, spec: &InstanceSpec) -> Result<Option<Confinement>, EngineError> {
            self.dir_before_user.store(spec.dir.is_dir(), Ordering::SeqCst);
            Ok(None)
        }
        async fn lay_out_and_start(&self, _spec: &InstanceSpec, _confinement: Option<&Confinement>) -> Result<(), EngineError> {
            Err(EngineError::new(ErrorKind::Internal, "laying out fails here"))
        }
        fn owned_paths(&self, _spec: &InstanceSpec) -> Vec<PathBuf> {
            Vec::new()
        }
        async fn run(&self, _spec: &InstanceSpec, _confinement: Option<&Confinement>) -> Result<(), EngineError> {
            Ok(())
        }
        fn server_pid(&self, _spec: &InstanceSpec) -> Option<i32> {
            None
        }
        async fn stop_server(&self, _spec: &InstanceSpec, _pid: i32, _timeout: Duration) -> Result<(), EngineError> {
            Ok(())
        }
        async fn check(&self, _spec: &InstanceSpec) -> Result<(), EngineError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_instance_directory_exists_before_its_user_and_goes_with_a_failed_provision() {
        // A user whose home is missing is an orphan to a sweep that another control plane
        // on the host may run at any moment: the directory must come first.
        let tmp = tempfile::tempdir().unwrap();
        let spec = InstanceSpec {
            id: "t-order".into(),
            dir: tmp.path().join("t-order"),
            listen_host: "127.0.0.1".into(),
            port: 1,
            settings: crate::ServerSettings { memory_mb: 256, cpu: 1, max_connections: 10 },
        };
        let server = Recorder::default();
        let e = provision(&server, &spec).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal, "{e}");
        assert!(server.dir_before_user.load(Ordering::SeqCst), "the user was made before the directory");
        assert!(!spec.dir.exists(), "a failed provision leaves no directory");
    }

    #[test]
    fn a_missing_data_directory_has_no_servers() {
        // A process surely alive and named: this test's own. Destroying an instance whose
        // data directory was never made once killed the host's servers of the engine by name.
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let names = [me.trim()];
        assert!(servers_in(Path::new("/nonexistent/openrds-instance/data"), &names).is_empty());
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(servers_in(&cwd, &names), vec![std::process::id() as i32], "a server of the directory is found");
    }
}
