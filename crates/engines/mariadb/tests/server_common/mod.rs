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
pub use engine::conformance::support::{free_port, process_alive, processes_in, Provisioned, TestDir};

/// A provisioned server; killed and removed on drop if the test did not destroy it.
pub type Instance = Provisioned<MariaDbEngine>;

/// Provisioning with the host's binaries, and sessions on the instance.
pub trait Sessions: Sized {
    async fn provision(id: &str) -> Self;
    /// Connects as `user` over TCP, as an application would.
    async fn connect(&self, user: &str, password: &str, db: Option<&str>) -> Result<Conn, mysql_async::Error>;
    async fn admin(&self) -> Conn;
}

impl Sessions for Instance {
    async fn provision(id: &str) -> Self {
        Provisioned::new(engine(), id).await
    }

    async fn connect(&self, user: &str, password: &str, db: Option<&str>) -> Result<Conn, mysql_async::Error> {
        connect(&self.spec, user, password, db).await
    }

    async fn admin(&self) -> Conn {
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


/// The pid recorded in an instance directory, if any.
pub fn recorded_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("run/mariadbd.pid")).ok()?.trim().parse().ok()
}
