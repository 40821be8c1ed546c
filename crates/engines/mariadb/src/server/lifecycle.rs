//! A server's life: the files provisioning lays out, starting mariadbd detached and
//! stopping it with SIGTERM, finding a running server again through its pid file, and
//! removing it all.

use super::sql::literal;
use super::{MariaDbEngine, ADMIN_USER};
use engine::instance_dir::{self, host_error, log_file, log_tail, set_mode, write_admin, write_private};
use engine::isolation::Confinement;
use engine::lifecycle::{self, data_dir, ServerLifecycle};
use engine::process::{self, chown, RunAs};
use engine::{AdminConnection, EngineError, ErrorKind, InstanceSpec, ServerSettings};
use mysql_async::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SERVER_NAMES: &[&str] = <MariaDbEngine as ServerLifecycle>::SERVER_NAMES;
/// Longest unix socket path the kernel accepts (`sun_path` less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

#[async_trait::async_trait]
impl ServerLifecycle for MariaDbEngine {
    const SERVER_NAMES: &'static [&'static str] = &["mariadbd", "mysqld"];
    const SERVER_LABEL: &'static str = "MariaDB server";
    const DATA_MARKER: &'static str = "mysql";
    /// SIGTERM is mariadbd's clean shutdown: it ends sessions, flushes InnoDB and exits.
    const FAST_STOP: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGTERM;

    fn required_tools(&self) -> Vec<PathBuf> {
        vec![self.install_db(), self.server_bin()]
    }

    fn isolate(&self) -> bool {
        self.config.isolate
    }

    async fn lay_out_and_start(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError> {
        let run_as = confinement.map(Confinement::owner);
        instance_dir::create_instance_dir(spec, run_as)?;
        engine_dir(&data_dir(spec), 0o700, run_as)?;
        Self::write_settings(spec, run_as)?;

        let password = random_password();
        write_admin(spec, ADMIN_USER, &password)?;
        let bootstrap = bootstrap_file(spec);
        write_private(&bootstrap, &bootstrap_sql(&password))?;
        chown(&bootstrap, run_as)?;
        self.install_db_files(spec, confinement).await?;
        lifecycle::start(self, spec).await
    }

    /// No bootstrap: the backup's data already holds the administrator, with the password
    /// of the credentials kept beside it.
    ///
    /// With a target, the archived binary log is then replayed into the running server up
    /// to it (checked first, so a log that cannot reach it fails before anything is made).
    async fn lay_out_from_backup(&self, spec: &InstanceSpec, confinement: Option<&Confinement>, backup: &Path, target: Option<&engine::RestoreTarget>) -> Result<(), EngineError> {
        let replay = match target {
            Some(target) => Some(self.plan_replay(backup, target).await?),
            None => None,
        };
        let run_as = confinement.map(Confinement::owner);
        instance_dir::create_instance_dir(spec, run_as)?;
        super::backups::restore_data(spec, run_as, backup).await?;
        Self::write_settings(spec, run_as)?;
        engine::backup::restore_admin(backup, spec)?;
        lifecycle::start(self, spec).await?;
        match replay {
            Some(replay) => self.replay(spec, &replay).await,
            None => Ok(()),
        }
    }

    fn owned_paths(&self, spec: &InstanceSpec) -> Vec<PathBuf> {
        vec![data_dir(spec), run_dir(spec), tmp_dir(spec), binlog_dir(spec), log_file(spec)]
    }

    /// Launches mariadbd unless it runs, then waits for the admin's login.
    async fn run(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError> {
        loop {
            match Self::running_pid(spec) {
                Some(pid) => match lifecycle::wait_accepting(self, spec, || process::pid_alive(pid)).await {
                    // The server we found was dying (killed, not yet gone) when we
                    // looked: now it is gone, so start it.
                    Err(_) if Self::running_pid(spec).is_none() => continue,
                    result => result?,
                },
                None => {
                    Self::write_settings(spec, confinement.map(Confinement::owner))?;
                    Self::remove_stale_files(spec)?;
                    let pid = self.launch(spec, confinement)?;
                    // Right after launch the pid may still be the confinement's
                    // wrapper, on its way to exec the server: alive is what counts
                    // here, not the name (the pid file appears only once the server
                    // is nearly up).
                    lifecycle::wait_accepting(self, spec, || process::pid_alive(pid)).await?;
                    tracing::info!(port = spec.port, "server started");
                }
            }
            // The admin exists now; the password need not stay on disk a moment longer.
            return remove_if_present(&bootstrap_file(spec));
        }
    }

    fn server_pid(&self, spec: &InstanceSpec) -> Option<i32> {
        Self::running_pid(spec)
    }

    /// [`Self::FAST_STOP`], then the wait until the server is gone.
    async fn stop_server(&self, spec: &InstanceSpec, pid: i32, timeout: Duration) -> Result<(), EngineError> {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Self::FAST_STOP);
        let deadline = tokio::time::Instant::now() + timeout;
        while process::server_alive(pid, &data_dir(spec), SERVER_NAMES) {
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::new(ErrorKind::Unavailable, format!("instance {} did not stop within {}s", spec.id, timeout.as_secs())));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn check(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let mut c = self.connect(spec).await?;
        c.query_drop("SELECT 1").await.map_err(|e| super::sql::my_error(e, &format!("check instance {}", spec.id)))?;
        let _ = c.disconnect().await;
        Ok(())
    }

    /// Outside the directory when the path was too long for it.
    fn remove_outside_files(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        Self::remove_stale_files(spec)
    }
}

fn run_dir(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("run")
}

fn tmp_dir(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("tmp")
}

/// Where the server writes its binary log: inside the instance's directory, the only one
/// its confined processes see. openrds moves each closed file on to the backup area and
/// purges it here (`binlog.rs`).
pub(super) fn binlog_dir(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("binlog")
}

/// The binary log's files are `<BINLOG_BASE>.000001`, `.000002`... (and `.index`).
const BINLOG_BASE: &str = "mariadb-bin";

/// The server's list of its binary log files, one path a line, the one it writes last.
pub(super) fn binlog_index(spec: &InstanceSpec) -> PathBuf {
    binlog_dir(spec).join(format!("{BINLOG_BASE}.index"))
}

/// The instance's `server_id`, which stamps every event of its binary log: derived from
/// its id (FNV-1a), so instances on a host and a clone and its source differ, and never 0
/// (which the server takes for "no id").
fn server_id(instance_id: &str) -> u32 {
    let hash = instance_id.bytes().fold(0x811c9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x01000193));
    hash.max(1)
}

