//! A real PostgreSQL server per test, provisioned by the adapter under a temporary
//! directory and killed when the test ends, whatever its outcome.

#![allow(dead_code)]

use engine_postgres::PostgresEngine;
use engine::prelude::*;
use engine::InstanceSpec;
use std::path::Path;
use tokio_postgres::{Client, NoTls};

#[allow(unused_imports)]
pub use engine::conformance::support::{free_port, process_alive, processes_in, OnHost, Provisioned, TestDir};

/// A provisioned server; killed and removed on drop if the test did not destroy it.
pub type Instance = Provisioned<PostgresEngine>;

/// Sessions on the instance.
pub trait Sessions: Sized {
    /// Connects as `user` over TCP, as an application would.
    async fn connect(&self, user: &str, password: &str, db: &str) -> Result<Client, tokio_postgres::Error>;
    async fn admin(&self, db: &str) -> Client;
}

impl Sessions for Instance {
    async fn connect(&self, user: &str, password: &str, db: &str) -> Result<Client, tokio_postgres::Error> {
        connect(&self.spec, user, password, db).await
    }

    async fn admin(&self, db: &str) -> Client {
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


/// The pid recorded in a data directory, if any.
pub fn recorded_pid(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}
