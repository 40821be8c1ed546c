//! DescribeDBInstancePerformance's counters read from a real server: they move with the
//! work done on it, and the processes' CPU and memory are found.

#[path = "server_common/mod.rs"]
mod common;

use common::{Instance, Sessions};
use engine::prelude::*;

#[tokio::test]
async fn counters_follow_the_work_and_the_processes_are_measured() {
    let inst = Instance::provision("pgm-perf").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    let before = engine.performance(spec).await.unwrap();
    assert!(before.memory_bytes > 1 << 20, "the cluster's processes hold memory: {before:?}");

    let app = inst.admin("postgres").await;
    let idle = inst.admin("postgres").await;
    app.batch_execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)").await.unwrap();
    for i in 0..50 {
        app.execute("INSERT INTO t VALUES ($1)", &[&i]).await.unwrap();
    }
    app.query("SELECT count(*) FROM t, generate_series(1, 300)", &[]).await.unwrap();
    let during = engine.performance(spec).await.unwrap();
    assert_eq!(during.total_sessions, 2, "the two sessions, not openrds's own: {during:?}");
    assert_eq!(during.active_sessions, 0, "{during:?}");
    // A session reports its statistics when it ends, or when idle, at most once a second.
    drop(app);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = engine.performance(spec).await.unwrap();
    assert!(after.transactions >= before.transactions + 50, "{before:?} -> {after:?}");
    assert_eq!(after.queries, after.transactions, "statements are not counted without pg_stat_statements");
    assert!(after.rows_inserted >= before.rows_inserted + 1050, "{after:?}");
    assert!(after.cpu_usec > before.cpu_usec, "{before:?} -> {after:?}");
    assert_eq!(after.total_sessions, 1, "{after:?}");
    drop(idle);
}
