//! Faults during ImportDatabaseBetweenInstances, through the API: the destination's or the
//! source's engine dying mid-copy, and the destination reaching its storage quota. Each
//! ends the task Failed with a message that says what happened and what to do, leaves the
//! destination as it was (no staging database, engine running again) and the source
//! unchanged, and gives both instances back as Running.

mod common;

use engine_postgres::testing::PgConnect;
use common::*;
use std::time::{Duration, Instant};






async fn databases(login: &engine::Login) -> Vec<String> {
    let c = login.connect("postgres").await;
    c.query("SELECT datname::text FROM pg_database ORDER BY 1", &[]).await.unwrap().into_iter().map(|r| r.get(0)).collect()
}

/// Two instances; `shop` on the source with `rows` rows of about 100 bytes plus indexes.
async fn setup(server: &TestServer, dest_storage: &str, rows: i64) -> (String, String, engine::Login, engine::Login) {
    let c = server.client();
    let (src, dst) = tokio::join!(c.create_pg("pg.x4.large.2c"), c.create_pg_sized("pg.x4.large.2c", dest_storage));
    for id in [&src, &dst] {
        c.wait_status(id, "Running").await;
        c.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "owner1"), ("AccountPassword", "Owner_pass1")]).await.ok();
    }
    c.call("CreateDatabase", &[("DBInstanceId", &src), ("DBName", "shop"), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")])
        .await
        .ok();
    let s = server.admin_of(&c, &src).await;
    let d = server.admin_of(&c, &dst).await;
    s.connect("shop")
        .await
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, a int, note text);
             INSERT INTO items SELECT g, g % 1000, repeat(md5(g::text), 3) FROM generate_series(1, {rows}) g;
             CREATE INDEX items_a ON items (a);
             CREATE TABLE other (id int PRIMARY KEY, v text);
             INSERT INTO other SELECT g, md5(g::text) FROM generate_series(1, 10000) g;"
        ))
        .await
        .unwrap();
    (src, dst, s, d)
}

async fn start_import(c: &Client, src: &str, dst: &str) -> String {
    let r = c
        .call("ImportDatabaseBetweenInstances", &[("DBInstanceId", dst), ("SourceDBInstanceId", src), ("DBInfo", r#"{"DBNames":{"shop":"shop_copy"}}"#)])
        .await
        .ok();
    r["ImportId"].as_str().unwrap().to_string()
}


/// SIGKILL to the engine's whole process group: the server and its backends die at once.
fn kill_engine(server: &TestServer, id: &str) {
    let pidfile = server.dir.path().join("data/instances").join(id).join("data/postmaster.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile).expect("postmaster.pid").lines().next().unwrap().trim().parse().unwrap();
    let pgid = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))).unwrap();
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
}

async fn digest(login: &engine::Login) -> Vec<(String, String)> {
    engine_postgres::testing::digests(login, "shop").await
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Source,
    Destination,
}

/// Kills one side's engine while the copy streams data, and checks the outcome.
async fn engine_dies_mid_copy(side: Side) {
    let (server, c) = serve().await;
    let (src, dst, s, d) = setup(&server, "20", 1_500_000).await;
    let source_before = digest(&s).await;
    let dest_before = databases(&d).await;

    let import_id = start_import(&c, &src, &dst).await;
    c.wait_mid_copy(&dst, &import_id).await;
    kill_engine(&server, if side == Side::Source { &src } else { &dst });
    let p = c.wait_import(&dst, &import_id).await;
    assert_eq!(p["Status"], "Failed", "{p}");
    let error = p["Error"].as_str().unwrap();
    let told = match side {
        Side::Source => format!("source instance {src} stopped"),
        Side::Destination => format!("destination instance {dst} stopped"),
    };
    assert!(error.contains(&told) && error.contains("the source was not changed") && error.contains("Run the import again"), "{error}");
    assert!(!error.contains("still holds"), "the destination was cleaned before the task ended: {error}");

    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    assert_eq!(databases(&d).await, dest_before, "the destination is as before, its engine running");
    // A killed source is started again by the supervisor; its data is intact.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after = None;
    while after.is_none() && Instant::now() < deadline {
        let login = s.clone();
        after = tokio::spawn(async move { digest(&login).await }).await.ok();
        if after.is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert_eq!(after.expect("the source is back"), source_before, "the source is unchanged");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_engine_dying_mid_copy_fails_the_task_and_leaves_the_destination_as_before() {
    engine_dies_mid_copy(Side::Destination).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_engine_dying_mid_copy_fails_the_task_and_leaves_nothing_on_the_destination() {
    engine_dies_mid_copy(Side::Source).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_reaching_its_storage_quota_fails_the_task_with_what_to_do() {
    // One storage unit is 1 MiB here, so the quota is 80 MiB: the copy fits when it
    // starts, and a 60 MB table written on the destination meanwhile takes it over.
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(dir, |config| config.storage_unit_bytes = 1 << 20).await;
    let c = server.client();
    let (src, dst, s, d) = setup(&server, "80", 20_000).await;
    let source_before = digest(&s).await;
    c.call("CreateDatabase", &[("DBInstanceId", &dst), ("DBName", "app"), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")])
        .await
        .ok();
    let dest_before = databases(&d).await;

    // A long transaction on the source holds the copy at its schema step (pg_dump waits
    // for the table lock), so the quota is crossed while the task runs.
    let blocker = s.connect("shop").await;
    blocker.batch_execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let import_id = start_import(&c, &src, &dst).await;
    d.connect("app").await.batch_execute("CREATE TABLE ballast AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 60000)").await.unwrap();
    let p = c.wait_import(&dst, &import_id).await;
    blocker.batch_execute("COMMIT").await.unwrap();

    assert_eq!(p["Status"], "Failed", "{p}");
    let error = p["Error"].as_str().unwrap();
    assert!(error.contains("storage quota") && error.contains("grow DBInstanceStorage"), "{error}");
    assert_eq!(databases(&d).await, dest_before, "nothing partial on the destination");
    assert_eq!((c.status(&src).await, c.status(&dst).await), ("Running".into(), "Running".into()));
    assert_eq!(digest(&s).await, source_before, "the source is unchanged");
    server.stop().await;
}
