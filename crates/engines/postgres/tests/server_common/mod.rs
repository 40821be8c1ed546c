//! A real PostgreSQL server per test, provisioned by the adapter under a temporary
//! directory and killed when the test ends, whatever its outcome.

#![allow(dead_code)]

use engine_postgres::{PostgresConfig, PostgresEngine};
use engine::{Engine, InstanceSpec};
use std::path::Path;
use tokio_postgres::{Client, NoTls};

/// The host's binaries. Tests fail, never skip, on a host without them.
pub fn engine() -> PostgresEngine {
    let config = PostgresConfig::detect().expect("PostgreSQL server binaries are required for these tests (install postgresql)");
    PostgresEngine::new(config)
}

#[allow(unused_imports)]
pub use engine::conformance::support::{free_port, process_alive, processes_in, TestDir};

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
        engine::conformance::support::remove_host_leftovers(&self.spec);
    }
}

/// The pid recorded in a data directory, if any.
pub fn recorded_pid(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn kill_leftovers(dir: &Path) {
    // Only a server of this test: the pid may be stale and reused by then.
    if let Some(pid) = recorded_pid(dir).filter(|pid| processes_in(&dir.join("data")).contains(pid)) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(dir);
}
