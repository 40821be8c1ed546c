//! The copy against real PostgreSQL servers: completeness (schema dump and per-relation
//! digests equal), roles, several databases, and every way of failing leaving the
//! destination as it was.

#[path = "copy_common/mod.rs"]
mod common;

use common::*;
use engine_postgres::copier::copy_databases;
use mover::{CopyOptions, CopyRequest, FailAction, MoveError, Progress, Tamper, TestHooks, Verification};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const OWNER: &str = "mover_test_owner";
const READER: &str = "mover_test_reader";

async fn copy(src: &mover::Endpoint, dst: &mover::Endpoint, pairs: &[(&str, &str)], opts: &CopyOptions) -> (Result<mover::CopyReport, MoveError>, Arc<Progress>) {
    let progress = Arc::new(Progress::default());
    let names: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let r = copy_databases(&pg_bin(), CopyRequest { progress: progress.clone(), ..CopyRequest::new(src, dst, &names, opts) }).await;
    (r, progress)
}

/// The dataset in a fresh source database, a free destination, both named for the test,
/// and the source's digests.
async fn dataset_pair(ep: &mover::Endpoint, label: &str) -> (String, String, Vec<(String, String)>) {
    ensure_roles(ep, &[OWNER, READER]).await;
    let (src, dst) = (name(&format!("mvsrc_{label}")), name(&format!("mvdst_{label}")));
    drop_db(ep, &dst).await;
    load_dataset(ep, &src, OWNER, READER).await;
    let before = digests(ep, &src).await;
    (src, dst, before)
}

