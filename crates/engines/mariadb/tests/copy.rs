//! The MariaDB copy against the system MariaDB server (127.0.0.1:3306, root without a
//! password; source and destination are databases of that one server): completeness
//! (schema and per-table digests equal, compared by `testing`, independently of the
//! mover), several databases, and every way of failing leaving the destination as it was.
//! A test that cannot reach the server fails.
//!
//! The tests take turns: the copy's brief global read lock waits for every running
//! statement of the server, a concurrent test's streaming SELECT included, while that
//! test's load waits for the lock.

use engine_mariadb::copier::{copy_databases, MariaDbCopier};
use mover::{Copier, CopyOptions, CopyRequest, Endpoint, FailAction, MoveError, Progress, Tamper, TestHooks, Verification};
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use engine::Login;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

static SERVER: Mutex<()> = Mutex::const_new(());

async fn turn() -> MutexGuard<'static, ()> {
    SERVER.lock().await
}

fn login() -> Login {
    Login { host: "127.0.0.1".into(), port: 3306, user: "root".into(), password: String::new() }
}

fn endpoint() -> Endpoint {
    Endpoint { host: "127.0.0.1".into(), port: 3306, user: "root".into(), password: String::new() }
}

fn name(prefix: &str) -> String {
    format!("{prefix}_{}", std::process::id())
}

fn options(tag: &str) -> CopyOptions {
    CopyOptions { staging_tag: tag.into(), jobs: 3, ..CopyOptions::default() }
}

