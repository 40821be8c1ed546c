//! `openrds serve` crashed at each failpoint of a MariaDB import and started again on the
//! same data directory: every task ends Success with the copy identical to the source,
//! both instances Running and no staging database left. A crash after the tables moved
//! finds the publication half done and finishes it from its journal.

mod common;

use common::*;
use mysql_async::prelude::Queryable;

const FAILPOINTS: &[(&str, &str)] = &[
    ("OPENRDS_FAILPOINT", "after_accept"),
    ("OPENRDS_FAILPOINT", "after_plan=exit"),
    ("OPENRDS_FAILPOINT", "after_pre_data=exit"),
    ("OPENRDS_FAILPOINT", "during_data=exit"),
    ("OPENRDS_FAILPOINT", "after_data=exit"),
    ("OPENRDS_FAILPOINT", "before_publish=exit"),
    ("OPENRDS_FAILPOINT", "after_publish=exit"),
    ("OPENRDS_FAILPOINT", "before_end"),
];

async fn staging(admin: &engine::Login) -> Vec<String> {
    let mut c = engine_mariadb::testing::connect(admin, None).await;
    let names: Vec<String> = c.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").await.unwrap();
    names.into_iter().filter(|n| n.starts_with("ors_stg_")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_each_failpoint_of_a_mariadb_import_is_recovered_at_the_next_start() {
    let site = Site::new(2);
    let served = site.serve(&[]).await;
    let mut ids = Vec::new();
    for description in ["source", "destination"] {
        ids.push(served.api.create_instance(&client::NewInstance::new("MariaDB", "10.11", "mariadb.x4.large.2c", 20).described(description)).await.unwrap());
    }
    for id in &ids {
        wait_status(&served.api, id, "Running").await;
    }
    let (src, dst) = (ids[0].clone(), ids[1].clone());
    served.api.call("CreateDatabase", &[("DBInstanceId", src.as_str()), ("DBName", "shop"), ("CharacterSetName", "utf8mb4")]).await.unwrap();
    let (src_admin, dst_admin) = (site.admin(&served.api, &src).await, site.admin(&served.api, &dst).await);
    engine_mariadb::testing::load_every_kind(&src_admin, "shop", "app_definer").await;
    let (schema, before) = (engine_mariadb::testing::schema_dump(&src_admin, "shop", "shop", "DB").await, engine_mariadb::testing::digests(&src_admin, "shop").await);
    served.stop().await;

    for (i, (var, point)) in FAILPOINTS.iter().enumerate() {
        let target = format!("copy_{i}");
        let crashing = site.serve(&[(var, point)]).await;
        if i % 2 == 0 {
            // An empty target exists already: publication replaces it.
            crashing.api.call("CreateDatabase", &[("DBInstanceId", dst.as_str()), ("DBName", &target), ("CharacterSetName", "latin1")]).await.unwrap();
        }
        let info = format!(r#"{{"DBNames":{{"shop":"{target}"}}}}"#);
        let (served, _) = crash_and_recover(&site, crashing, point, &src, &dst, &info).await;
        assert_eq!(engine_mariadb::testing::digests(&dst_admin, &target).await, before, "{point}: the copy's data differs");
        assert_eq!(engine_mariadb::testing::schema_dump(&dst_admin, &target, &target, "DB").await, schema, "{point}: the copy's schema differs");
        assert!(staging(&dst_admin).await.is_empty(), "{point}: staging left");
        served.stop().await;
    }
    assert_eq!(engine_mariadb::testing::digests(&src_admin, "shop").await, before, "the source changed");

    site.delete_instances(&[&src, &dst]).await;
}
