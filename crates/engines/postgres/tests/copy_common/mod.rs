//! Shared helpers of the mover integration tests: the system PostgreSQL on 127.0.0.1:5432
//! (trust auth for user postgres), a second throw-away server when a test needs one, a
//! dataset holding every object kind a copy must carry, and comparisons of two databases
//! that do not use the code under test. A test that cannot reach PostgreSQL fails.

#![allow(dead_code)]

use engine_postgres::testing::PgConnect;
use mover::Endpoint;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio_postgres::Client;

pub use engine_postgres::testing::pg_bin;

pub fn local() -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: std::env::var("MOVER_TEST_PGPORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5432),
        user: "postgres".into(),
        password: String::new(),
    }
}

pub async fn connect(ep: &Endpoint, db: &str) -> Client {
    login(ep).connect(db).await
}

/// A name unique to this test run.
pub fn name(prefix: &str) -> String {
    format!("{prefix}_{}", std::process::id())
}

pub async fn recreate(ep: &Endpoint, db: &str) {
    let c = connect(ep, "postgres").await;
    // Two statements: DROP and CREATE DATABASE refuse to run in one implicit transaction.
    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).await.unwrap();
    c.batch_execute(&format!("CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'UTF8'")).await.unwrap();
}

pub async fn drop_db(ep: &Endpoint, db: &str) {
    let c = connect(ep, "postgres").await;
    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).await.unwrap();
}

pub async fn exists(ep: &Endpoint, db: &str) -> bool {
    let c = connect(ep, "postgres").await;
    c.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db]).await.unwrap().is_some()
}

/// Databases whose names start with the staging prefix of `tag`.
pub async fn staging_left(ep: &Endpoint, tag: &str) -> Vec<String> {
    let probe = mover::staging_name("x", tag);
    let prefix = &probe[..probe.len() - "00000000_x".len()];
    let c = connect(ep, "postgres").await;
    c.query("SELECT datname::text FROM pg_database", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

pub fn options(tag: &str) -> mover::CopyOptions {
    mover::CopyOptions { staging_tag: tag.into(), jobs: 3, ..Default::default() }
}

/// Roles the dataset grants to and owns with; created once per server, shared by tests.
pub async fn ensure_roles(ep: &Endpoint, roles: &[&str]) {
    let c = connect(ep, "postgres").await;
    for r in roles {
        // Tests run in parallel: a concurrent CREATE ROLE of the same name is fine.
        let _ = c.batch_execute(&format!("CREATE ROLE \"{r}\" NOLOGIN")).await;
    }
}

/// Every object kind of a complete copy, with awkward values, loaded as a superuser.
pub fn dataset(db: &str, owner: &str, reader: &str) -> String {
    engine_postgres::testing::every_kind_as_superuser(db, owner, reader)
}

fn login(ep: &Endpoint) -> engine::Login {
    engine::Login { host: ep.host.clone(), port: ep.port, user: ep.user.clone(), password: ep.password.clone() }
}

pub fn schema_dump(ep: &Endpoint, db: &str, from: &str, to: &str) -> String {
    engine_postgres::testing::schema_dump(&login(ep), db, from, to)
}

pub async fn digests(ep: &Endpoint, db: &str) -> Vec<(String, String)> {
    engine_postgres::testing::digests(&login(ep), db).await
}

pub async fn load_dataset(ep: &Endpoint, db: &str, owner: &str, reader: &str) {
    recreate(ep, db).await;
    let c = connect(ep, db).await;
    c.batch_execute(&dataset(db, owner, reader)).await.unwrap_or_else(|e| panic!("load dataset: {e:?}"));
}

/// A second, throw-away PostgreSQL server on a free port, owned by the `postgres` OS
/// user when running as root (initdb refuses root); stopped and removed on drop.
pub struct SecondServer {
    pub endpoint: Endpoint,
    dir: PathBuf,
}

impl SecondServer {
    pub fn start() -> Self {
        start_second_server()
    }

    /// Crashes the server (immediate shutdown: no checkpoint, sessions cut).
    pub fn crash(&self) {
        let data = self.dir.join("data");
        let st = as_postgres(&pg_bin().join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl stop");
    }

    /// Starts it again after a crash (crash recovery runs first).
    pub fn restart(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let st = as_postgres(&pg_bin().join("pg_ctl"), &["-D", data.to_str().unwrap(), "-o", &server_options(&self.dir, self.endpoint.port), "-l", log.to_str().unwrap(), "-w", "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl start");
    }
}

fn server_options(dir: &Path, port: u16) -> String {
    format!("-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off", dir.to_str().unwrap())
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(&pg_bin().join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn as_postgres(cmd: &Path, args: &[&str]) -> Command {
    let root = nix::unistd::Uid::effective().is_root();
    let mut c = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    };
    c.args(args);
    c
}

fn start_second_server() -> SecondServer {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mover-test-pg-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if nix::unistd::Uid::effective().is_root() {
        let st = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
        assert!(st.success());
    }
    let data = dir.join("data");
    let data_s = data.to_str().unwrap().to_string();
    let st = as_postgres(&pg_bin().join("initdb"), &["-D", &data_s, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run initdb");
    assert!(st.success(), "initdb failed");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = server_options(&dir, port);
    let log = dir.join("log").to_str().unwrap().to_string();
    let st = as_postgres(&pg_bin().join("pg_ctl"), &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(st.success(), "second server did not start; see {log}");
    SecondServer { endpoint: Endpoint { host: "127.0.0.1".into(), port, user: "postgres".into(), password: String::new() }, dir }
}
