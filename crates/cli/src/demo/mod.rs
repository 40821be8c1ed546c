//! `openrds demo`: the main job on a fresh machine. It starts a real server on a temporary
//! data directory, then acts only through the signed API as a user would: two PostgreSQL
//! instances, a database with accounts and data on the first, an import of it renamed
//! onto the second with its progress, and the verified result. Everything it made is
//! deleted at the end.

use anyhow::Context;
use control::{ControlConfig, ControlPlane};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Api {
    client: client::Client,
}

impl Api {
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
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

    async fn create_instance(&self, description: &str) -> anyhow::Result<String> {
        let new = client::NewInstance::postgres("pg.x4.large.2c", 20).described(description);
        self.client.create_instance(&new).await.context("CreateDBInstance failed")
    }

    async fn address(&self, id: &str) -> anyhow::Result<(String, u16)> {
        let body = self.call("DescribeDBInstanceNetInfo", &[("DBInstanceId", id)]).await?;
        let info = &body["DBInstanceNetInfos"]["DBInstanceNetInfo"][0];
        Ok((info["IPAddress"].as_str().unwrap_or("127.0.0.1").to_string(), info["Port"].as_str().unwrap_or("0").parse()?))
    }
}

async fn connect(addr: &(String, u16), user: &str, password: &str, db: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::Config::new()
        .host(&addr.0)
        .port(addr.1)
        .user(user)
        .password(password)
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connect to {}:{} as {user}", addr.0, addr.1))?;
    tokio::spawn(conn);
    Ok(client)
}

pub async fn run() -> anyhow::Result<ExitCode> {
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

    let result = scenario(&api).await;
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

async fn scenario(api: &Api) -> anyhow::Result<()> {
    let started = Instant::now();
    let (a, b) = tokio::try_join!(api.create_instance("demo source"), api.create_instance("demo destination"))?;
    tokio::try_join!(api.wait_running(&a), api.wait_running(&b))?;
    println!("1. two PostgreSQL instances Running in {:.1}s: {a}, {b}", started.elapsed().as_secs_f64());
    let mut created = vec![a.clone(), b.clone()];

    let outcome = async {
        for id in [&a, &b] {
            api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "app_owner"), ("AccountPassword", "Demo_pass1")]).await?;
            api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "reporter"), ("AccountPassword", "Demo_pass2")]).await?;
        }
        api.call(
            "CreateDatabase",
            &[("DBInstanceId", &a), ("DBName", "shop"), ("CharacterSetName", "UTF8"), ("AccountName", "app_owner"), ("AccountPrivilege", "DBOwner")],
        )
        .await?;
        api.call("GrantAccountPrivilege", &[("DBInstanceId", &a), ("AccountName", "reporter"), ("DBName", "shop"), ("AccountPrivilege", "ReadOnly")])
            .await?;
        println!("2. database shop on {a} (owner app_owner, read-only reporter)");

        let addr = api.address(&a).await?;
        let owner = connect(&addr, "app_owner", "Demo_pass1", "shop").await?;
        // Every object kind a complete copy must carry, created by the database's owner.
        owner.batch_execute(&testkit::every_kind("shop", "app_owner", "reporter")).await.context("load the sample database")?;
        let reporter = connect(&addr, "reporter", "Demo_pass2", "shop").await?;
        let n: i64 = reporter.query_one("SELECT count(*) FROM big", &[]).await?.get(0);
        let refused = reporter.batch_execute("DELETE FROM big").await.is_err();
        println!(
            "3. sample database loaded as app_owner: schemas, enum/domain/composite types, identity, generated and array columns,\n   \
             partitioned tables, views, materialized views, functions, a procedure, a trigger, a rule, row-level security,\n   \
             extensions, sequences, large objects, comments, grants and database settings; awkward values (NaN, infinity,\n   \
             tabs, newlines, backslashes, unicode). reporter reads {n} rows of `big` and its DELETE is refused: {refused}"
        );
        anyhow::ensure!(n == 60000 && refused, "privileges do not hold");

        let started = Instant::now();
        let body = api
            .call("ImportDatabaseBetweenInstances", &[("DBInstanceId", &b), ("SourceDBInstanceId", &a), ("DBInfo", r#"{"DBNames":{"shop":"shop_copy"}}"#)])
            .await?;
        let import_id = body["ImportId"].as_str().context("ImportId")?.to_string();
        println!("4. ImportDatabaseBetweenInstances {a}:shop -> {b}:shop_copy, ImportId {import_id}");
        let progress = loop {
            let p = api.call("DescribeImportProgress", &[("DBInstanceId", &b), ("ImportId", &import_id)]).await?;
            let status = p["Status"].as_str().unwrap_or_default().to_string();
            if matches!(status.as_str(), "Success" | "Failed" | "Canceled") {
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
        // Checked again without the mover's code: schema by pg_dump, data by digests.
        let login = |addr: (String, u16)| testkit::Login { host: addr.0, port: addr.1, user: "app_owner".into(), password: "Demo_pass1".into() };
        let (source, copy) = (login(addr.clone()), login(api.address(&b).await?));
        let (source_schema, copy_schema) =
            (testkit::schema_dump(&source, "shop", "shop", "shop_copy"), testkit::schema_dump(&copy, "shop_copy", "shop_copy", "shop_copy"));
        anyhow::ensure!(source_schema == copy_schema, "pg_dump --schema-only of the copy differs from the source's");
        let (source_data, copy_data) = (testkit::digests(&source, "shop").await, testkit::digests(&copy, "shop_copy").await);
        anyhow::ensure!(source_data == copy_data, "the copy's data differs from the source's");
        println!(
            "6. checked independently: pg_dump --schema-only identical ({} lines, the name aside); {} relations, sequences and large objects\n   \
             identical by row count and md5 of every row",
            copy_schema.lines().count(),
            copy_data.len()
        );
        Ok::<(), anyhow::Error>(())
    }
    .await;

    for id in created.drain(..) {
        api.call("DeleteDBInstance", &[("DBInstanceId", &id)]).await?;
    }
    println!("7. both instances deleted");
    outcome
}
