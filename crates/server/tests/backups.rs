//! Backups across a restart of openrds, through the API: a job interrupted mid-copy is
//! run again from scratch when the control plane starts (what the first attempt wrote is
//! discarded) and ends Success; the set it makes restores the data. A restore into an
//! existing instance (RecoveryDBInstance) interrupted while its backup is being restored
//! is restored again and copied, and its private server is gone at the end.

mod common;

use common::*;
use engine_postgres::testing::PgConnect;
use std::time::{Duration, Instant};

/// Waits for the instance to run, then gives it database `shop` with 1.5 M rows in `t`.
async fn with_rows(server: &TestServer, c: &Client, id: &str) {
    c.wait_status(id, "Running").await;
    c.call("CreateDatabase", &[("DBInstanceId", id), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await.ok();
    server
        .admin_of(c, id)
        .await
        .connect("shop")
        .await
        .batch_execute("CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 1500000) g;")
        .await
        .unwrap();
}

async fn job(c: &Client, instance: &str, job_id: &str) -> serde_json::Value {
    let r = c.call("DescribeBackupTasks", &[("DBInstanceId", instance), ("BackupJobId", job_id)]).await.ok();
    r["Items"]["BackupJob"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_interrupted_by_a_restart_runs_again_and_succeeds() {
    let server = start_server().await;
    let c = server.client();
    let id = c.create_pg("pg.x4.large.2c").await;
    // Enough data that the copy takes a few seconds, so the restart lands inside it.
    with_rows(&server, &c, &id).await;
    let job_id = c.call("CreateBackup", &[("DBInstanceId", &id)]).await.ok()["BackupJobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(&c, &id, &job_id).await;
        if j["BackupStatus"] == "Progressing" && j["BackupBytesDone"].as_i64().unwrap_or(0) > 0 {
            break;
        }
        assert!(j["BackupStatus"] != "Finished", "the backup ended before the restart could interrupt it: {j}");
        assert!(Instant::now() < deadline, "the backup never made progress: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dir = server.stop().await;
    let first_attempt = dir.path().join("data/backups").join(&id).join(format!("{job_id}-1"));

    let server = start_server_in(dir).await;
    let c = server.client();
    let deadline = Instant::now() + Duration::from_secs(120);
    let ended = loop {
        let j = job(&c, &id, &job_id).await;
        if j["BackupStatus"] == "Finished" || j["BackupStatus"] == "Failed" {
            break j;
        }
        assert!(Instant::now() < deadline, "the resumed backup did not end: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended["BackupStatus"], "Finished", "{ended}");
    assert_eq!(ended["Attempts"], 2, "{ended}");
    assert!(!first_attempt.exists(), "what the interrupted attempt wrote is discarded");
    let sets = c.call("DescribeBackups", &[("DBInstanceId", &id)]).await.ok();
    let set = &sets["Items"]["Backup"][0];
    assert_eq!((set["BackupId"].as_str(), set["BackupStatus"].as_str()), (Some(job_id.as_str()), Some("Success")), "{sets}");

    let clone = c.call("CloneDBInstance", &[("DBInstanceId", &id), ("BackupId", &job_id), ("PayType", "Postpaid")]).await.ok();
    let clone_id = clone["DBInstanceId"].as_str().unwrap().to_string();
    c.wait_status(&clone_id, "Running").await;
    let rows = server.admin_of(&c, &clone_id).await.connect("shop").await.query_one("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows.get::<_, i64>(0), 1_500_000);
    c.delete_all(&[&id, &clone_id]).await;
}

async fn task(c: &Client, instance: &str, task_id: &str) -> serde_json::Value {
    c.call("DescribeImportProgress", &[("DBInstanceId", instance), ("ImportId", task_id)]).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_into_an_instance_interrupted_by_a_restart_is_finished() {
    let server = start_server().await;
    let c = server.client();
    let source = c.create_pg("pg.x4.large.2c").await;
    let target = c.create_pg("pg.x4.large.2c").await;
    c.wait_status(&target, "Running").await;
    with_rows(&server, &c, &source).await;
    let job_id = c.call("CreateBackup", &[("DBInstanceId", &source)]).await.ok()["BackupJobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while job(&c, &source, &job_id).await["BackupStatus"] != "Finished" {
        assert!(Instant::now() < deadline, "the backup did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = c
        .call("RecoveryDBInstance", &[("BackupId", &job_id), ("TargetDBInstanceId", &target), ("DbNames", r#"{"shop":"shop_back"}"#)])
        .await
        .ok();
    let task_id = started["OrderId"].as_str().unwrap().to_string();
    let t = task(&c, &target, &task_id).await;
    assert_eq!(t["Phase"], "Restoring", "the restart must land while the backup is restored: {t}");
    let private_server = t["SourceDBInstanceId"].as_str().unwrap().to_string();
    let dir = server.stop().await;
    let private_dir = dir.path().join("data/instances").join(&private_server);

    let server = start_server_in(dir).await;
    let c = server.client();
    let deadline = Instant::now() + Duration::from_secs(240);
    let ended = loop {
        let t = task(&c, &target, &task_id).await;
        if matches!(t["Status"].as_str(), Some("Success" | "Failed" | "Canceled")) {
            break t;
        }
        assert!(Instant::now() < deadline, "the resumed restore did not end: {t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended["Status"], "Success", "{ended}");
    c.wait_status(&target, "Running").await;
    let rows = server.admin_of(&c, &target).await.connect("shop_back").await.query_one("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows.get::<_, i64>(0), 1_500_000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while private_dir.exists() {
        assert!(Instant::now() < deadline, "the private server {} was not deleted", private_dir.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.delete_all(&[&source, &target]).await;
}
