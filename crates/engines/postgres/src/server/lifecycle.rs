//! A server's life: the files provisioning lays out, starting and stopping through
//! pg_ctl, finding a running server again through its pid file, and removing it all.

use super::sql::conf_string;
use super::{PostgresEngine, ADMIN_USER};
use engine::instance_dir::{self, host_error, log_file, log_tail, set_mode, write_admin, write_private};
use engine::isolation::Confinement;
use engine::lifecycle::{self, data_dir, ServerLifecycle, SERVER_TIMEOUT};
use engine::process::{self, chown, RunAs};
use engine::{AdminConnection, EngineError, ErrorKind, InstanceSpec, ServerSettings};
use std::path::PathBuf;
use std::time::Duration;

const SERVER_NAMES: &[&str] = <PostgresEngine as ServerLifecycle>::SERVER_NAMES;
/// The line of postgresql.conf that reads openrds' settings; the last word on them
/// except for ALTER SYSTEM.
const INCLUDE_SETTINGS: &str = "include 'openrds.conf'";
/// The line that reads the settings of a point-in-time restore (recovery target, restore
/// command), present only while a restored server replays its log; after openrds.conf, so
/// they win.
pub(super) const RESTORE_SETTINGS: &str = "openrds-restore.conf";
const INCLUDE_RESTORE: &str = "include_if_exists 'openrds-restore.conf'";
/// The line that reads the parameters set through the API, after the class's settings and
/// before a restore's.
pub(super) const INCLUDE_PARAMETERS: &str = "include_if_exists 'openrds-parameters.conf'";