/// The dataset in `src`, owned and read by roles made for the test (named for it from
/// `owner` and `reader`); returns their names.
async fn dataset_owned_by(ep: &mover::Endpoint, src: &str, owner: &str, reader: &str) -> (String, String) {
    let (owner, reader) = (name(owner), name(reader));
    ensure_roles(ep, &[&owner, &reader]).await;
    load_dataset(ep, src, &owner, &reader).await;
    (owner, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_every_object_kind_and_verifies_it() {
    let ep = local();
    let (src, dst, before) = dataset_pair(&ep, "all").await;

    let plan = engine_postgres::copier::plan_databases(&ep, std::slice::from_ref(&src)).await.expect("plan");
    let p = &plan.databases[0];
    assert_eq!((p.tables, p.large_objects, p.encoding.as_str()), (12, 3, "UTF8"));
    assert!(p.roles.iter().any(|r| r == READER) && p.roles.iter().any(|r| r == OWNER), "{:?}", p.roles);
    assert!(p.size_bytes > p.table_bytes && p.indexes >= 10);

    let tag = name("all");
    // A small threshold, so `big` is split by key ranges and `big_nokey` by page ranges;
    // read back in full, so every kind of column is hashed on both sides (in parts on the
    // source, whole on the destination).
    let opts = CopyOptions { split_bytes: 1 << 20, verification: Verification::ReadBack, ..options(&tag) };
    let (r, progress) = copy(&ep, &ep, &[(&src, &dst)], &opts).await;
    let report = r.expect("copy succeeds");

    assert_eq!(schema_dump(&ep, &src, &src, &dst), schema_dump(&ep, &dst, &dst, &dst), "schemas differ");
    assert_eq!(digests(&ep, &dst).await, before, "data differs");
    assert_eq!(digests(&ep, &src).await, before, "the source changed");
    assert!(staging_left(&ep, &tag).await.is_empty());

    let db = &report.databases[0];
    assert_eq!((db.source.as_str(), db.destination.as_str(), db.replaced_existing), (src.as_str(), dst.as_str(), false));
    assert_eq!(report.verification, "full");
    assert!(db.tables.iter().all(|t| t.verified && t.source_checksum == t.destination_checksum), "{:#?}", db.tables);
    let table = |n: &str| db.tables.iter().find(|t| t.name == n).unwrap_or_else(|| panic!("{n} reported"));
    assert!(table("big").parts > 1 && table("big_nokey").parts > 1, "big tables split");
    assert_eq!(table("big").rows, 60000);
    assert_eq!(table("big_nokey").rows, 40100);
    assert_eq!(table("no_columns").rows, 2);
    assert_eq!(table("awkward").rows, 6);
    assert_eq!(table("events_2025_a").schema, "public");
    assert!(!db.tables.iter().any(|t| t.name == "events" || t.name == "events_2025"), "partitioned parents hold no data");
    assert_eq!(table("Orders").format, "text", "composite and user-typed array columns are not sent in binary");
    assert_eq!(table("big").format, "binary");
    assert_eq!(table("awkward").format, "text", "regclass is an OID in binary");
    let seq = db.sequences.iter().find(|s| s.name == "invoice_no").expect("sequence reported");
    assert_eq!((seq.last_value, seq.is_called, seq.verified), (424242, true, true));
    assert_eq!((db.large_objects.count, db.large_objects.verified), (3, true));
    assert!(db.indexes_built_early >= 8, "indexes built early: {}", db.indexes_built_early);
    assert!(db.settings_applied.iter().any(|s| s == "work_mem=8MB"), "{:?}", db.settings_applied);
    assert!(report.roles_created.is_empty(), "roles exist on the same server");

    // Long values load compressed with LZ4 unless their column names a method (docs/decisions.md).
    let compression: Vec<(Option<String>, Option<String>)> = connect(&ep, &dst)
        .await
        .query("SELECT pg_column_compression(name), pg_column_compression(\"MixedCase\") FROM public.customers WHERE email = 'c@x.org'", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(compression, vec![(Some("pglz".to_string()), Some("lz4".to_string()))]);

    let never: Vec<String> = connect(&ep, &dst)
        .await
        .query("SELECT relname::text FROM pg_stat_user_tables WHERE last_analyze IS NULL AND relname <> 'never_filled'", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert!(never.is_empty(), "not analyzed: {never:?}");

    let snap = progress.snapshot();
    assert_eq!(snap.phase, "Done");
    assert_eq!((snap.rows_done, snap.bytes_done), (snap.rows_expected, snap.bytes_expected));
    assert_eq!(snap.rows_done, report.rows);
    let d = &snap.databases[0];
    assert!(d.tables.iter().all(|t| t.state == "Verified" && t.parts_done == t.parts), "{:#?}", d.tables);
    assert_eq!(d.indexes_done, d.indexes_total);
    serde_json::to_string(&snap).expect("snapshot serialises");
    serde_json::to_string(&report).expect("report serialises");

    drop_db(&ep, &src).await;
    drop_db(&ep, &dst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_another_server_creating_missing_roles() {
    let (ep, other) = (local(), SecondServer::start());
    let (src, dst) = (name("mvsrc_x"), name("mvdst_x"));
    let (owner, reader) = dataset_owned_by(&ep, &src, "mover_owner", "mover_reader").await;
    let before = digests(&ep, &src).await;

    let tag = name("x");
    let (r, _) = copy(&ep, &other.endpoint, &[(&src, &dst)], &options(&tag)).await;
    let report = r.expect("copy succeeds");
    let mut created = report.roles_created.clone();
    created.sort();
    assert_eq!(created, vec![owner.clone(), reader.clone()]);

    assert_eq!(schema_dump(&ep, &src, &src, &dst), schema_dump(&other.endpoint, &dst, &dst, &dst), "schemas differ");
    assert_eq!(digests(&other.endpoint, &dst).await, before, "data differs");
    let c = connect(&other.endpoint, "postgres").await;
    let rows = c
        .query("SELECT rolcanlogin, rolpassword IS NULL, shobj_description(oid, 'pg_authid') IS NULL FROM pg_authid WHERE rolname = ANY($1)", &[&vec![owner.clone(), reader.clone()]])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!((r.get::<_, bool>(0), r.get::<_, bool>(1), r.get::<_, bool>(2)), (false, true, true), "NOLOGIN, no password, no task marker");
    }
    drop_db(&ep, &src).await;
    let c = connect(&ep, "postgres").await;
    c.batch_execute(&format!("DROP ROLE \"{owner}\"; DROP ROLE \"{reader}\"")).await.unwrap();
}

/// A failed copy to another server also removes the roles it created there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_drops_the_roles_it_created() {
    let (ep, other) = (local(), SecondServer::start());
    let (src, dst) = (name("mvsrc_fr"), name("mvdst_fr"));
    let (owner, reader) = dataset_owned_by(&ep, &src, "mover_fowner", "mover_freader").await;
    let tag = name("fr");
    let opts = CopyOptions { hooks: TestHooks { failpoint: Some(("after_data".into(), FailAction::Error)), tamper: None }, ..options(&tag) };
    let (r, progress) = copy(&ep, &other.endpoint, &[(&src, &dst)], &opts).await;
    assert!(matches!(r, Err(MoveError::Internal(_))), "{r:?}");
    assert_eq!(progress.snapshot().phase, "Failed");
    assert!(staging_left(&other.endpoint, &tag).await.is_empty());
    assert!(!exists(&other.endpoint, &dst).await);
    let c = connect(&other.endpoint, "postgres").await;
    let n: i64 = c.query_one("SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)", &[&vec![owner.clone(), reader.clone()]]).await.unwrap().get(0);
    assert_eq!(n, 0, "created roles dropped");
    drop_db(&ep, &src).await;
    let c = connect(&ep, "postgres").await;
    c.batch_execute(&format!("DROP ROLE \"{owner}\"; DROP ROLE \"{reader}\"")).await.unwrap();
}

async fn small_db(ep: &mover::Endpoint, db: &str, rows: i64) {
    recreate(ep, db).await;
    let c = connect(ep, db).await;
    c.batch_execute(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, {rows}) i; \
         CREATE SEQUENCE s; SELECT setval('s', 77);"
    ))
    .await
    .unwrap();
}

/// A small source of `rows` rows and a destination that does not exist, named for the test.
async fn small_pair(ep: &mover::Endpoint, label: &str, rows: i64) -> (String, String) {
    let (src, dst) = (name(&format!("mvsrc_{label}")), name(&format!("mvdst_{label}")));
    small_db(ep, &src, rows).await;
    drop_db(ep, &dst).await;
    (src, dst)
}

/// Two small sources of `rows` rows and their destinations, named for the test: the first
/// destination exists and is empty (a copy replaces it), the second does not exist.
async fn two_sources(ep: &mover::Endpoint, names: [&str; 4], rows: [i64; 2]) -> [String; 4] {
    let [a, b, da, db] = names.map(name);
    small_db(ep, &a, rows[0]).await;
    small_db(ep, &b, rows[1]).await;
    recreate(ep, &da).await;
    drop_db(ep, &db).await;
    [a, b, da, db]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_databases_in_one_task_replacing_an_empty_destination() {
    let ep = local();
    let [a, b, da, db] = two_sources(&ep, ["mvsrc_m1", "mvsrc_m2", "mvdst_m1", "Mv Dst ü2"], [100, 2000]).await;
    let tag = name("multi");
    let (r, progress) = copy(&ep, &ep, &[(&a, &da), (&b, &db)], &options(&tag)).await;
    let report = r.expect("copy succeeds");
    assert_eq!(report.databases.len(), 2);
    assert!(report.databases[0].replaced_existing && !report.databases[1].replaced_existing);
    assert_eq!(digests(&ep, &da).await, digests(&ep, &a).await);
    assert_eq!(digests(&ep, &db).await, digests(&ep, &b).await);
    assert_eq!(report.rows, 2100);
    // By default the destination counts what the stream's digest covers.
    assert_eq!(report.verification, "stream");
    for t in report.databases.iter().flat_map(|d| &d.tables) {
        assert!(t.verified && t.source_checksum.starts_with(&format!("{}:", t.rows)) && t.destination_checksum == t.rows.to_string(), "{t:?}");
    }
    assert_eq!(progress.snapshot().databases.len(), 2);
    assert!(staging_left(&ep, &tag).await.is_empty());
    for d in [&a, &b, &da, &db] {
        drop_db(&ep, d).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_destination_that_holds_user_objects() {
    let ep = local();
    let (src, dst) = small_pair(&ep, "ne", 10).await;
    recreate(&ep, &dst).await;
    connect(&ep, &dst).await.batch_execute("CREATE TABLE precious (x int); INSERT INTO precious VALUES (1)").await.unwrap();
    let tag = name("ne");
    let (r, _) = copy(&ep, &ep, &[(&src, &dst)], &options(&tag)).await;
    match r {
        Err(MoveError::DestinationNotEmpty { database, detail }) => {
            assert_eq!(database, dst);
            assert!(detail.contains("1 relations"), "{detail}");
        }
        other => panic!("expected DestinationNotEmpty, got {other:?}"),
    }
    let n: i64 = connect(&ep, &dst).await.query_one("SELECT count(*) FROM precious", &[]).await.unwrap().get(0);
    assert_eq!(n, 1, "the destination is untouched");
    assert!(staging_left(&ep, &tag).await.is_empty());
    drop_db(&ep, &src).await;
    drop_db(&ep, &dst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_mismatch_fails_and_leaves_nothing() {
    let ep = local();
    let (src, dst, before) = dataset_pair(&ep, "vf").await;
    // The default verification counts the loaded rows; the full one reads them back, so it
    // also sees a row that changed.
    let cases = [
        (Verification::Stream, "DELETE FROM public.customers WHERE email = 'b@x.org'"),
        (Verification::ReadBack, "UPDATE public.customers SET name = 'tampered' WHERE email = 'b@x.org'"),
    ];
    for (verification, sql) in cases {
        let tag = name(&format!("vf{}", verification.as_str()));
        let tamper = Tamper { database: dst.clone(), table: "public.customers".into(), sql: sql.into() };
        let opts = CopyOptions { verification, hooks: TestHooks { failpoint: None, tamper: Some(tamper) }, ..options(&tag) };
        let (r, progress) = copy(&ep, &ep, &[(&src, &dst)], &opts).await;
        match &r {
            Err(MoveError::VerificationFailed { database, table, .. }) => {
                assert_eq!((database.as_str(), table.as_str()), (src.as_str(), "public.customers"));
            }
            other => panic!("{verification:?}: expected VerificationFailed, got {other:?}"),
        }
        assert!(!r.as_ref().unwrap_err().is_retryable());
        assert_eq!(progress.snapshot().phase, "Failed");
        assert!(staging_left(&ep, &tag).await.is_empty());
        assert!(!exists(&ep, &dst).await);
    }
    assert_eq!(digests(&ep, &src).await, before, "the source changed");
    drop_db(&ep, &src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_each_step_leaves_nothing() {
    let ep = local();
    let (src, dst) = small_pair(&ep, "fp", 500).await;
    for step in ["after_plan", "after_roles", "after_pre_data", "during_data", "after_data", "after_post_data", "before_publish"] {
        let tag = name(&format!("fp{}", step.len()));
        let opts = CopyOptions { hooks: TestHooks { failpoint: Some((step.into(), FailAction::Error)), tamper: None }, ..options(&tag) };
        let (r, _) = copy(&ep, &ep, &[(&src, &dst)], &opts).await;
        assert!(matches!(&r, Err(MoveError::Internal(m)) if m.contains(step)), "{step}: {r:?}");
        assert!(staging_left(&ep, &tag).await.is_empty(), "{step}: staging left");
        assert!(!exists(&ep, &dst).await, "{step}: destination visible");
    }
    drop_db(&ep, &src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_leaves_nothing() {
    let ep = local();
    let (src, dst) = small_pair(&ep, "cx", 1_500_000).await;

    // Deterministically, in the middle of the data phase.
    let tag = name("cx1");
    let opts = CopyOptions { hooks: TestHooks { failpoint: Some(("during_data".into(), FailAction::Cancel)), tamper: None }, ..options(&tag) };
    let (r, progress) = copy(&ep, &ep, &[(&src, &dst)], &opts).await;
    assert!(matches!(r, Err(MoveError::Canceled)), "{r:?}");
    assert_eq!(progress.snapshot().phase, "Canceled");
    assert!(staging_left(&ep, &tag).await.is_empty());
    assert!(!exists(&ep, &dst).await);

    // From outside, while a table is streaming.
    let tag = name("cx2");
    let progress = Arc::new(Progress::default());
    let token = CancellationToken::new();
    let task = {
        let (ep, progress, token, names, opts) = (ep.clone(), progress.clone(), token.clone(), vec![(src.clone(), dst.clone())], options(&tag));
        tokio::spawn(async move { copy_databases(&pg_bin(), CopyRequest { progress, cancel: token, ..CopyRequest::new(&ep, &ep, &names, &opts) }).await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while progress.snapshot().bytes_done == 0 {
        assert!(std::time::Instant::now() < deadline, "no progress within a minute");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    token.cancel();
    let r = task.await.unwrap();
    assert!(matches!(r, Err(MoveError::Canceled)), "{r:?}");
    assert!(staging_left(&ep, &tag).await.is_empty());
    assert!(!exists(&ep, &dst).await);
    drop_db(&ep, &src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_lost_servers_are_told_apart() {
    let ep = local();
    let tag = name("bad");
    let missing = name("mvsrc_missing");
    let (r, _) = copy(&ep, &ep, &[(&missing, "x")], &options(&tag)).await;
    assert!(matches!(&r, Err(MoveError::InvalidRequest(m)) if m.contains("does not exist")), "{r:?}");

    let (r, _) = copy(&ep, &ep, &[("a", "x"), ("b", "x")], &options(&tag)).await;
    assert!(matches!(r, Err(MoveError::InvalidRequest(_))), "{r:?}");

    let gone = mover::Endpoint { port: 1, password: "hunter2".into(), ..local() };
    let (r, _) = copy(&gone, &ep, &[("a", "b")], &options(&tag)).await;
    assert!(matches!(&r, Err(MoveError::SourceUnavailable { .. })), "{r:?}");
    let (r, _) = copy(&ep, &gone, &[("a", "b")], &options(&tag)).await;
    let e = r.expect_err("destination unreachable");
    assert!(matches!(e, MoveError::DestinationUnavailable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(!e.to_string().contains("hunter2") && !format!("{gone:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_staging_removes_a_crashed_task_s_leftovers() {
    let ep = local();
    let tag = name("crash");
    let leftover = mover::staging_name("whatever", &tag);
    recreate(&ep, &leftover).await;
    let c = connect(&ep, &leftover).await;
    c.batch_execute("CREATE TABLE half (x int)").await.unwrap();
    assert_eq!(staging_left(&ep, &tag).await, vec![leftover.clone()]);
    engine_postgres::copier::drop_staging(&ep, &tag).await.expect("drop_staging");
    assert!(staging_left(&ep, &tag).await.is_empty());
    // Nothing left: still fine.
    engine_postgres::copier::drop_staging(&ep, &tag).await.expect("drop_staging twice");
}

/// Waits until the copy has moved some bytes.
async fn until_streaming(progress: &Progress) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while progress.snapshot().bytes_done == 0 {
        assert!(std::time::Instant::now() < deadline, "no progress within a minute");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn spawn_copy(src: &mover::Endpoint, dst: &mover::Endpoint, from: &str, to: &str, tag: &str) -> (tokio::task::JoinHandle<Result<mover::CopyReport, MoveError>>, Arc<Progress>) {
    let progress = Arc::new(Progress::default());
    let (src, dst, names, opts, p) = (src.clone(), dst.clone(), vec![(from.to_string(), to.to_string())], options(tag), progress.clone());
    (tokio::spawn(async move { copy_databases(&pg_bin(), CopyRequest { progress: p, ..CopyRequest::new(&src, &dst, &names, &opts) }).await }), progress)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_destination_mid_copy_is_retryable_and_recoverable() {
    let (ep, other) = (local(), SecondServer::start());
    let (src, dst) = (name("mvsrc_dd"), name("mvdst_dd"));
    small_db(&ep, &src, 1_500_000).await;
    let tag = name("dd");
    let (task, progress) = spawn_copy(&ep, &other.endpoint, &src, &dst, &tag);
    until_streaming(&progress).await;
    other.crash();
    let e = task.await.unwrap().expect_err("the destination went away");
    assert!(matches!(e, MoveError::DestinationUnavailable { .. }), "{e:?}");
    assert!(e.is_retryable());
    // The cleanup could not reach the destination; recovery finishes it once it is back.
    other.restart();
    engine_postgres::copier::drop_staging(&other.endpoint, &tag).await.expect("drop_staging after restart");
    assert!(staging_left(&other.endpoint, &tag).await.is_empty());
    assert!(!exists(&other.endpoint, &dst).await);
    drop_db(&ep, &src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_source_mid_copy_is_retryable_and_leaves_nothing() {
    let (ep, other) = (local(), SecondServer::start());
    let (src, dst) = (name("mvsrc_sd"), name("mvdst_sd"));
    drop_db(&ep, &dst).await;
    small_db(&other.endpoint, &src, 1_500_000).await;
    let tag = name("sd");
    let (task, progress) = spawn_copy(&other.endpoint, &ep, &src, &dst, &tag);
    until_streaming(&progress).await;
    other.crash();
    let e = task.await.unwrap().expect_err("the source went away");
    assert!(matches!(e, MoveError::SourceUnavailable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(staging_left(&ep, &tag).await.is_empty());
    assert!(!exists(&ep, &dst).await);
}

/// One database of a task failing verification publishes none of them, and an existing
/// empty destination stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_publishes_all_its_databases_or_none() {
    let ep = local();
    let [a, b, da, db] = two_sources(&ep, ["mvsrc_an1", "mvsrc_an2", "mvdst_an1", "mvdst_an2"], [100, 100]).await;
    let tag = name("an");
    let tamper = Tamper { database: db.clone(), table: "public.t".into(), sql: "DELETE FROM public.t WHERE id = 7".into() };
    let opts = CopyOptions { hooks: TestHooks { failpoint: None, tamper: Some(tamper) }, ..options(&tag) };
    let (r, _) = copy(&ep, &ep, &[(&a, &da), (&b, &db)], &opts).await;
    match &r {
        Err(MoveError::VerificationFailed { database, table, detail }) => {
            assert_eq!((database.as_str(), table.as_str()), (b.as_str(), "public.t"));
            assert!(detail.contains("100") && detail.contains("99"), "{detail}");
        }
        other => panic!("expected VerificationFailed, got {other:?}"),
    }
    assert!(staging_left(&ep, &tag).await.is_empty());
    assert!(exists(&ep, &da).await, "the empty destination was not replaced");
    let n: i64 = connect(&ep, &da).await.query_one("SELECT count(*) FROM pg_class WHERE relname = 't'", &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "nothing of the copy is in the existing destination");
    assert!(!exists(&ep, &db).await);
    for d in [&a, &b, &da] {
        drop_db(&ep, d).await;
    }
}