fn pid_file(spec: &InstanceSpec) -> PathBuf {
    run_dir(spec).join("mariadbd.pid")
}

/// The slow query log (`logs.rs` reads it).
pub(super) fn slow_log_file(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("slow.log")
}

pub(super) fn config_file(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("my.cnf")
}

/// The SQL the first start runs; it holds the admin password, so it lives only until the
/// server answers.
fn bootstrap_file(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("bootstrap.sql")
}

/// The server's socket: in `run/` when the path fits the kernel's limit, else in /tmp
/// under the instance id (the engine user may create files there; ids are unique on a
/// host).
pub(super) fn socket_path(spec: &InstanceSpec) -> PathBuf {
    let own = run_dir(spec).join("mariadbd.sock");
    // The server also makes `<socket>.lock` next to it.
    if own.as_os_str().len() + ".lock".len() <= MAX_SOCKET_PATH {
        own
    } else {
        PathBuf::from(format!("/tmp/openrds-mariadb-{}.sock", spec.id))
    }
}

pub(super) fn read_admin(spec: &InstanceSpec) -> Result<AdminConnection, EngineError> {
    instance_dir::read_admin(spec, "mysql")
}

/// A value in an option file: double-quoted, where backslashes escape.
fn cnf_value(value: &Path) -> String {
    format!("\"{}\"", value.to_string_lossy().replace('\\', "\\\\").replace('"', "\\\""))
}

/// The buffer pool for a class of `memory_mb`: a quarter of it, as several instances share
/// a host (pages are touched lazily, so the size is a ceiling, not a reservation), within
/// what small classes need to work and large ones can use on a shared host.
fn buffer_pool_mb(memory_mb: u64) -> u64 {
    (memory_mb / 4).clamp(128, 4096)
}

