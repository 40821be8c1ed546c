//! ImportDatabaseBetweenInstances between MariaDB instances, through the API: refusals,
//! states during the task, the copy of every object kind renamed and identical (checked
//! by engine_mariadb::testing, not by the copier), the array form keeping names, cancel, and faults (the
//! destination's engine dying mid-copy, the destination's storage quota).

mod common;

use common::*;
use mysql_async::prelude::Queryable;




async fn databases(c: &Client, id: &str) -> Vec<String> {
    let r = c.call("DescribeDatabases", &[("DBInstanceId", id)]).await.ok();
    r["Databases"]["Database"].as_array().unwrap().iter().map(|d| d["DBName"].as_str().unwrap().to_string()).collect()
}

/// Every database on the server, staging ones included (the API does not list those).
async fn schemas(login: &engine::Login) -> Vec<String> {
    let mut c = engine_mariadb::testing::connect(login, None).await;
    c.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").await.unwrap()
}

async fn staging(login: &engine::Login) -> Vec<String> {
    schemas(login).await.into_iter().filter(|s| s.starts_with("ors_stg_")).collect()
}



async fn import(c: &Client, dst: &str, src: &str, info: &str) -> Reply {
    c.call("ImportDatabaseBetweenInstances", &[("DBInstanceId", dst), ("SourceDBInstanceId", src), ("DBInfo", info)]).await
}