#[async_trait::async_trait]
impl ServerLifecycle for PostgresEngine {
    const SERVER_NAMES: &'static [&'static str] = &["postgres", "postmaster"];
    const SERVER_LABEL: &'static str = "PostgreSQL server";
    const DATA_MARKER: &'static str = "PG_VERSION";
    /// SIGINT is PostgreSQL's fast shutdown.
    const FAST_STOP: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGINT;

    fn required_tools(&self) -> Vec<PathBuf> {
        ["initdb", "pg_ctl", "postgres"].map(|t| self.bin(t)).to_vec()
    }

    fn isolate(&self) -> bool {
        self.config.isolate
    }

    async fn lay_out_and_start(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError> {
        let run_as = confinement.map(Confinement::owner);
        instance_dir::create_instance_dir(spec, run_as)?;
        let data = data_dir(spec);
        std::fs::create_dir(&data).map_err(|e| host_error(format!("create {}", data.display()), e))?;
        set_mode(&data, 0o700)?;
        chown(&data, run_as)?;
        instance_dir::ensure_log(spec, run_as)?;

        let password = random_password();
        write_admin(spec, ADMIN_USER, &password)?;
        self.initdb(spec, confinement, &password).await?;
        // Until the instance's security IP list is applied (right after provisioning),
        // only the internal administrator may log in.
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, super::access::render_hba(&[])).map_err(|e| host_error(format!("write {}", hba.display()), e))?;
        lifecycle::start(self, spec).await
    }

    async fn lay_out_from_backup(
        &self,
        spec: &InstanceSpec,
        confinement: Option<&Confinement>,
        backup: &std::path::Path,
        target: Option<&engine::RestoreTarget>,
    ) -> Result<(), EngineError> {
        self.lay_out_from(spec, confinement, backup, target).await
    }

    fn owned_paths(&self, spec: &InstanceSpec) -> Vec<PathBuf> {
        vec![data_dir(spec), log_file(spec), wal_archive(spec)]
    }

    /// Launches the server with pg_ctl unless it runs, then waits for the admin's login.
    async fn run(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError> {
        loop {
            let launched = Self::running_pid(spec).is_none();
            if launched {
                Self::write_settings(spec, confinement.map(Confinement::owner))?;
                Self::remove_stale_pid_file(spec)?;
                let timeout = SERVER_TIMEOUT.as_secs().to_string();
                let log = log_file(spec);
                let log = log.to_string_lossy();
                let mut tries = 0;
                loop {
                    tries += 1;
                    match self.pg_ctl(spec, &["start", "-l", &log, "-w", "-t", &timeout, "-s"], &format!("start instance {}", spec.id)).await {
                        Ok(()) => break,
                        // Backends of a server killed a moment ago can still hold its
                        // shared memory or port while they exit; give them a moment.
                        Err(e) if tries < 3 => {
                            tracing::warn!(error = %e.message, "start failed; retrying");
                            Self::remove_stale_pid_file(spec)?;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => return Err(EngineError::new(e.kind, format!("{}{}", e.message, log_tail(spec)))),
                    }
                }
                tracing::info!(port = spec.port, "server started");
            }
            // pg_ctl reports readiness from the pid file; the admin's login is what counts.
            match lifecycle::wait_accepting(self, spec, || Self::running_pid(spec).is_some()).await {
                // The server we found was dying (killed, not yet gone) when we looked:
                // now it is gone, so start it.
                Err(_) if !launched && Self::running_pid(spec).is_none() => continue,
                Err(e) => return Err(e),
                Ok(()) => return self.prepare_tenant_admin(spec).await,
            }
        }
    }

    fn server_pid(&self, spec: &InstanceSpec) -> Option<i32> {
        Self::running_pid(spec)
    }

    /// `pg_ctl stop -m fast`: sessions end, the server checkpoints and exits.
    async fn stop_server(&self, spec: &InstanceSpec, _pid: i32, timeout: Duration) -> Result<(), EngineError> {
        let timeout = timeout.as_secs().to_string();
        self.pg_ctl(spec, &["stop", "-m", "fast", "-w", "-t", &timeout, "-s"], &format!("stop instance {}", spec.id)).await
    }

    async fn check(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let c = self.connect(spec, "postgres").await?;
        c.simple_query("SELECT 1").await.map_err(|e| super::sql::pg_error(e, &format!("check instance {}", spec.id)))?;
        Ok(())
    }
}

pub(super) fn read_admin(spec: &InstanceSpec) -> Result<AdminConnection, EngineError> {
    instance_dir::read_admin(spec, "postgres")
}

/// Where the server copies each finished WAL segment: inside the instance's directory,
/// the only one its confined processes see. openrds moves them on to the backup area
/// (`archive_logs`), where point-in-time restores read them.
pub(super) fn wal_archive(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("wal-archive")
}

/// The shell command the archiver runs for each segment (`%p` its path, `%f` its name): a
/// hard link, so archiving copies nothing. Copying every segment with `cp` took 4-6% of a
/// bulk load's time on two cores (a 1 GB import, alternating: 6.60-6.77 s with `cp`,
/// 6.30-6.43 s linked). A link is safe because the server never writes a finished segment
/// again and, with `wal_recycle = off` ([`render_settings`]), deletes old segments rather
/// than renaming them to take new WAL. Where the archive is on another filesystem than
/// `pg_wal`, the segment is copied under a temporary name and renamed, so a segment in the
/// archive is never half written. A `%` of the path is doubled, or the server would
/// substitute it.
fn archive_command(spec: &InstanceSpec) -> String {
    let dir = wal_archive(spec).to_string_lossy().replace('%', "%%");
    let dir = format!("'{}'", dir.replace('\'', "'\\''"));
    format!("ln -f %p {dir}/%f 2>/dev/null || {{ cp %p {dir}/%f.part && mv -f {dir}/%f.part {dir}/%f; }}")
}

/// The settings an instance class implies, in postgresql.conf syntax.
fn render_settings(spec: &InstanceSpec, host_memory_mb: Option<u64>) -> String {
    let ServerSettings { memory_mb, max_connections, .. } = spec.settings;
    // A class may promise more memory than this host has; the server must still start,
    // and shared memory is reserved up front.
    let ceiling = host_memory_mb.map(|m| (m / 2).max(128)).unwrap_or(u64::MAX);
    let shared_buffers = (memory_mb / 4).max(128).min(ceiling);
    let effective_cache_size = (memory_mb * 3 / 4).max(shared_buffers);
    let maintenance_work_mem = (memory_mb / 16).clamp(64, 2048);
    let work_mem = (memory_mb / 512).clamp(4, 256);
    // PostgreSQL's own choice (a 32nd of shared_buffers) stops at 16 MB. A bulk load (an
    // import, a restore) fills that in a few tens of milliseconds and its backend then
    // writes the WAL itself; with more room and a walwriter that wakes every 10 ms, the
    // walwriter does it on another core (a 1 GB import: 5.55 s -> 5.3 s, bench/RESULTS.md).
    let wal_buffers = (shared_buffers / 32).clamp(1, 64);
    // `wal_recycle = off`: the archive holds hard links to finished segments
    // ([`archive_command`]), so an old segment must be deleted, not renamed and rewritten.
    // New segments are still zero-filled first (`wal_init_zero`): writing WAL into a file
    // with holes made a 1 GB import 10% slower on ext4.
    // The server refuses to start unless max_connections exceeds its reserved slots.
    let max_connections = max_connections.max(10);
    format!(
        "# Written by openrds from the instance class; ALTER SYSTEM overrides it.\n\
         listen_addresses = {listen}\n\
         port = {port}\n\
         unix_socket_directories = ''\n\
         max_connections = {max_connections}\n\
         shared_buffers = {shared_buffers}MB\n\
         effective_cache_size = {effective_cache_size}MB\n\
         maintenance_work_mem = {maintenance_work_mem}MB\n\
         work_mem = {work_mem}MB\n\
         wal_buffers = {wal_buffers}MB\n\
         wal_writer_delay = 10ms\n\
         wal_recycle = off\n\
         password_encryption = 'scram-sha-256'\n\
         logging_collector = off\n\
         {log_settings}\n\
         archive_mode = on\n\
         archive_command = {archive}\n",
        listen = conf_string(&spec.listen_host),
        port = spec.port,
        archive = conf_string(&archive_command(spec)),
        log_settings = super::logs::LOG_SETTINGS.trim_end(),
    )
}

fn host_memory_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

impl PostgresEngine {

    async fn initdb(&self, spec: &InstanceSpec, confinement: Option<&Confinement>, password: &str) -> Result<(), EngineError> {
        // initdb reads the password from a file the engine user can read; it goes away
        // as soon as initdb is done, whatever the outcome.
        let pwfile = spec.dir.join("initdb.pw");
        write_private(&pwfile, password)?;
        let result = match chown(&pwfile, confinement.map(Confinement::owner)) {
            Ok(()) => {
                let mut pwarg = std::ffi::OsString::from("--pwfile=");
                pwarg.push(&pwfile);
                let args: Vec<std::ffi::OsString> = vec![
                    "-D".into(),
                    data_dir(spec).into(),
                    "-U".into(),
                    ADMIN_USER.into(),
                    pwarg,
                    "--auth=scram-sha-256".into(),
                    "-E".into(),
                    "UTF8".into(),
                    "--locale=C.UTF-8".into(),
                    "--no-instructions".into(),
                ];
                process::run(&self.bin("initdb"), args, confinement, "initdb").await
            }
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&pwfile);
        // initdb fails on the host's account: permissions, disk, locales.
        result.map_err(|e| EngineError::new(if e.kind == ErrorKind::Unavailable { ErrorKind::HostSetup } else { e.kind }, e.message))
    }

    /// Writes the settings of `spec` where postgresql.conf includes them. Done before
    /// every start, so a changed spec (port, instance class) takes effect on the next
    /// start or restart.
    fn write_settings(spec: &InstanceSpec, run_as: Option<RunAs>) -> Result<(), EngineError> {
        let data = data_dir(spec);
        let conf = data.join("openrds.conf");
        std::fs::write(&conf, render_settings(spec, host_memory_mb())).map_err(|e| host_error(format!("write {}", conf.display()), e))?;
        set_mode(&conf, 0o600)?;
        chown(&conf, run_as)?;
        let archive = wal_archive(spec);
        if !archive.is_dir() {
            std::fs::create_dir(&archive).map_err(|e| host_error(format!("create {}", archive.display()), e))?;
        }
        set_mode(&archive, 0o700)?;
        chown(&archive, run_as)?;
        Self::ensure_includes(spec)?;
        instance_dir::ensure_log(spec, run_as)
    }

    /// postgresql.conf includes, in this order, the class's settings, the parameters set
    /// through the API and a restore's settings (the later wins).
    fn ensure_includes(spec: &InstanceSpec) -> Result<(), EngineError> {
        let main_conf = data_dir(spec).join("postgresql.conf");
        let text = std::fs::read_to_string(&main_conf).map_err(|e| host_error(format!("read {}", main_conf.display()), e))?;
        let wanted = [
            ("# openrds: settings of the instance class", INCLUDE_SETTINGS),
            ("# openrds: parameters set through the API (ModifyParameter)", INCLUDE_PARAMETERS),
            ("# openrds: a point-in-time restore's recovery settings, while it replays", INCLUDE_RESTORE),
        ];
        let ours: Vec<&str> = wanted.iter().flat_map(|(comment, line)| [*comment, *line]).collect();
        let kept: Vec<&str> = text.lines().filter(|l| !ours.contains(&l.trim()) && !l.trim().starts_with("# openrds:")).collect();
        let mut rebuilt = kept.join("\n").trim_end().to_string();
        rebuilt.push('\n');
        for (comment, line) in wanted {
            rebuilt.push_str(&format!("{comment}\n{line}\n"));
        }
        if rebuilt != text {
            std::fs::write(&main_conf, rebuilt).map_err(|e| host_error(format!("write {}", main_conf.display()), e))?;
        }
        Ok(())
    }

    /// For a server running since before parameters existed (see `parameters`).
    pub(super) fn ensure_parameters_included(spec: &InstanceSpec) -> Result<(), EngineError> {
        Self::ensure_includes(spec)
    }

    /// The pid in `data/postmaster.pid`, if that process is still our server.
    pub(super) fn running_pid(spec: &InstanceSpec) -> Option<i32> {
        let data = data_dir(spec);
        let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
        let pid = text.lines().next()?.trim().parse().ok()?;
        process::server_alive(pid, &data, SERVER_NAMES).then_some(pid)
    }

    /// A pid file left by a server that died. The server treats any live process with
    /// that pid as its predecessor, and a killed server stays a zombie where nothing reaps
    /// orphans, so it would refuse to start. Removing the file is safe once the recorded
    /// process is not a server of this directory: the server's second interlock, on its
    /// shared memory, still refuses to start while old backends linger.
    fn remove_stale_pid_file(spec: &InstanceSpec) -> Result<(), EngineError> {
        let path = data_dir(spec).join("postmaster.pid");
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(instance = %spec.id, "removed the pid file of a server that is gone");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(host_error(format!("remove {}", path.display()), e)),
        }
    }

    async fn pg_ctl(&self, spec: &InstanceSpec, args: &[&str], what: &str) -> Result<(), EngineError> {
        let mut all: Vec<std::ffi::OsString> = vec!["-D".into(), data_dir(spec).into()];
        all.extend(args.iter().map(Into::into));
        process::run(&self.bin("pg_ctl"), all, self.confinement(spec).await?.as_ref(), what).await
    }





}

