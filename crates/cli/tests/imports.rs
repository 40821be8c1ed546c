//! ImportDatabaseBetweenInstances through the real binary: every object kind arrives
//! renamed and identical (`pg_dump -s` and per-table digests), `openrds import` shows it
//! and exits by the outcome, and a crash of `openrds serve` at each failpoint is recovered
//! at the next start with nothing partial left.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_kind_arrives_renamed_and_identical_through_openrds_import() {
    let site = Site::new(0);
    let served = site.serve(&[]).await;
    let api = served.api.clone();
    let (src, dst) = two_instances(&api).await;
    // reader1 exists only on the source: the import must create it on the destination.
    api.call("CreateAccount", &[("DBInstanceId", src.as_str()), ("AccountName", "reader1"), ("AccountPassword", "Reader_pass1")]).await.unwrap();
    let src_admin = load_every_kind(&site, &api, &src, "shop", "reader1").await;
    let dst_admin = site.admin(&api, &dst).await;
    let before = engine_postgres::testing::digests(&src_admin, "shop").await;

    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_openrds"))
            .arg("import")
            .args(["--endpoint", &served.listen, "--access-key-id", KEY_ID, "--access-key-secret", SECRET, "--poll-ms", "200"])
            .args(args)
            .output()
            .expect("run openrds import")
    };
    let out = cli(&["--from", &src, "--to", &dst, "shop:shop_copy"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "openrds import failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("shop -> shop_copy") && stdout.contains("verified") && !stdout.contains("NOT VERIFIED"), "{stdout}");
    assert!(stdout.contains("reader1"), "the created role is reported: {stdout}");

    assert_eq!(
        engine_postgres::testing::schema_dump(&src_admin, "shop", "shop", "shop_copy"),
        engine_postgres::testing::schema_dump(&dst_admin, "shop_copy", "shop_copy", "shop_copy"),
        "schemas differ"
    );
    assert_eq!(engine_postgres::testing::digests(&dst_admin, "shop_copy").await, before, "data differs");
    assert_eq!(engine_postgres::testing::digests(&src_admin, "shop").await, before, "the source changed");
    assert!(staging_databases(&dst_admin).await.is_empty());

    let listed = api.call("DescibeImportsFromDatabase", &[("DBInstanceId", dst.as_str())]).await.unwrap();
    let import_id = listed["Items"]["ImportResultFromDB"][0]["ImportId"].to_string().trim_matches('"').to_string();
    let p = api.call("DescribeImportProgress", &[("DBInstanceId", dst.as_str()), ("ImportId", &import_id)]).await.unwrap();
    assert_eq!(p["Status"], "Success");
    let done = &p["Progress"];
    assert!(done["BytesDone"].as_u64().unwrap() > 0 && done["BytesDone"] == done["BytesExpected"], "final progress kept: {done}");
    assert_eq!((done["Phase"].as_str(), done["RowsDone"].clone()), (Some("Done"), done["RowsExpected"].clone()));
    assert!(p["Result"]["RolesCreated"].as_array().unwrap().iter().any(|r| r == "reader1"), "{}", p["Result"]);
    let tables = p["Result"]["Databases"][0]["Tables"].as_array().unwrap();
    // The default verification: the destination counted the rows the stream's digest covers.
    assert_eq!(p["Result"]["Verification"], "stream");
    assert!(tables.len() >= 12, "{tables:?}");
    for t in tables {
        let rows = t["Rows"].to_string();
        assert!(t["Verified"] == true && t["DestinationChecksum"] == rows.as_str() && t["SourceChecksum"].as_str().unwrap().starts_with(&format!("{rows}:")), "{t}");
    }

    // A refused import: the command says why and exits non-zero, nothing changes.
    let out = cli(&["--from", &src, "--to", &dst, "nosuchdb:copy"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidDBName.NotFound"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(status(&api, &src).await, "Running");

    for id in [&src, &dst] {
        api.call("DeleteDBInstance", &[("DBInstanceId", id.as_str())]).await.unwrap();
    }
    served.stop().await;
}

/// Where the process can die during a task: the control plane's own points, and the
/// mover's steps.
const FAILPOINTS: &[(&str, &str)] = &[
    ("OPENRDS_FAILPOINT", "after_accept"),
    ("OPENRDS_FAILPOINT", "after_plan=exit"),
    ("OPENRDS_FAILPOINT", "after_roles=exit"),
    ("OPENRDS_FAILPOINT", "after_pre_data=exit"),
    ("OPENRDS_FAILPOINT", "during_data=exit"),
    ("OPENRDS_FAILPOINT", "after_data=exit"),
    ("OPENRDS_FAILPOINT", "after_post_data=exit"),
    ("OPENRDS_FAILPOINT", "before_publish=exit"),
    ("OPENRDS_FAILPOINT", "after_publish=exit"),
    ("OPENRDS_FAILPOINT", "before_end"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_each_failpoint_is_recovered_at_the_next_start() {
    let site = Site::new(1);
    let served = site.serve(&[]).await;
    let (src, dst) = two_instances(&served.api).await;
    api_account(&served.api, &src).await;
    let src_admin = load_every_kind(&site, &served.api, &src, "shop", "reader1").await;
    let dst_admin = site.admin(&served.api, &dst).await;
    let before = engine_postgres::testing::digests(&src_admin, "shop").await;
    served.stop().await;

    for (i, (var, point)) in FAILPOINTS.iter().enumerate() {
        let target = format!("copy_{i}");
        let crashing = site.serve(&[(var, point)]).await;
        // Half the targets exist already, empty: publication then also sets one aside.
        if i % 2 == 0 || i + 1 == FAILPOINTS.len() {
            crashing
                .api
                .call(
                    "CreateDatabase",
                    &[("DBInstanceId", dst.as_str()), ("DBName", &target), ("CharacterSetName", "UTF8"), ("AccountName", "owner1"), ("AccountPrivilege", "DBOwner")],
                )
                .await
                .unwrap();
        }
        let info = format!(r#"{{"DBNames":{{"shop":"{target}"}}}}"#);
        let (served, _) = crash_and_recover(&site, crashing, point, &src, &dst, &info).await;
        assert_eq!(engine_postgres::testing::digests(&dst_admin, &target).await, before, "{point}: the copy differs");
        assert!(staging_databases(&dst_admin).await.is_empty(), "{point}: staging left");
        served.stop().await;
    }
    assert_eq!(engine_postgres::testing::digests(&src_admin, "shop").await, before, "the source changed");

    site.delete_instances(&[&src, &dst]).await;
}

async fn api_account(api: &client::Client, id: &str) {
    api.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "reader1"), ("AccountPassword", "Reader_pass1")]).await.unwrap();
}
