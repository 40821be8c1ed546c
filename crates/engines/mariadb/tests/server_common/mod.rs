//! A real MariaDB server per test, provisioned by the adapter under a temporary
//! directory and killed when the test ends, whatever its outcome.

#![allow(dead_code)]

use engine_mariadb::{MariaDbConfig, MariaDbEngine};
use engine::{Engine, InstanceSpec};
use mysql_async::{Conn, OptsBuilder};
use std::path::Path;

/// The host's binaries. Tests fail, never skip, on a host without them.
pub fn engine() -> MariaDbEngine {
    let config = MariaDbConfig::detect().expect("MariaDB server binaries are required for these tests (install mariadb-server)");
    MariaDbEngine::new(config)
}

#[allow(unused_imports)]
pub use engine::conformance::support::{free_port, process_alive, processes_in, TestDir};

/// A provisioned server; killed and removed on drop if the test did not destroy it.
pub struct Instance {
    pub engine: MariaDbEngine,
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
    pub async fn connect(&self, user: &str, password: &str, db: Option<&str>) -> Result<Conn, mysql_async::Error> {
        connect(&self.spec, user, password, db).await
    }

    pub async fn admin(&self) -> Conn {
        let admin = self.engine.admin(&self.spec).unwrap();
        self.connect(&admin.user, &admin.password, Some("mysql")).await.unwrap()
    }
}

pub async fn connect(spec: &InstanceSpec, user: &str, password: &str, db: Option<&str>) -> Result<Conn, mysql_async::Error> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(spec.listen_host.clone())
        .tcp_port(spec.port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false);
    Conn::new(opts).await
}

impl Drop for Instance {
    fn drop(&mut self) {
        kill_leftovers(&self.spec.dir);
        engine::conformance::support::remove_host_leftovers(&self.spec);
    }
}

/// The pid recorded in an instance directory, if any.
pub fn recorded_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("run/mariadbd.pid")).ok()?.trim().parse().ok()
}


fn kill_leftovers(dir: &Path) {
    // Only servers of this test, found by their directory: a recorded pid may be stale.
    for pid in processes_in(&dir.join("data")) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(dir);
}
