//! A real PostgreSQL server per test, provisioned by the adapter under a temporary
//! directory and killed when the test ends, whatever its outcome.

#![allow(dead_code)]

use engine_postgres::{PostgresConfig, PostgresEngine};
use engine::{Engine, InstanceSpec, ServerSettings};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio_postgres::{Client, NoTls};

/// The host's binaries. Tests fail, never skip, on a host without them.
pub fn engine() -> PostgresEngine {
    let config = PostgresConfig::detect().expect("PostgreSQL server binaries are required for these tests (install postgresql)");
    PostgresEngine::new(config)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct TestDir {
    tmp: tempfile::TempDir,
}

impl TestDir {
    /// A temporary parent the engine user can pass through (tempdirs are 0700).
    pub fn new() -> TestDir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        TestDir { tmp }
    }

    pub fn spec(&self, id: &str, port: u16) -> InstanceSpec {
        InstanceSpec {
            id: id.into(),
            dir: self.tmp.path().join(id),
            listen_host: "127.0.0.1".into(),
            port,
            settings: ServerSettings { memory_mb: 512, cpu: 1, max_connections: 40 },
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
}

/// A provisioned server; killed and removed on drop if the test did not destroy it.
pub struct Instance {
    pub engine: PostgresEngine,
    pub spec: InstanceSpec,
    pub dir: TestDir,
}

impl Instance {
    pub async fn provision(id: &str) -> Instance {
        let engine = engine();
        let dir = TestDir::new();
        let spec = dir.spec(id, free_port());
        engine.provision(&spec).await.unwrap_or_else(|e| panic!("provision {id}: {e}"));
        // As the control plane does right after provisioning: accounts may log in from
        // this host (until then only the administrator may).
        engine.set_allowed_addresses(&spec, &["127.0.0.1/32".to_string()]).await.unwrap_or_else(|e| panic!("allow {id}: {e}"));
        Instance { engine, spec, dir }
    }

    /// Connects as `user` over TCP, as an application would.
    pub async fn connect(&self, user: &str, password: &str, db: &str) -> Result<Client, tokio_postgres::Error> {
        connect(&self.spec, user, password, db).await
    }

    pub async fn admin(&self, db: &str) -> Client {
        let admin = self.engine.admin(&self.spec).unwrap();
        self.connect(&admin.user, &admin.password, db).await.unwrap()
    }
}

pub async fn connect(spec: &InstanceSpec, user: &str, password: &str, db: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::Config::new()
        .host(&spec.listen_host)
        .port(spec.port)
        .user(user)
        .password(password)
        .dbname(db)
        .connect(NoTls)
        .await?;
    tokio::spawn(conn);
    Ok(client)
}

impl Drop for Instance {
    fn drop(&mut self) {
        kill_leftovers(&self.spec.dir);
        // What DeleteDBInstance would remove besides the files: the instance's system user
        // and control groups (gone already when the test destroyed the instance).
        let user = engine::isolation::system_user_name(&self.spec.id);
        let _ = std::process::Command::new("userdel").arg(&user).stderr(std::process::Stdio::null()).status();
        let _ = std::process::Command::new("groupdel").arg(&user).stderr(std::process::Stdio::null()).status();
        for controller in ["memory", "cpu"] {
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(controller).join("openrds").join(&self.spec.id));
        }
    }
}

/// The pid recorded in a data directory, if any.
pub fn recorded_pid(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether a process (not a zombie) with this pid exists.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()).unwrap_or("?");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Processes whose working directory is `data` (a server and its backends).
pub fn processes_in(data: &Path) -> Vec<i32> {
    let Ok(data) = data.canonicalize() else { return Vec::new() };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data))
        .filter(|pid| process_alive(*pid))
        .collect()
}

fn kill_leftovers(dir: &Path) {
    // Only a server of this test: the pid may be stale and reused by then.
    if let Some(pid) = recorded_pid(dir).filter(|pid| processes_in(&dir.join("data")).contains(pid)) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(dir);
}
