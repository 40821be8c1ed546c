//! The real `openrds` binary as a child process (so a test can crash it at a failpoint and
//! start it again on the same data directory), a signed client for it, and the instances'
//! admin logins for loading and comparing data.

#![allow(dead_code)]

use engine_postgres::testing::PgConnect;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const KEY_ID: &str = "LTAIclitest00000000000001";
pub const SECRET: &str = "cli-test-secret-0123456789";

/// A data directory that outlives the server processes started on it.
pub struct Site {
    pub root: tempfile::TempDir,
    pub ports: (u16, u16),
}

impl Site {
    /// `block` tells the test functions of one binary apart, so their engines never race
    /// for a port.
    pub fn new(block: u16) -> Site {
        let root = tempfile::tempdir().expect("temp dir");
        // Engines run as the postgres user and must pass through the temp dir.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let base = 30000 + ((std::process::id() % 100) as u16 * 4 + block % 4) * 20;
        Site { root, ports: (base, base + 19) }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Serves once more, to delete the instances a test made.
    pub async fn delete_instances(&self, ids: &[&String]) {
        let served = self.serve(&[]).await;
        for id in ids {
            served.api.call("DeleteDBInstance", &[("DBInstanceId", id.as_str())]).await.unwrap();
        }
        served.stop().await;
    }

    /// Starts `openrds serve` with extra environment (failpoints) and waits for its API.
    pub async fn serve(&self, env: &[(&str, &str)]) -> Served {
        let listen = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root.path().join("serve.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_openrds"));
        cmd.args(["serve", "--listen", &listen, "--data-dir", self.data_dir().to_str().unwrap(), "--supervise-secs", "1"])
            .arg("--port-range")
            .arg(format!("{}-{}", self.ports.0, self.ports.1))
            .env("OPENRDS_ACCESS_KEY_ID", KEY_ID)
            .env("OPENRDS_ACCESS_KEY_SECRET", SECRET)
            .env_remove("OPENRDS_FAILPOINT")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start openrds serve");
        let api = client::Client::new(&listen, KEY_ID, SECRET);
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.call("DescribeRegions", &[] as &[(&str, &str)]).await.is_err() {
            assert!(Instant::now() < deadline, "openrds serve did not answer; see {}", self.root.path().join("serve.log").display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Served { child, api, listen }
    }

    /// The admin login of an instance (superuser), for loading data and comparing.
    pub async fn admin(&self, api: &client::Client, id: &str) -> engine::Login {
        let text = std::fs::read_to_string(self.data_dir().join("instances").join(id).join("admin.json")).expect("admin.json");
        let admin: Value = serde_json::from_str(&text).unwrap();
        engine::Login {
            host: "127.0.0.1".into(),
            port: port(api, id).await,
            user: admin["user"].as_str().unwrap().into(),
            password: admin["password"].as_str().unwrap().into(),
        }
    }
}

pub struct Served {
    child: Child,
    pub api: client::Client,
    pub listen: String,
}

impl Served {
    /// Waits for the process to end by itself (a failpoint).
    pub async fn exited(mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "openrds serve did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, as an operator stops it; engines keep running.
    pub async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "openrds serve did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn port(api: &client::Client, id: &str) -> u16 {
    let net = api.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", id)]).await.unwrap();
    net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]["Port"].as_str().unwrap().parse().unwrap()
}

pub async fn status(api: &client::Client, id: &str) -> String {
    let r = api.call("DescribeDBInstanceAttribute", &[("DBInstanceId", id)]).await.unwrap();
    r["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].as_str().unwrap().to_string()
}

pub async fn wait_status(api: &client::Client, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = status(api, id).await;
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "{id} is {now}, not {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two dedicated-class PostgreSQL instances, Running, each with the account `owner1`.
pub async fn two_instances(api: &client::Client) -> (String, String) {
    let mut ids = Vec::new();
    for description in ["source", "destination"] {
        ids.push(api.create_instance(&client::NewInstance::new("PostgreSQL", "15.0", "pg.x4.large.2c", 20).described(description)).await.unwrap());
    }
    for id in &ids {
        wait_status(api, id, "Running").await;
        api.call("CreateAccount", &[("DBInstanceId", id.as_str()), ("AccountName", "owner1"), ("AccountPassword", "Owner_pass1")]).await.unwrap();
    }
    (ids[0].clone(), ids[1].clone())
}

/// Creates `db` on `id` owned by owner1 and loads every object kind into it as admin.
pub async fn load_every_kind(site: &Site, api: &client::Client, id: &str, db: &str, reader: &str) -> engine::Login {
    api.call(
        "CreateDatabase",
        &[("DBInstanceId", id), ("DBName", db), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")],
    )
    .await
    .unwrap();
    let admin = site.admin(api, id).await;
    let c = admin.connect(db).await;
    c.batch_execute(&engine_postgres::testing::every_kind_as_superuser(db, "owner1", reader)).await.unwrap_or_else(|e| panic!("load the dataset: {e:?}"));
    admin
}

/// Polls DescribeImportProgress until the task ends.
pub async fn wait_import(api: &client::Client, instance: &str, import_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let p = api.call("DescribeImportProgress", &[("DBInstanceId", instance), ("ImportId", import_id)]).await.unwrap();
        if matches!(p["Status"].as_str(), Some("Success" | "Failed" | "Canceled")) {
            return p;
        }
        assert!(Instant::now() < deadline, "import {import_id} did not end: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Names of databases on the server that are staging databases of some task.
pub async fn staging_databases(admin: &engine::Login) -> Vec<String> {
    let c = admin.connect("postgres").await;
    c.query("SELECT datname::text FROM pg_database WHERE datname LIKE 'ors\\_stg\\_%'", &[]).await.unwrap().into_iter().map(|r| r.get(0)).collect()
}

/// Imports `info` from `src` into `dst` on `crashing`, a server started with the
/// failpoint `point` armed, which must die there (exit 101); then starts the server again
/// on the same data: the task recovered must end Success with both instances Running.
/// Returns the restarted server and the task's last progress.
pub async fn crash_and_recover(site: &Site, crashing: Served, point: &str, src: &str, dst: &str, info: &str) -> (Served, Value) {
    // At after_accept the process dies before it answers; the task is in the store.
    let answered = crashing
        .api
        .call("ImportDatabaseBetweenInstances", &[("DBInstanceId", dst), ("SourceDBInstanceId", src), ("DBInfo", info)])
        .await
        .ok();
    let code = crashing.exited(Duration::from_secs(120)).await;
    assert_eq!(code.code(), Some(101), "{point}: the process should die at the failpoint");

    let served = site.serve(&[]).await;
    let import_id = match answered {
        Some(r) => r["ImportId"].as_str().unwrap().to_string(),
        None => {
            let listed = served.api.call("DescibeImportsFromDatabase", &[("DBInstanceId", dst)]).await.unwrap();
            let items = listed["Items"]["ImportResultFromDB"].as_array().unwrap().clone();
            items.iter().map(|t| t["ImportId"].as_i64().unwrap()).max().expect("the accepted task is listed").to_string()
        }
    };
    let p = wait_import(&served.api, dst, &import_id).await;
    assert_eq!(p["Status"], "Success", "{point}: {p}");
    assert_eq!((status(&served.api, src).await, status(&served.api, dst).await), ("Running".into(), "Running".into()), "{point}");
    // Each recovery sees one crash: the copy redone once, or found published.
    assert!(p["Attempts"].as_i64().unwrap() <= 2, "{point}: {p}");
    (served, p)
}