/// The whole option file of an instance. The server reads nothing else (`--defaults-file`
/// comes first), so /etc/mysql cannot steer it.
pub(super) fn render_settings(spec: &InstanceSpec) -> String {
    let ServerSettings { memory_mb, max_connections, .. } = spec.settings;
    let parameters = super::parameters::file(spec);
    // Last, so a value set through the API wins (ModifyParameter; see parameters.rs).
    let include = if parameters.is_file() { format!("!include {}\n", parameters.display()) } else { String::new() };
    let settings = format!(
        "# Written by openrds from the instance class before every start; edits are lost.\n\
         [mysqld]\n\
         datadir = {datadir}\n\
         port = {port}\n\
         bind-address = {listen}\n\
         socket = {socket}\n\
         pid-file = {pid}\n\
         tmpdir = {tmp}\n\
         log-error = {log}\n\
         # Statements that run a second or longer, for DescribeSlowLogRecords\n\
         # (slow_query_log is a parameter callers may change).\n\
         slow-query-log = ON\n\
         long-query-time = 1\n\
         slow-query-log-file = {slow}\n\
         # LOAD DATA INFILE and SELECT INTO OUTFILE stay inside this instance's directory\n\
         # (its own system user could reach nothing else of value anyway).\n\
         secure-file-priv = {tmp}\n\
         skip-name-resolve\n\
         local-infile = 1\n\
         character-set-server = utf8mb4\n\
         collation-server = utf8mb4_general_ci\n\
         max_connections = {max_connections}\n\
         # A row is as large as the largest one stored: the import reads every row whole.\n\
         max_allowed_packet = 1G\n\
         innodb_buffer_pool_size = {buffer_pool}M\n\
         innodb_log_file_size = 512M\n\
         # The binary log, for point-in-time restores. Rows, not statements: a replay must\n\
         # redo exactly what happened. Synced at each commit group, as InnoDB's redo is: a\n\
         # commit a client saw must not be missing from the log after a host crash.\n\
         # Rotated at 128M so a closed file reaches the archive soon; never expired: openrds\n\
         # purges each file once it is archived. No statement text beside the rows (it would\n\
         # double the log of large INSERTs, and a replay does not read it).\n\
         log-bin = {binlog}\n\
         log-bin-index = {binlog_index}\n\
         server-id = {server_id}\n\
         binlog-format = ROW\n\
         sync-binlog = 1\n\
         max-binlog-size = 128M\n\
         binlog-expire-logs-seconds = 0\n\
         binlog-annotate-row-events = OFF\n\
         # Accounts without SUPER (every API account) may create functions, procedures and\n\
         # triggers, as without a binary log: rows are logged, not the calls, so what a\n\
         # function does can never differ on replay.\n\
         log-bin-trust-function-creators = 1\n\
         event_scheduler = ON\n\
         explicit_defaults_for_timestamp = ON\n\
         # The security IP list (see access.rs); administrators skip it.\n\
         init_connect = \"{init_connect}\"\n",
        datadir = cnf_value(&data_dir(spec)),
        port = spec.port,
        listen = spec.listen_host.trim(),
        socket = cnf_value(&socket_path(spec)),
        pid = cnf_value(&pid_file(spec)),
        tmp = cnf_value(&tmp_dir(spec)),
        log = cnf_value(&log_file(spec)),
        slow = cnf_value(&slow_log_file(spec)),
        max_connections = max_connections.max(10),
        buffer_pool = buffer_pool_mb(memory_mb),
        init_connect = super::access::INIT_CONNECT,
        binlog = cnf_value(&binlog_dir(spec).join(BINLOG_BASE)),
        binlog_index = cnf_value(&binlog_index(spec)),
        server_id = server_id(&spec.id),
    );
    settings + &include
}

/// Makes the administrator every later call logs in as, and removes anonymous logins and
/// the proxy grants install-db keys to the host name, which skip-name-resolve ignores
/// with a warning at every start. `OR REPLACE` because a start interrupted before the file was removed runs it again.
fn bootstrap_sql(password: &str) -> String {
    format!(
        "CREATE OR REPLACE USER {admin}@'%' IDENTIFIED BY {pw};\n\
         GRANT ALL PRIVILEGES ON *.* TO {admin}@'%' WITH GRANT OPTION;\n\
         DELETE FROM mysql.global_priv WHERE User = '';\n\
         DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';\n\
         FLUSH PRIVILEGES;\n",
        admin = literal(ADMIN_USER),
        pw = literal(password),
    )
}

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

