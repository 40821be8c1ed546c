//! A real server in-process: SQLite store in a temp dir, the real PostgreSQL and MariaDB engines, bound
//! to port 0; and a signing client.

#![allow(dead_code)]

use store::prelude::*;
use control::{ControlConfig, ControlPlane};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const KEY_ID: &str = "LTAItestrootkey000000001";
pub const SECRET: &str = "test-root-secret-0123456789";

pub struct TestServer {
    pub addr: SocketAddr,
    pub plane: Arc<ControlPlane>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _reaper: EngineReaper,
}

/// Engines outlive the server by design, so a test that panics before deleting its
/// instances would leave their servers running after its temporary directory is gone.
/// When the test panics, this kills every process working in or started on the server's
/// data directory.
struct EngineReaper {
    data_dir: std::path::PathBuf,
}

impl Drop for EngineReaper {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let needle = self.data_dir.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if cwd.starts_with(&needle) || cmdline.contains(&needle) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Ports for engines: each server of each test binary gets its own block, so servers
/// running in parallel never race for the same port.
fn port_range() -> (u16, u16) {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = 20000 + ((std::process::id() % 50) as u16 * 16 + n % 16) * 10;
    (base, base + 9)
}

/// A server and a client holding its root key.
pub async fn serve() -> (TestServer, Client) {
    let server = start_server().await;
    let client = server.client();
    (server, client)
}

pub async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    start_server_in(dir).await
}

pub async fn start_server_in(dir: tempfile::TempDir) -> TestServer {
    start_server_with(dir, |_| {}).await
}

/// A server whose configuration the test adjusts first.
pub async fn start_server_with(dir: tempfile::TempDir, adjust: impl FnOnce(&mut ControlConfig)) -> TestServer {
    let mut config = ControlConfig::new(dir.path().join("data"));
    config.root_key = Some((KEY_ID.into(), SECRET.into()));
    config.port_range = port_range();
    config.supervise_every = Duration::from_secs(1);
    adjust(&mut config);
    let store = store::SqliteStore::open(&dir.path().join("metadata.db")).expect("open store");
    let (engines, missing) = registry::detect();
    let missing: Vec<String> = missing.iter().map(|(c, e)| format!("{}: {e}", c.kind)).collect();
    assert!(missing.is_empty(), "these tests need every engine's binaries on the host: {}", missing.join("; "));
    // The temp dir is 0700; engine users must pass through it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let plane = ControlPlane::start(config, Arc::new(store), engines).await.expect("start control plane");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let p = plane.clone();
    let task = tokio::spawn(async move {
        server::serve(listener, p, server::ServerConfig::default(), async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let reaper = EngineReaper { data_dir: dir.path().join("data") };
    TestServer { addr, plane, dir, stop: Some(tx), task: Some(task), _reaper: reaper }
}

impl TestServer {
    /// Stops HTTP and background work, as SIGTERM does; engines keep running.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.plane.shutdown(Duration::from_secs(20)).await;
        self.dir
    }

    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            key_id: KEY_ID.into(),
            secret: SECRET.into(),
            version: wire::RDS_VERSION.into(),
            metadata: self.dir.path().join("metadata.db"),
        }
    }

    /// The internal administrator of instance `id` listening on `port`, for loading and
    /// comparing data.
    /// A running PostgreSQL pair (pg.x4.large.2c) whose source holds database `shop`,
    /// made by CreateDatabase and filled by `setup` run there as the administrator.
    pub async fn pg_pair_with_shop(&self, c: &Client, setup: &str) -> (String, String) {
        let (src, dst) = c.running_pg_pair("pg.x4.large.2c").await;
        c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await.ok();
        use engine_postgres::testing::PgConnect;
        self.admin_of(c, &src).await.connect("shop").await.batch_execute(setup).await.unwrap_or_else(|e| panic!("set up shop: {e}"));
        (src, dst)
    }

    /// The internal administrator's login to instance `id`, at the port the API reports.
    pub async fn admin_of(&self, c: &Client, id: &str) -> engine::Login {
        self.admin(id, c.port(id).await)
    }

    pub fn admin(&self, id: &str, port: u16) -> engine::Login {
        let text = std::fs::read_to_string(self.dir.path().join("data/instances").join(id).join("admin.json")).expect("admin.json");
        let a: Value = serde_json::from_str(&text).unwrap();
        engine::Login { host: "127.0.0.1".into(), port, user: a["user"].as_str().unwrap().into(), password: a["password"].as_str().unwrap().into() }
    }
}

#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub key_id: String,
    pub secret: String,
    pub version: String,
    /// The server's metadata store, read to tell why an instance being waited for is gone.
    pub metadata: std::path::PathBuf,
}

/// A response: HTTP status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        assert!(self.body.get("Code").is_none(), "success bodies carry no Code");
        assert!(self.body["RequestId"].is_string());
        self.body
    }

    pub fn err(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.body["Code"].as_str().unwrap_or_default()), (status, code), "body: {}", self.body);
        for field in ["RequestId", "HostId", "Code", "Message", "Recommend"] {
            assert!(self.body[field].is_string(), "error envelope lacks {field}: {}", self.body);
        }
    }
}

impl Client {
    pub fn with_key(&self, id: &str, secret: &str) -> Client {
        Client { key_id: id.into(), secret: secret.into(), ..self.clone() }
    }