async fn sql(statements: &[String]) {
    // A default database: `seq_1_to_N` tables are found through it.
    let mut c = engine_mariadb::testing::connect(&login(), Some("mysql")).await;
    for s in statements {
        c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

async fn recreate(db: &str) {
    sql(&[format!("DROP DATABASE IF EXISTS `{db}`"), format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4")]).await;
}

async fn drop_db(db: &str) {
    sql(&[format!("DROP DATABASE IF EXISTS `{db}`")]).await;
}

async fn schemas() -> Vec<String> {
    let mut c = engine_mariadb::testing::connect(&login(), None).await;
    c.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").await.unwrap()
}

async fn exists(db: &str) -> bool {
    schemas().await.iter().any(|s| s == db)
}

/// Databases named with the staging prefix of `tag`.
async fn staging_left(tag: &str) -> Vec<String> {
    let probe = mover::staging_name("x", tag);
    let prefix = probe[..probe.len() - "00000000_x".len()].to_string();
    schemas().await.into_iter().filter(|n| n.starts_with(&prefix)).collect()
}

/// A database with one table of `rows` rows, a view and a procedure.
/// This test's turn on the server, a source of `rows` rows and a free destination named
/// for the test, and a staging tag.
async fn small_pair(label: &str, rows: u64) -> (MutexGuard<'static, ()>, String, String, String) {
    let turn = turn().await;
    let (src, dst) = (name(&format!("mdb_src_{label}")), name(&format!("mdb_dst_{label}")));
    small_db(&src, rows).await;
    drop_db(&dst).await;
    (turn, src, dst, name(&format!("mdb{label}")))
}

/// An empty source and a free destination, named for the test.
async fn empty_pair(label: &str) -> (String, String) {
    let (src, dst) = (name(&format!("mdb_src_{label}")), name(&format!("mdb_dst_{label}")));
    drop_db(&dst).await;
    recreate(&src).await;
    (src, dst)
}

async fn small_db(db: &str, rows: u64) {
    recreate(db).await;
    sql(&[
        format!("CREATE TABLE `{db}`.items (id INT PRIMARY KEY, label VARCHAR(40), KEY label (label))"),
        format!("INSERT INTO `{db}`.items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_{rows}"),
        format!("CREATE VIEW `{db}`.item_labels AS SELECT label FROM `{db}`.items"),
        format!("CREATE PROCEDURE `{db}`.count_items() SELECT COUNT(*) FROM items"),
    ])
    .await;
}

/// Equal texts, or a failure that shows the lines that differ.
fn assert_same(left: &str, right: &str, what: &str) {
    if left != right {
        let (l, r): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
        let only_left: Vec<&&str> = l.iter().filter(|x| !r.contains(x)).collect();
        let only_right: Vec<&&str> = r.iter().filter(|x| !l.contains(x)).collect();
        panic!("{what}: only in the first: {only_left:#?}\nonly in the second: {only_right:#?}");
    }
}

async fn copy(pairs: &[(&str, &str)], opts: &CopyOptions) -> (Result<mover::CopyReport, MoveError>, Arc<Progress>) {
    let progress = Arc::new(Progress::default());
    let names: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let r = copy_databases(CopyRequest { progress: progress.clone(), ..CopyRequest::new(&endpoint(), &endpoint(), &names, opts) }).await;
    (r, progress)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_every_object_kind_and_verifies_it() {
    let _turn = turn().await;
    let (src, dst) = empty_pair("all").await;
    engine_mariadb::testing::load_every_kind(&login(), &src, "mdb_definer").await;
    let before = engine_mariadb::testing::digests(&login(), &src).await;
    let schema = engine_mariadb::testing::schema_dump(&login(), &src, &src, "DB").await;

    let tag = name("mdball");
    let (r, progress) = copy(&[(&src, &dst)], &options(&tag)).await;
    let report = r.expect("copy succeeds");

    assert_same(&engine_mariadb::testing::schema_dump(&login(), &dst, &dst, "DB").await, &schema, "schemas differ");
    assert_eq!(engine_mariadb::testing::digests(&login(), &dst).await, before, "data differs");
    assert_eq!(engine_mariadb::testing::checksums(&login(), &dst).await, engine_mariadb::testing::checksums(&login(), &src).await);
    assert_eq!(engine_mariadb::testing::digests(&login(), &src).await, before, "the source changed");
    assert!(staging_left(&tag).await.is_empty());

    let db = &report.databases[0];
    assert_eq!((db.source.as_str(), db.destination.as_str(), db.replaced_existing), (src.as_str(), dst.as_str(), false));
    assert_eq!(db.tables.len() + db.sequences.len(), before.len(), "every table and sequence reported");
    assert!(db.sequences.iter().all(|q| q.verified) && !db.sequences.is_empty());
    assert!(db.tables.iter().all(|t| t.verified && t.source_checksum == t.destination_checksum), "{:#?}", db.tables);
    for t in &db.tables {
        assert_eq!(t.rows, before[&t.name].0, "rows of {}", t.name);
    }
    assert!(report.source_write_block_ms.is_some());
    // Privileges are kept by database name: the definer's carry over to the new name.
    let mut c = engine_mariadb::testing::connect(&login(), None).await;
    let grants: Vec<String> = c.query("SHOW GRANTS FOR 'mdb_definer'@'%'").await.unwrap();
    assert!(grants.iter().any(|g| g.contains(&dst.replace('_', "\\_"))), "{grants:?}");
    let snap = progress.snapshot();
    assert_eq!((snap.phase.as_str(), snap.rows_done), ("Done", report.rows));
    drop_db(&src).await;
    drop_db(&dst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_tables_are_copied_in_key_ranges() {
    let _turn = turn().await;
    let (src, dst) = empty_pair("big").await;
    sql(&[
        format!("CREATE TABLE `{src}`.big (id BIGINT UNSIGNED PRIMARY KEY, k INT, pad CHAR(200), KEY k (k)) AUTO_INCREMENT = 5000000"),
        format!("INSERT INTO `{src}`.big SELECT seq, seq % 1000, REPEAT('x', 200) FROM seq_1_to_400000"),
        format!("INSERT INTO `{src}`.big VALUES (18446744073709551615, 1, 'the largest key')"),
        format!("ANALYZE TABLE `{src}`.big"),
    ])
    .await;
    let before = engine_mariadb::testing::digests(&login(), &src).await;
    let (r, _) = copy(&[(&src, &dst)], &options(&name("mdbbig"))).await;
    let report = r.expect("copy succeeds");
    let big = &report.databases[0].tables[0];
    assert!(big.parts > 1, "a table over the chunk size is split: {big:?}");
    assert_eq!(big.rows, 400001);
    assert_eq!(engine_mariadb::testing::digests(&login(), &dst).await, before);
    assert_eq!(
        engine_mariadb::testing::schema_dump(&login(), &dst, &dst, "DB").await,
        engine_mariadb::testing::schema_dump(&login(), &src, &src, "DB").await,
        "deferred keys come back in their place, AUTO_INCREMENT kept"
    );
    drop_db(&src).await;
    drop_db(&dst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_databases_in_one_task_replacing_an_empty_destination() {
    let _turn = turn().await;
    let (a, b) = (name("mdb_src_a"), name("mdb_src_b"));
    let (a2, b2) = (name("mdb_dst_a"), name("mdb_dst_b"));
    small_db(&a, 100).await;
    small_db(&b, 50).await;
    drop_db(&a2).await;
    sql(&[format!("DROP DATABASE IF EXISTS `{b2}`"), format!("CREATE DATABASE `{b2}` CHARACTER SET latin1")]).await;
    let (r, _) = copy(&[(&a, &a2), (&b, &b2)], &options(&name("mdbmany"))).await;
    let report = r.expect("copy succeeds");
    assert_eq!(report.databases.iter().map(|d| d.replaced_existing).collect::<Vec<_>>(), vec![false, true]);
    assert_eq!(report.rows, 150);
    for (from, to) in [(&a, &a2), (&b, &b2)] {
        assert_eq!(engine_mariadb::testing::digests(&login(), to).await, engine_mariadb::testing::digests(&login(), from).await);
        assert_eq!(
            engine_mariadb::testing::schema_dump(&login(), to, to, "DB").await,
            engine_mariadb::testing::schema_dump(&login(), from, from, "DB").await,
            "the replaced database takes the source's character set too"
        );
    }
    for db in [&a, &b, &a2, &b2] {
        drop_db(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_destination_that_holds_user_objects() {
    let _turn = turn().await;
    let (src, dst) = (name("mdb_src_full"), name("mdb_dst_full"));
    small_db(&src, 10).await;
    small_db(&dst, 3).await;
    let before = engine_mariadb::testing::digests(&login(), &dst).await;
    let tag = name("mdbfull");
    let (r, _) = copy(&[(&src, &dst)], &options(&tag)).await;
    assert!(matches!(r, Err(MoveError::DestinationNotEmpty { ref database, .. }) if *database == dst), "{r:?}");
    assert_eq!(engine_mariadb::testing::digests(&login(), &dst).await, before, "the destination is untouched");
    assert!(staging_left(&tag).await.is_empty());
    drop_db(&src).await;
    drop_db(&dst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_mismatch_fails_and_leaves_nothing() {
    let (_turn, src, dst, tag) = small_pair("tamper", 100).await;
    // The default verification counts the committed rows; the full one compares
    // CHECKSUM TABLE on both sides, so it also sees a row that changed.
    let cases = [(Verification::Stream, "DELETE FROM {} WHERE id = 7"), (Verification::ReadBack, "UPDATE {} SET label = 'changed' WHERE id = 7")];
    for (verification, sql) in cases {
        let tag = format!("{tag}{}", verification.as_str());
        let staged = format!("`{}`.items", mover::staging_name(&dst, &tag));
        let hooks = TestHooks { tamper: Some(Tamper { database: dst.clone(), table: "items".into(), sql: sql.replace("{}", &staged) }), ..TestHooks::default() };
        let (r, _) = copy(&[(&src, &dst)], &CopyOptions { hooks, verification, ..options(&tag) }).await;
        assert!(matches!(r, Err(MoveError::VerificationFailed { ref table, .. }) if table == "items"), "{verification:?}: {r:?}");
        assert!(!exists(&dst).await, "nothing published");
        assert!(staging_left(&tag).await.is_empty());
    }
    // Unchanged, each passes and says how it checked.
    for verification in [Verification::Stream, Verification::ReadBack] {
        let tag = format!("{tag}ok{}", verification.as_str());
        let (r, _) = copy(&[(&src, &dst)], &CopyOptions { verification, ..options(&tag) }).await;
        let report = r.expect("an untouched copy passes");
        assert_eq!(report.verification, verification.as_str());
        let items = report.databases[0].tables.iter().find(|t| t.name == "items").expect("items reported");
        assert!(items.verified && items.rows == 100, "{items:?}");
        match verification {
            Verification::Stream => assert_eq!((items.source_checksum.as_str(), items.destination_checksum.as_str()), ("100", "100")),
            Verification::ReadBack => assert!(items.source_checksum.starts_with("100:") && items.source_checksum == items.destination_checksum, "{items:?}"),
        }
        drop_db(&dst).await;
    }
    drop_db(&src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_each_step_leaves_nothing() {
    let _turn = turn().await;
    let (src, dst) = (name("mdb_src_fail"), name("mdb_dst_fail"));
    small_db(&src, 500).await;
    for step in ["after_plan", "after_roles", "after_pre_data", "during_data", "after_data", "after_post_data", "before_publish"] {
        drop_db(&dst).await;
        let tag = name(&format!("mdbfail{}", step.replace('_', "")));
        let hooks = TestHooks { failpoint: Some((step.to_string(), FailAction::Error)), ..TestHooks::default() };
        let (r, progress) = copy(&[(&src, &dst)], &CopyOptions { hooks, ..options(&tag) }).await;
        assert!(matches!(r, Err(MoveError::Internal(ref m)) if m.contains(step)), "{step}: {r:?}");
        assert!(!exists(&dst).await, "{step}: nothing published");
        assert!(staging_left(&tag).await.is_empty(), "{step}: staging dropped");
        assert_eq!(progress.snapshot().phase, "Failed");
    }
    drop_db(&src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_the_data_leaves_nothing() {
    let (_turn, src, dst, tag) = small_pair("cancel", 300000).await;
    let token = CancellationToken::new();
    let progress = Arc::new(Progress::default());
    let names = vec![(src.clone(), dst.clone())];
    let task = {
        let (names, opts, progress, token) = (names.clone(), options(&tag), progress.clone(), token.clone());
        tokio::spawn(async move { copy_databases(CopyRequest { progress, cancel: token, ..CopyRequest::new(&endpoint(), &endpoint(), &names, &opts) }).await })
    };
    while progress.snapshot().rows_done == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    token.cancel();
    let r = task.await.unwrap();
    assert!(matches!(r, Err(MoveError::Canceled)), "{r:?}");
    assert!(!exists(&dst).await);
    assert!(staging_left(&tag).await.is_empty());
    assert_eq!(progress.snapshot().phase, "Canceled");
    drop_db(&src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_cut_after_its_rename_is_finished_not_undone() {
    let (_turn, src, dst, tag) = small_pair("cut", 20).await;
    let marks = Arc::new(std::sync::Mutex::new(None));
    let gate = {
        let marks = marks.clone();
        mover::PublishGate::new(move |mark| {
            *marks.lock().unwrap() = Some(mark);
            async { Ok(()) }
        })
    };
    let hooks = TestHooks { failpoint: Some(("after_publish".into(), FailAction::Error)), ..TestHooks::default() };
    let (r, _) = copy(&[(&src, &dst)], &CopyOptions { hooks, before_publish: Some(gate), ..options(&tag) }).await;
    assert!(r.is_err(), "the failpoint fails the copy after the rename");
    // Cleaning up after the failure finished the publication instead of undoing it.
    assert!(staging_left(&tag).await.is_empty());
    assert_eq!(
        engine_mariadb::testing::schema_dump(&login(), &dst, &dst, "DB").await,
        engine_mariadb::testing::schema_dump(&login(), &src, &src, "DB").await,
        "the view and the procedure were created after the rename"
    );
    let mark = marks.lock().unwrap().clone().expect("the gate was given a mark");
    assert_eq!(
        mark,
        serde_json::json!({ dst.clone(): { "Tables": ["items"], "Objects": [["VIEW", "item_labels"], ["PROCEDURE", "count_items"]] } })
    );
    assert!(MariaDbCopier.published(&endpoint(), &tag, &mark).await.unwrap());
    assert!(!MariaDbCopier.published(&endpoint(), &tag, &serde_json::json!({"absent_db": {"Tables": ["t"]}})).await.unwrap());
    // A database without tables is published only if its objects are there.
    let no_view = serde_json::json!({ dst.clone(): { "Tables": [], "Objects": [["VIEW", "no_such_view"]] } });
    assert!(!MariaDbCopier.published(&endpoint(), &tag, &no_view).await.unwrap());
    drop_db(&src).await;
    drop_db(&dst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_lost_servers_are_told_apart() {
    let _turn = turn().await;
    let (r, _) = copy(&[("mdb_no_such_db", "mdb_whatever")], &options(&name("mdbbad"))).await;
    assert!(matches!(r, Err(MoveError::InvalidRequest(ref m)) if m.contains("mdb_no_such_db")), "{r:?}");
    let gone = Endpoint { port: 1, password: "hunter2".into(), ..endpoint() };
    let names = vec![("a".to_string(), "b".to_string())];
    let r = copy_databases(CopyRequest::new(&gone, &endpoint(), &names, &options(&name("mdbgone")))).await;
    let e = r.unwrap_err();
    assert!(e.is_retryable() && matches!(e, MoveError::SourceUnavailable { .. }), "{e:?}");
    assert!(!e.to_string().contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_carry_over_to_the_new_name_for_accounts_roles_views_and_routines() {
    let _turn = turn().await;
    let (src, dst) = empty_pair("grants").await;
    let odd = "mdb_o'dd";
    sql(&[
        format!("CREATE TABLE `{src}`.t (a INT PRIMARY KEY, id INT NOT NULL AUTO_INCREMENT, k INT, KEY by_id (id), KEY k (k))"),
        format!("INSERT INTO `{src}`.t (a, k) VALUES (1, 1), (2, 2)"),
        format!("CREATE TABLE `{src}`.gone (i INT)"),
        format!("CREATE VIEW `{src}`.v AS SELECT a FROM `{src}`.t"),
        format!("CREATE PROCEDURE `{src}`.p() SELECT 1"),
        format!("CREATE OR REPLACE USER '{}'@'%'", odd.replace('\'', "''")),
        "CREATE ROLE IF NOT EXISTS mdb_role".to_string(),
        format!("GRANT SELECT (k), INSERT ON `{src}`.t TO '{}'@'%'", odd.replace('\'', "''")),
        format!("GRANT SELECT ON `{src}`.v TO '{}'@'%'", odd.replace('\'', "''")),
        format!("GRANT EXECUTE ON PROCEDURE `{src}`.p TO '{}'@'%'", odd.replace('\'', "''")),
        format!("GRANT SELECT ON `{src}`.* TO mdb_role"),
        // A grant the server keeps after its table is dropped.
        format!("GRANT SELECT ON `{src}`.gone TO mdb_role"),
        format!("DROP TABLE `{src}`.gone"),
    ])
    .await;
    let (r, _) = copy(&[(&src, &dst)], &options(&name("mdbgrants"))).await;
    let report = r.expect("copy succeeds");
    assert!(report.accounts_missing.is_empty(), "{:?}", report.accounts_missing);
    let mut c = engine_mariadb::testing::connect(&login(), None).await;
    let grants: Vec<String> = c.query(format!("SHOW GRANTS FOR '{}'@'%'", odd.replace('\'', "''"))).await.unwrap();
    let on_copy: Vec<&String> = grants.iter().filter(|g| g.contains(&format!("`{dst}`"))).collect();
    assert_eq!(on_copy.len(), 3, "table (with its column), view and procedure grants under the new name: {grants:?}");
    let role: Vec<String> = c.query("SHOW GRANTS FOR mdb_role").await.unwrap();
    assert!(role.iter().any(|g| g.contains(&dst.replace('_', "\\_"))), "{role:?}");
    assert!(!role.iter().any(|g| g.contains("gone") && g.contains(&dst)), "a grant on a dropped table is not copied: {role:?}");
    let logins: Vec<String> = c.query("SELECT User FROM mysql.user WHERE User = 'mdb_role' AND is_role <> 'Y'").await.unwrap();
    assert!(logins.is_empty(), "granting to a role made no login");
    assert_same(
        &engine_mariadb::testing::schema_dump(&login(), &dst, &dst, "DB").await,
        &engine_mariadb::testing::schema_dump(&login(), &src, &src, "DB").await,
        "the key the AUTO_INCREMENT column needs stays in place",
    );
    for g in [format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{}'@'%'", odd.replace('\'', "''")), "REVOKE ALL PRIVILEGES, GRANT OPTION FROM mdb_role".into()] {
        let _ = c.query_drop(g).await;
    }
    drop_db(&src).await;
    drop_db(&dst).await;
}
