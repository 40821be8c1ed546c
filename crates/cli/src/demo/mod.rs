//! `openrds demo [--engine PostgreSQL|MariaDB]`: the main job on a fresh machine. It
//! starts a real server on a temporary data directory, then acts only through the signed
//! API as a user would: two instances of the engine, a database with accounts and data on
//! the first, an import of it renamed onto the second with its progress, and the verified
//! result, checked again independently of the copy's code. Everything it made is deleted
//! at the end. What differs between engines (loading the data, the independent check) is
//! in the engine's module.

mod mariadb;
mod postgres;

use anyhow::Context;
use control::{ControlConfig, ControlPlane};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct Api {
    client: client::Client,
}

impl Api {
    pub(super) async fn call(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.client.call(action, params).await.with_context(|| format!("{action} failed"))
    }

    async fn wait_running(&self, id: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let body = self.call("DescribeDBInstanceAttribute", &[("DBInstanceId", id)]).await?;
            if body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"] == "Running" {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "instance {id} did not reach Running");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn create_instance(&self, engine: Engine, description: &str) -> anyhow::Result<String> {
        let new = match engine {
            Engine::PostgreSQL => client::NewInstance::new("PostgreSQL", "15.0", "pg.x4.large.2c", 20),
            Engine::MariaDB => client::NewInstance::new("MariaDB", "10.11", "mariadb.x4.large.2c", 20),
        }
        .described(description);
        self.client.create_instance(&new).await.context("CreateDBInstance failed")
    }

    pub(super) async fn address(&self, id: &str) -> anyhow::Result<(String, u16)> {
        let body = self.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", id)]).await?;
        let info = &body["DBInstanceNetInfos"]["DBInstanceNetInfo"][0];
        Ok((info["IPAddress"].as_str().unwrap_or("127.0.0.1").to_string(), info["Port"].as_str().unwrap_or("0").parse()?))
    }
}

/// The engine the demo runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    #[value(name = "PostgreSQL", alias = "postgresql")]
    PostgreSQL,
    #[value(name = "MariaDB", alias = "mariadb")]
    MariaDB,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::PostgreSQL => "PostgreSQL",
            Engine::MariaDB => "MariaDB",
        }
    }
}

pub async fn run(engine: Engine) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
    let mut config = ControlConfig::new(dir.path().join("data"));
    config.root_key = Some(("LTAIdemo0000000000000000".into(), uuid::Uuid::new_v4().simple().to_string()));
    let (key_id, secret) = config.root_key.clone().unwrap_or_default();
    let store = Arc::new(store::SqliteStore::open(&dir.path().join("metadata.db"))?);
    let plane = ControlPlane::start(config, store, crate::serve::engines()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = listener.local_addr()?.to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, plane.clone(), server::ServerConfig::default(), async {
        let _ = stop_rx.await;
    }));
    println!("openrds demo: API at http://{host}, data in {}", dir.path().display());
    let api = Api { client: client::Client::new(&host, &key_id, &secret) };

    let result = scenario(&api, engine).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    plane.shutdown(Duration::from_secs(20)).await;
    match result {
        Ok(()) => {
            println!("demo: OK");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("demo: FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn scenario(api: &Api, engine: Engine) -> anyhow::Result<()> {
    let started = Instant::now();
    let (a, b) = tokio::try_join!(api.create_instance(engine, "demo source"), api.create_instance(engine, "demo destination"))?;
    tokio::try_join!(api.wait_running(&a), api.wait_running(&b))?;
    println!("1. two {} instances Running in {:.1}s: {a}, {b}", engine.name(), started.elapsed().as_secs_f64());
    let mut created = vec![a.clone(), b.clone()];

    let outcome = async {
        for id in [&a, &b] {
            api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "app_owner"), ("AccountPassword", "Demo_pass1")]).await?;
            api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "reporter"), ("AccountPassword", "Demo_pass2")]).await?;
        }
        match engine {
            Engine::PostgreSQL => postgres::populate(api, &a).await?,
            Engine::MariaDB => mariadb::populate(api, &a).await?,
        }

        let started = Instant::now();
        let body = api
            .call("ImportDatabaseBetweenInstances", &[("DBInstanceId", &b), ("SourceDBInstanceId", &a), ("DBInfo", r#"{"DBNames":{"shop":"shop_copy"}}"#)])
            .await?;
        let import_id = body["ImportId"].as_str().context("ImportId")?.to_string();
        println!("4. ImportDatabaseBetweenInstances {a}:shop -> {b}:shop_copy, ImportId {import_id}");
        let progress = loop {
            let p = api.call("DescribeImportProgress", &[("DBInstanceId", &b), ("ImportId", &import_id)]).await?;
            let status = p["Status"].as_str().unwrap_or_default().to_string();
            if store::ImportStatus::parse(&status).is_some_and(|s| s.is_terminal()) {
                break p;
            }
            let sa = api.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &a)]).await?;
            let sb = api.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &b)]).await?;
            println!(
                "   {status} / {}: source {}, destination {}",
                p["Phase"].as_str().unwrap_or_default(),
                sa["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"],
                sb["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"]
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
        };
        anyhow::ensure!(progress["Status"] == "Success", "import ended {}: {}", progress["Status"], progress["Error"]);
        println!("5. import succeeded in {:.1}s; verification per table:", started.elapsed().as_secs_f64());
        if let Some(ms) = progress["Result"]["SourceWriteBlockMs"].as_u64() {
            println!("   writes on the source were blocked for {ms} ms while the snapshot was taken");
        }
        for db in progress["Result"]["Databases"].as_array().into_iter().flatten() {
            for t in db["Tables"].as_array().into_iter().flatten() {
                println!(
                    "   {}.{}: {} rows, checksum {} on both sides, verified {}",
                    t["Schema"].as_str().unwrap_or(""),
                    t["Name"].as_str().unwrap_or(""),
                    t["Rows"],
                    t["SourceChecksum"].as_str().unwrap_or(""),
                    t["Verified"]
                );
                anyhow::ensure!(t["SourceChecksum"] == t["DestinationChecksum"] && t["Verified"] == true, "table {} not verified", t["Name"]);
            }
        }
        match engine {
            Engine::PostgreSQL => postgres::check(api, &a, &b).await,
            Engine::MariaDB => mariadb::check(api, &a, &b).await,
        }
    }
    .await;

    for id in created.drain(..) {
        api.call("DeleteDBInstance", &[("DBInstanceId", &id)]).await?;
    }
    println!("7. both instances deleted");
    outcome
}
