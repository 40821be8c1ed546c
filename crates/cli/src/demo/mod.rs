//! `openrds demo [--engine <Engine>]`: the main job on a fresh machine. It starts a real
//! server on a temporary data directory, then acts only through the signed API as a user
//! would: two instances of the engine, a database with accounts and data on the first, an
//! import of it renamed onto the second with its progress, and the verified result,
//! checked again independently of the copy's code. Everything it made is deleted at the
//! end. What differs between engines (the sample data, the independent check) is the
//! engine's `Showcase`, found through the registry.

use anyhow::Context;
use engine::{Login, Showcase};
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

    async fn create_instance(&self, new: &client::NewInstance, description: &str) -> anyhow::Result<String> {
        self.client.create_instance(&new.clone().described(description)).await.context("CreateDBInstance failed")
    }

    async fn login(&self, id: &str, user: &str, password: &str) -> anyhow::Result<Login> {
        let (host, port) = self.address(id).await?;
        Ok(Login { host, port, user: user.into(), password: password.into() })
    }

    pub(super) async fn address(&self, id: &str) -> anyhow::Result<(String, u16)> {
        let body = self.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", id)]).await?;
        let info = &body["DBInstanceNetInfos"]["DBInstanceNetInfo"][0];
        Ok((info["IPAddress"].as_str().unwrap_or("127.0.0.1").to_string(), info["Port"].as_str().unwrap_or("0").parse()?))
    }
}

/// The engine the demo runs on: its sample (from the registry), and what it creates.
struct Chosen {
    name: &'static str,
    showcase: &'static dyn Showcase,
    instance: client::NewInstance,
}

/// Finds `name` (any case; the registry's first engine if `None`) among the engines this
/// host runs, with a class that may take part in an import.
fn choose(name: Option<&str>, engines: &[Arc<dyn engine::Engine>]) -> anyhow::Result<Chosen> {
    let name = name.unwrap_or(registry::PLUGINS[0].catalogue.kind.as_str());
    let plugin = registry::find(name).with_context(|| {
        let known: Vec<_> = registry::PLUGINS.iter().map(|p| p.catalogue.kind.as_str()).collect();
        format!("no engine {name:?}; openrds has {}", known.join(", "))
    })?;
    let kind = plugin.catalogue.kind;
    let engine = engines.iter().find(|e| e.kind() == kind).with_context(|| format!("{kind} is not installed on this host"))?;
    let version = engine.versions().into_iter().next().with_context(|| format!("{kind} reports no version"))?;
    let class = plugin.catalogue.classes.iter().find(|c| c.family.allows_import()).context("no class that may import")?;
    Ok(Chosen { name: kind.as_str(), showcase: plugin.showcase, instance: client::NewInstance::new(kind.as_str(), &version, class.code, 20) })
}

pub async fn run(engine: Option<String>) -> anyhow::Result<ExitCode> {
    let engines = crate::serve::engines();
    let chosen = choose(engine.as_deref(), &engines)?;
    let dir = tempfile::tempdir()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
    let mut config = ControlConfig::new(dir.path().join("data"));
    config.root_key = Some(("LTAIdemo0000000000000000".into(), uuid::Uuid::new_v4().simple().to_string()));
    let (key_id, secret) = config.root_key.clone().unwrap_or_default();
    let store = Arc::new(store::SqliteStore::open(&dir.path().join("metadata.db"))?);
    let plane = ControlPlane::start(config, store, engines).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = listener.local_addr()?.to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, plane.clone(), server::ServerConfig::default(), async {
        let _ = stop_rx.await;
    }));
    println!("openrds demo: API at http://{host}, data in {}", dir.path().display());
    let api = Api { client: client::Client::new(&host, &key_id, &secret) };

    let result = scenario(&api, &chosen).await;
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

async fn scenario(api: &Api, engine: &Chosen) -> anyhow::Result<()> {
    let started = Instant::now();
    let (a, b) = tokio::try_join!(api.create_instance(&engine.instance, "demo source"), api.create_instance(&engine.instance, "demo destination"))?;
    tokio::try_join!(api.wait_running(&a), api.wait_running(&b))?;
    println!("1. two {} instances Running in {:.1}s: {a}, {b}", engine.name, started.elapsed().as_secs_f64());
    let mut created = vec![a.clone(), b.clone()];

    let outcome = async {
        for id in [&a, &b] {
            api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "app_owner"), ("AccountPassword", "Demo_pass1")]).await?;
            api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "reporter"), ("AccountPassword", "Demo_pass2")]).await?;
        }
        let owner_privilege = engine.showcase.owner_privilege();
        api.call(
            "CreateDatabase",
            &[
                ("DBInstanceId", a.as_str()),
                ("DBName", "shop"),
                ("CharacterSetName", engine.showcase.charset()),
                ("AccountName", "app_owner"),
                ("AccountPrivilege", owner_privilege),
            ],
        )
        .await?;
        api.call("GrantAccountPrivilege", &[("DBInstanceId", a.as_str()), ("AccountName", "reporter"), ("DBName", "shop"), ("AccountPrivilege", "ReadOnly")])
            .await?;
        println!("2. database shop ({}) on {a}: app_owner {owner_privilege}, reporter ReadOnly", engine.showcase.charset());
        let (owner, reader) = (api.login(&a, "app_owner", "Demo_pass1").await?, api.login(&a, "reporter", "Demo_pass2").await?);
        let loaded = engine.showcase.load(&owner, &reader, "shop").await?;
        println!("3. sample database loaded as app_owner: {loaded}");

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
                println!("   {}", crate::import::table_outcome(t));
                anyhow::ensure!(crate::import::verified(t), "table {} not verified", t["Name"]);
            }
        }
        if let Some(privilege) = engine.showcase.copy_grant() {
            api.call(
                "GrantAccountPrivilege",
                &[("DBInstanceId", b.as_str()), ("AccountName", "app_owner"), ("DBName", "shop_copy"), ("AccountPrivilege", privilege)],
            )
            .await?;
        }
        let (source, copy) = (api.login(&a, "app_owner", "Demo_pass1").await?, api.login(&b, "app_owner", "Demo_pass1").await?);
        let compared = engine.showcase.compare(&source, &copy, "shop", "shop_copy").await?;
        println!("6. checked independently: {compared}");
        Ok(())
    }
    .await;

    for id in created.drain(..) {
        api.call("DeleteDBInstance", &[("DBInstanceId", &id)]).await?;
    }
    println!("7. both instances deleted");
    outcome
}