/// Creates `path` with `text`, readable and writable by its owner only. Refuses to
/// reuse a file, so nobody can have opened it before the secret went in.
/// A directory of the engine user's, made if missing.
fn engine_dir(path: &Path, mode: u32, run_as: Option<RunAs>) -> Result<(), EngineError> {
    if !path.is_dir() {
        std::fs::create_dir(path).map_err(|e| host_error(format!("create {}", path.display()), e))?;
    }
    set_mode(path, mode)?;
    chown(path, run_as)
}

fn remove_if_present(path: &Path) -> Result<(), EngineError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(host_error(format!("remove {}", path.display()), e)),
        _ => Ok(()),
    }
}

impl MariaDbEngine {

    async fn install_db_files(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<(), EngineError> {
        let args: Vec<std::ffi::OsString> = vec![
            // Must come first: the tool and the bootstrap server read nothing else.
            format!("--defaults-file={}", config_file(spec).display()).into(),
            format!("--datadir={}", data_dir(spec).display()).into(),
            "--skip-test-db".into(),
            // root logs in only as the system user root over the socket: no password to
            // leak, no way in over TCP.
            "--auth-root-authentication-method=socket".into(),
        ];
        // No --user: the tool already runs as the instance's user, and only root may name one.
        let result = process::run(&self.install_db(), args, confinement, "mariadb-install-db").await;
        // It fails on the host's account: permissions, disk, a broken installation.
        result.map_err(|e| {
            let kind = if e.kind == ErrorKind::Unavailable { ErrorKind::HostSetup } else { e.kind };
            EngineError::new(kind, format!("{}{}", e.message, log_tail(spec)))
        })
    }

    /// Writes my.cnf from `spec` and makes the files the engine user needs. Done before
    /// every start, so a changed spec (port, instance class) takes effect on the next
    /// start or restart.
    fn write_settings(spec: &InstanceSpec, run_as: Option<RunAs>) -> Result<(), EngineError> {
        let conf = config_file(spec);
        std::fs::write(&conf, render_settings(spec)).map_err(|e| host_error(format!("write {}", conf.display()), e))?;
        // The server reads it; nobody else on the host needs to.
        if let Some(u) = run_as {
            std::os::unix::fs::chown(&conf, Some(0), Some(u.gid)).map_err(|e| host_error(format!("chown {}", conf.display()), e))?;
            set_mode(&conf, 0o640)?;
        } else {
            set_mode(&conf, 0o644)?;
        }
        // The instance's user cannot create files in the instance directory, only use them.
        engine_dir(&run_dir(spec), 0o700, run_as)?;
        engine_dir(&tmp_dir(spec), 0o700, run_as)?;
        engine_dir(&binlog_dir(spec), 0o700, run_as)?;
        // The server writes it but cannot create files in the instance's directory.
        let slow = slow_log_file(spec);
        if !slow.exists() {
            std::fs::write(&slow, b"").map_err(|e| host_error(format!("create {}", slow.display()), e))?;
        }
        set_mode(&slow, 0o600)?;
        engine::process::chown(&slow, run_as)?;
        instance_dir::ensure_log(spec, run_as)
    }

    /// The pid in the pid file, if that process is still our server.
    pub(super) fn running_pid(spec: &InstanceSpec) -> Option<i32> {
        let text = std::fs::read_to_string(pid_file(spec)).ok()?;
        let pid = text.trim().parse().ok()?;
        process::server_alive(pid, &data_dir(spec), SERVER_NAMES).then_some(pid)
    }

    /// Files of a server that is gone. mariadbd refuses to start while the pid in the
    /// socket's lock file is alive, and a killed server stays a zombie where nothing reaps
    /// orphans; once no server of this directory runs, they only stand in the way.
    fn remove_stale_files(spec: &InstanceSpec) -> Result<(), EngineError> {
        let socket = socket_path(spec);
        let mut lock = socket.clone().into_os_string();
        lock.push(".lock");
        for path in [pid_file(spec), socket, PathBuf::from(lock)] {
            remove_if_present(&path)?;
        }
        Ok(())
    }

    /// Launches mariadbd in its own process group, so it outlives openrds and a Ctrl-C
    /// aimed at openrds does not reach it. Returns its pid (the confinement's wrapper
    /// `exec`s the server, so the pid stays the server's).
    fn launch(&self, spec: &InstanceSpec, confinement: Option<&Confinement>) -> Result<i32, EngineError> {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(log_file(spec))
            .map_err(|e| host_error(format!("open {}", log_file(spec).display()), e))?;
        let log2 = log.try_clone().map_err(|e| host_error("duplicate the log file handle".into(), e))?;
        let mut args: Vec<std::ffi::OsString> = vec![format!("--defaults-file={}", config_file(spec).display()).into()];
        let bootstrap = bootstrap_file(spec);
        if bootstrap.exists() {
            args.push(format!("--init-file={}", bootstrap.display()).into());
        }
        let mut cmd = process::command(&self.server_bin(), args, confinement);
        cmd.stdin(std::process::Stdio::null()).stdout(log).stderr(log2);
        let mut child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("start instance {}: cannot run {}: {e}", spec.id, self.server_bin().display())))?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        // Reaps the server if it exits while openrds runs; dropping the child neither
        // kills nor waits for it.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(pid)
    }





}

