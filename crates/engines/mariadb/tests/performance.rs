//! DescribeDBInstancePerformance's counters read from a real server: they move with the
//! work done on it, and the server's CPU and memory are found.

#[path = "server_common/mod.rs"]
mod mariadb_common;

use engine::prelude::*;
use mariadb_common::{Instance, Sessions};
use mysql_async::prelude::*;

#[tokio::test]
async fn counters_follow_the_work_and_the_server_is_measured() {
    let inst = Instance::provision("rm-perf").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    let before = engine.performance(spec).await.unwrap();
    assert!(before.memory_bytes > 1 << 20, "the server holds memory: {before:?}");

    let mut app = inst.admin().await;
    let _idle = inst.admin().await;
    app.query_drop("CREATE DATABASE perf").await.unwrap();
    app.query_drop("CREATE TABLE perf.t (id int) ENGINE=InnoDB").await.unwrap();
    for i in 0..20 {
        app.query_drop(format!("BEGIN; INSERT INTO perf.t VALUES ({i}); COMMIT")).await.unwrap();
    }
    let _: Vec<u64> = app.query("SELECT id FROM perf.t").await.unwrap();
    app.query_drop("SELECT BENCHMARK(3000000, MD5('cpu'))").await.unwrap();
    let after = engine.performance(spec).await.unwrap();
    assert!(after.transactions >= before.transactions + 20, "{before:?} -> {after:?}");
    assert!(after.queries >= before.queries + 60, "{before:?} -> {after:?}");
    assert!(after.com_insert >= before.com_insert + 20 && after.com_select > before.com_select, "{after:?}");
    assert!(after.rows_inserted >= before.rows_inserted + 20, "{after:?}");
    assert!(after.bytes_received > before.bytes_received && after.bytes_sent > before.bytes_sent, "{after:?}");
    assert!(after.cpu_usec > before.cpu_usec, "{before:?} -> {after:?}");
    assert_eq!(after.total_sessions, 2, "the two sessions, not openrds's own: {after:?}");
}