    pub fn ram(&self) -> Client {
        Client { version: wire::RAM_VERSION.into(), ..self.clone() }
    }

    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        let reply = client::Client::new(&self.addr.to_string(), &self.key_id, &self.secret)
            .with_version(&self.version)
            .send(action, params)
            .await
            .expect("send");
        Reply { status: reply.status, body: reply.body }
    }

    /// The port DescribeDBInstanceNetInfo gives.
    pub async fn port(&self, id: &str) -> u16 {
        let net = self.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", id)]).await.ok();
        net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]["Port"].as_str().unwrap().parse().unwrap()
    }

    pub async fn progress(&self, instance: &str, import_id: &str) -> Value {
        self.call("DescribeImportProgress", &[("DBInstanceId", instance), ("ImportId", import_id)]).await.ok()
    }

    /// Polls DescribeImportProgress until the task ends.
    pub async fn wait_import(&self, instance: &str, import_id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        loop {
            let p = self.progress(instance, import_id).await;
            if matches!(p["Status"].as_str(), Some("Success" | "Failed" | "Canceled")) {
                return p;
            }
            assert!(std::time::Instant::now() < deadline, "import {import_id} did not end: {p}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the copy streams data (Pending until its runner records the first
    /// attempt), so a fault lands in the middle of the task.
    pub async fn wait_mid_copy(&self, instance: &str, import_id: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let p = self.progress(instance, import_id).await;
            if p["Phase"] == "Data" && p["Progress"]["BytesDone"].as_u64().unwrap_or(0) > 0 {
                return;
            }
            assert!(matches!(p["Status"].as_str(), Some("Pending" | "Running")), "the task ended before the fault: {p}");
            assert!(std::time::Instant::now() < deadline, "the copy never reached its data phase: {p}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// DBInstanceStatus as DescribeDBInstanceAttribute gives it.
    pub async fn status(&self, id: &str) -> String {
        let r = self.call("DescribeDBInstanceAttribute", &[("DBInstanceId", id)]).await.ok();
        r["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].as_str().unwrap().to_string()
    }

    /// Waits until the instance reaches `status` (or disappears when `status` is "gone").
    /// What the server recorded about instance `id` (a failed creation says why).
    pub async fn events_of(&self, id: &str) -> String {
        match store::SqliteStore::open(&self.metadata) {
            Ok(store) => match store.list_events(&format!("dbinstance/{id}"), 20).await {
                Ok(events) => events.iter().map(|e| format!("{} {}", e.kind, e.detail)).collect::<Vec<_>>().join("; "),
                Err(e) => format!("events not readable: {e}"),
            },
            Err(e) => format!("metadata not readable: {e}"),
        }
    }

    pub async fn wait_status(&self, id: &str, status: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.call("DescribeDBInstanceAttribute", &[("DBInstanceId", id)]).await;
            let now = if r.status == 404 {
                "gone".to_string()
            } else {
                r.body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].as_str().unwrap_or_default().to_string()
            };
            if now == status {
                return;
            }
            if now == "gone" && status != "gone" {
                panic!("instance {id} is gone while waiting for {status}: {}", self.events_of(id).await);
            }
            assert!(std::time::Instant::now() < deadline, "instance {id} stuck in {now}, waiting for {status}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Two PostgreSQL instances of `class`, created at once, once both are Running.
    pub async fn running_pg_pair(&self, class: &str) -> (String, String) {
        let (a, b) = tokio::join!(self.create_pg(class), self.create_pg(class));
        self.wait_running(&[&a, &b]).await;
        (a, b)
    }

    /// Two MariaDB instances of `class` with 20 GB, created at once, once both are Running.
    /// A small PostgreSQL and a small MariaDB instance, both running.
    pub async fn running_pg_and_mariadb(&self) -> (String, String) {
        let (pg, maria) = tokio::join!(self.create_pg("pg.n2.small.1"), self.create_mariadb("mariadb.n2.medium.1", "20"));
        self.wait_running(&[&pg, &maria]).await;
        (pg, maria)
    }

    /// (`first`, `second`) of every item of a Describe call's list at `list` (two keys).
    pub async fn listed_pairs(&self, action: &str, id: &str, list: [&str; 2], first: &str, second: &str) -> Vec<(String, String)> {
        let r = self.call(action, &[("DBInstanceId", id)]).await.ok();
        let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}")).to_string();
        r[list[0]][list[1]].as_array().unwrap().iter().map(|item| (text(item, first), text(item, second))).collect()
    }

    pub async fn running_mariadb_pair(&self, class: &str) -> (String, String) {
        let (a, b) = tokio::join!(self.create_mariadb(class, "20"), self.create_mariadb(class, "20"));
        self.wait_running(&[&a, &b]).await;
        (a, b)
    }

    /// Waits until each of `ids` is Running.
    pub async fn wait_running(&self, ids: &[&String]) {
        for id in ids {
            self.wait_status(id, "Running").await;
        }
    }

    /// Deletes the instances and waits until they are gone.
    pub async fn delete_all(&self, ids: &[&String]) {
        for id in ids {
            self.call("DeleteDBInstance", &[("DBInstanceId", id)]).await.ok();
        }
        for id in ids {
            self.wait_status(id, "gone").await;
        }
    }

    pub async fn create_pg(&self, class: &str) -> String {
        self.create_pg_sized(class, "20").await
    }

    pub async fn create_pg_sized(&self, class: &str, storage: &str) -> String {
        self.create(client::NewInstance::new("PostgreSQL", "15.0", class, storage.parse().expect("storage in GB"))).await
    }

    pub async fn create_mariadb(&self, class: &str, storage: &str) -> String {
        self.create(client::NewInstance::new("MariaDB", "10.11", class, storage.parse().expect("storage in GB"))).await
    }

    async fn create(&self, new: client::NewInstance) -> String {
        let owned = new.params();
        let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = self.call("CreateDBInstance", &params).await.ok();
        body["DBInstanceId"].as_str().unwrap().to_string()
    }
}