#[cfg(test)]
mod tests {
    use super::*;

    use engine::conformance::support::{class_spec, conf_value as setting};

    fn spec(memory_mb: u64, max_connections: u32) -> InstanceSpec {
        class_spec("pgm-test", "/nonexistent", 5999, memory_mb, max_connections)
    }

    #[test]
    fn settings_follow_the_instance_class() {
        let conf = render_settings(&spec(16384, 1600), Some(65536));
        assert_eq!(setting(&conf, "shared_buffers"), "4096MB");
        assert_eq!(setting(&conf, "effective_cache_size"), "12288MB");
        assert_eq!(setting(&conf, "wal_buffers"), "64MB");
        assert_eq!(setting(&conf, "wal_writer_delay"), "10ms");
        assert_eq!(setting(&conf, "max_connections"), "1600");
        assert_eq!(setting(&conf, "port"), "5999");
        assert_eq!(setting(&conf, "listen_addresses"), "'127.0.0.1'");
        assert_eq!(setting(&conf, "unix_socket_directories"), "''");
        assert_eq!(setting(&conf, "password_encryption"), "'scram-sha-256'");
        assert_eq!(setting(&conf, "logging_collector"), "off");
        assert_eq!(setting(&conf, "archive_mode"), "on");
        assert_eq!(
            setting(&conf, "archive_command"),
            "'ln -f %p ''/nonexistent/wal-archive''/%f 2>/dev/null || { cp %p ''/nonexistent/wal-archive''/%f.part && mv -f ''/nonexistent/wal-archive''/%f.part ''/nonexistent/wal-archive''/%f; }'"
        );
        // Archived segments are links: the server must never rewrite an old segment.
        assert_eq!(setting(&conf, "wal_recycle"), "off");
    }

    #[test]
    fn the_archive_command_quotes_its_directory() {
        let odd = class_spec("pgm-test", "/srv/it's 100%", 5999, 1024, 10);
        let dir = "'/srv/it'\\''s 100%%/wal-archive'";
        assert_eq!(archive_command(&odd), format!("ln -f %p {dir}/%f 2>/dev/null || {{ cp %p {dir}/%f.part && mv -f {dir}/%f.part {dir}/%f; }}"));
    }

    #[test]
    fn small_classes_get_the_minimums_and_big_ones_fit_the_host() {
        let conf = render_settings(&spec(256, 2), Some(65536));
        assert_eq!(setting(&conf, "shared_buffers"), "128MB");
        assert_eq!(setting(&conf, "wal_buffers"), "4MB", "PostgreSQL's own choice below 512 MB of shared_buffers");
        assert_eq!(setting(&conf, "max_connections"), "10");
        let conf = render_settings(&spec(65536, 100), Some(8192));
        assert_eq!(setting(&conf, "shared_buffers"), "4096MB");
        assert_eq!(setting(&conf, "effective_cache_size"), "49152MB");
    }
}