async fn running_pair(c: &Client, dest_storage: &str) -> (String, String) {
    let (src, dst) = tokio::join!(c.create_mariadb("mariadb.x4.large.2c", "20"), c.create_mariadb("mariadb.x4.large.2c", dest_storage));
    c.wait_running(&[&src, &dst]).await;
    (src, dst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_import_refuses_bad_requests_then_copies_every_kind_renamed_and_verified() {
    let (server, c) = serve().await;
    let ((src, dst), general, pg) = tokio::join!(running_pair(&c, "20"), c.create_mariadb("mariadb.n2.medium.1", "20"), c.create_pg("pg.x4.large.2c"));
    c.wait_running(&[&general, &pg]).await;
    let (s, d) = (server.admin_of(&c, &src).await, server.admin_of(&c, &dst).await);
    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "utf8mb4")]).await.ok();
    engine_mariadb::testing::load_every_kind(&s, "shop", "app_definer").await;
    let (schema, data) = (engine_mariadb::testing::schema_dump(&s, "shop", "shop", "DB").await, engine_mariadb::testing::digests(&s, "shop").await);
    // A destination database that holds something may not be replaced; an empty one may.
    c.call("CreateDatabase", &[("DBInstanceId", &dst), ("DBName", "busy"), ("CharacterSetName", "utf8mb4")]).await.ok();
    engine_mariadb::testing::connect(&d, Some("busy")).await.query_drop("CREATE TABLE keep (i INT)").await.unwrap();
    c.call("CreateDatabase", &[("DBInstanceId", &dst), ("DBName", "shop_copy"), ("CharacterSetName", "latin1")]).await.ok();

    import(&c, &dst, &src, "{not json").await.err(400, "InvalidDBInfo.Malformed");
    import(&c, &dst, &src, r#"{"DBNames":{"shop":"a/b"}}"#).await.err(400, "InvalidDBName.Format");
    import(&c, &dst, &general, r#"{"DBNames":["shop"]}"#).await.err(400, "IncorrectDBInstanceType");
    import(&c, &dst, &pg, r#"{"DBNames":["postgres"]}"#).await.err(400, "InstanceEngineType.NotSupport");
    import(&c, &dst, &src, r#"{"DBNames":["nosuchdb"]}"#).await.err(404, "InvalidDBName.NotFound");
    import(&c, &dst, &src, r#"{"DBNames":{"shop":"busy"}}"#).await.err(400, "InvalidDBName.Duplicate");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()), "refusals change nothing");

    let started = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#).await.ok();
    let import_id = started["ImportId"].as_str().expect("ImportId").to_string();
    let p = c.progress(&dst, &import_id).await;
    if !matches!(p["Status"].as_str(), Some("Success" | "Failed")) {
        assert_eq!((c.status(&src).await, c.status(&dst).await), ("Migrating".into(), "Importing".into()));
        import(&c, &dst, &src, r#"{"DBNames":{"shop":"again"}}"#).await.err(403, "IncorrectDBInstanceState");
    }
    let done = c.wait_import(&dst, &import_id).await;
    assert_eq!(done["Status"], "Success", "{done}");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    assert!(done["Result"]["SourceWriteBlockMs"].as_u64().is_some(), "the write-block time is reported: {done}");
    assert_eq!(engine_mariadb::testing::schema_dump(&d, "shop_copy", "shop_copy", "DB").await, schema, "schemas differ");
    assert_eq!(engine_mariadb::testing::digests(&d, "shop_copy").await, data, "data differs");
    assert!(staging(&d).await.is_empty());
    assert!(databases(&c, &dst).await.contains(&"shop_copy".to_string()));

    // The array form keeps the names.
    let started = import(&c, &dst, &src, r#"{"DBNames":["shop"]}"#).await.ok();
    let done = c.wait_import(&dst, started["ImportId"].as_str().unwrap()).await;
    assert_eq!(done["Status"], "Success", "{done}");
    assert_eq!(engine_mariadb::testing::digests(&d, "shop").await, data);

    // Cancel: the task ends Canceled and leaves nothing on the destination.
    let started = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_cancel"}}"#).await.ok();
    let cancel_id = started["ImportId"].as_str().unwrap().to_string();
    let r = c.call("CancelImport", &[("DBInstanceId", &src), ("ImportId", &cancel_id)]).await;
    let ended = c.wait_import(&dst, &cancel_id).await;
    if r.status == 200 {
        assert_eq!(ended["Status"], "Canceled", "{ended}");
        assert!(!schemas(&d).await.contains(&"shop_cancel".to_string()));
        assert!(staging(&d).await.is_empty());
    } else {
        r.err(403, "IncorrectImportState");
    }
    assert_eq!(engine_mariadb::testing::digests(&s, "shop").await, data, "the source changed");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    for id in [&src, &dst, &general, &pg] {
        c.call("DeleteDBInstance", &[("DBInstanceId", id)]).await.ok();
    }
    for id in [&src, &dst, &general, &pg] {
        c.wait_status(id, "gone").await;
    }
    server.stop().await;
}

/// `shop` with one table of `rows` rows of about 200 bytes and a secondary key.
async fn big_shop(c: &Client, src: &str, s: &engine::Login, rows: u64) {
    c.call("CreateDatabase", &[("DBInstanceId", src), ("DBName", "shop"), ("CharacterSetName", "utf8mb4")]).await.ok();
    let mut conn = engine_mariadb::testing::connect(s, Some("shop")).await;
    conn.query_drop("CREATE TABLE items (id BIGINT PRIMARY KEY, a INT, note VARCHAR(200), KEY a (a))").await.unwrap();
    conn.query_drop(format!("INSERT INTO items SELECT seq, seq % 1000, REPEAT(MD5(seq), 6) FROM seq_1_to_{rows}")).await.unwrap();
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_destination_engine_dying_mid_copy_fails_the_task_and_leaves_the_destination_as_before() {
    let (server, c) = serve().await;
    let (src, dst) = running_pair(&c, "20").await;
    let (s, d) = (server.admin_of(&c, &src).await, server.admin_of(&c, &dst).await);
    big_shop(&c, &src, &s, 600_000).await;
    let before = engine_mariadb::testing::digests(&s, "shop").await;
    let started = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#).await.ok();
    let import_id = started["ImportId"].as_str().unwrap().to_string();
    c.wait_mid_copy(&dst, &import_id).await;
    kill_engine(&server, &dst);
    let ended = c.wait_import(&dst, &import_id).await;
    assert_eq!(ended["Status"], "Failed", "{ended}");
    let message = ended["Error"].as_str().unwrap_or_default();
    assert!(message.contains(&dst) && message.contains("destination"), "the message names the instance: {message}");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    assert!(!schemas(&d).await.contains(&"shop_copy".to_string()), "nothing published");
    assert!(staging(&d).await.is_empty(), "staging dropped once the engine was back");
    assert_eq!(engine_mariadb::testing::digests(&s, "shop").await, before, "the source is unchanged");
    for id in [&src, &dst] {
        c.call("DeleteDBInstance", &[("DBInstanceId", id)]).await.ok();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_import_beyond_the_destination_storage_quota_is_refused_or_fails_with_what_to_do() {
    // 1 storage unit = 10 MB here, so the 5-unit destination holds 50 MB, and the source
    // has about 60 MB: refused up front when the source's size says so, or stopped as the
    // copy crosses the quota; never copied.
    let server = start_server_with(tempfile::tempdir().unwrap(), |config| config.storage_unit_bytes = 10 << 20).await;
    let c = server.client();
    let (src, dst) = running_pair(&c, "5").await;
    let (s, d) = (server.admin_of(&c, &src).await, server.admin_of(&c, &dst).await);
    big_shop(&c, &src, &s, 250_000).await;
    let started = import(&c, &dst, &src, r#"{"DBNames":{"shop":"shop_copy"}}"#).await;
    if started.status != 200 {
        started.err(400, "DBSizeExceeded");
    } else {
        let import_id = started.ok()["ImportId"].as_str().unwrap().to_string();
        let ended = c.wait_import(&dst, &import_id).await;
        assert_eq!(ended["Status"], "Failed", "{ended}");
        let message = ended["Error"].as_str().unwrap_or_default();
        assert!(message.contains("DBInstanceStorage") && message.contains(&dst), "{message}");
    }
    assert!(!schemas(&d).await.contains(&"shop_copy".to_string()), "nothing published");
    assert!(staging(&d).await.is_empty());
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    for id in [&src, &dst] {
        c.call("DeleteDBInstance", &[("DBInstanceId", id)]).await.ok();
    }
    server.stop().await;
}

/// SIGKILL to the engine's whole process group.
fn kill_engine(server: &TestServer, id: &str) {
    let dir = server.dir.path().join("data/instances").join(id);
    let pidfile = ["mariadbd.pid", "data/mariadbd.pid", "run/mariadbd.pid"].iter().map(|p| dir.join(p)).find(|p| p.exists()).expect("the server's pid file");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let pgid = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))).unwrap();
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
}