#[cfg(test)]
mod tests {
    use super::*;

    use engine::conformance::support::{class_spec, conf_value as setting};

    fn spec(dir: &str, memory_mb: u64, max_connections: u32) -> InstanceSpec {
        class_spec("rm-test", dir, 3999, memory_mb, max_connections)
    }

    #[test]
    fn settings_follow_the_instance_class() {
        let conf = render_settings(&spec("/srv/i", 16384, 1600));
        assert!(conf.contains("\n[mysqld]\n"));
        assert_eq!(setting(&conf, "innodb_buffer_pool_size"), "4096M");
        assert_eq!(setting(&conf, "max_connections"), "1600");
        assert_eq!(setting(&conf, "port"), "3999");
        assert_eq!(setting(&conf, "bind-address"), "127.0.0.1");
        assert_eq!(setting(&conf, "datadir"), "\"/srv/i/data\"");
        assert_eq!(setting(&conf, "socket"), "\"/srv/i/run/mariadbd.sock\"");
        assert_eq!(setting(&conf, "secure-file-priv"), "\"/srv/i/tmp\"");
        assert_eq!(setting(&conf, "character-set-server"), "utf8mb4");
        assert_eq!(setting(&conf, "collation-server"), "utf8mb4_general_ci");
        assert_eq!(setting(&conf, "innodb_log_file_size"), "512M");
        assert_eq!(setting(&conf, "event_scheduler"), "ON");
        assert!(conf.lines().any(|l| l == "skip-name-resolve"));
        assert_eq!(setting(&conf, "log-bin"), "\"/srv/i/binlog/mariadb-bin\"");
        assert_eq!(setting(&conf, "log-bin-index"), "\"/srv/i/binlog/mariadb-bin.index\"");
        assert_eq!(setting(&conf, "binlog-format"), "ROW");
        assert_eq!(setting(&conf, "server-id"), server_id("rm-test").to_string());
        assert!(!conf.lines().any(|l| l == "skip-log-bin"));
    }

    #[test]
    fn server_ids_differ_between_instances_and_are_never_zero() {
        assert_ne!(server_id("rm-a"), server_id("rm-b"));
        assert_eq!(server_id("rm-a"), server_id("rm-a"));
        assert!(server_id("") >= 1);
    }

    #[test]
    fn buffer_pool_is_a_quarter_of_the_class_within_bounds() {
        assert_eq!(buffer_pool_mb(256), 128);
        assert_eq!(buffer_pool_mb(2048), 512);
        assert_eq!(buffer_pool_mb(65536), 4096);
        let conf = render_settings(&spec("/srv/i", 256, 2));
        assert_eq!(setting(&conf, "max_connections"), "10");
    }

    #[test]
    fn long_socket_paths_move_to_tmp() {
        assert_eq!(socket_path(&spec("/srv/i", 1024, 10)), PathBuf::from("/srv/i/run/mariadbd.sock"));
        let deep = format!("/srv/{}", "d".repeat(100));
        assert_eq!(socket_path(&spec(&deep, 1024, 10)), PathBuf::from("/tmp/openrds-mariadb-rm-test.sock"));
    }

    #[test]
    fn bootstrap_quotes_the_password() {
        let sql = bootstrap_sql("pa'ss");
        assert!(sql.contains("IDENTIFIED BY 'pa''ss'"), "{sql}");
        assert!(sql.contains("'openrds_admin'@'%'"));
    }
}
