//! A real MariaDB server per test, provisioned by the adapter under a temporary
//! directory and killed when the test ends, whatever its outcome.

#![allow(dead_code)]

use engine_mariadb::MariaDbEngine;
use engine::prelude::*;
use engine::InstanceSpec;
use mysql_async::{Conn, OptsBuilder};
use std::path::Path;

#[allow(unused_imports)]
pub use engine::conformance::support::{free_port, process_alive, processes_in, OnHost, Provisioned, TestDir};

/// A provisioned server; killed and removed on drop if the test did not destroy it.
pub type Instance = Provisioned<MariaDbEngine>;

/// Sessions on the instance.
pub trait Sessions: Sized {
    /// Connects as `user` over TCP, as an application would.
    async fn connect(&self, user: &str, password: &str, db: Option<&str>) -> Result<Conn, mysql_async::Error>;
    async fn admin(&self) -> Conn;
}

impl Sessions for Instance {
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
