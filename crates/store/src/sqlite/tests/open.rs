use crate::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use rusqlite::Connection;

use super::super::migrate::{self, Migration, MIGRATIONS};
use super::super::SqliteStore;
use super::{account, ACCOUNT};
use crate::{StoreError};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[tokio::test]
async fn a_new_file_is_private_and_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create_account(&account(ACCOUNT)).await.unwrap();

    assert_eq!(mode(&path), 0o600);
    let wal = dir.path().join("metadata.db-wal");
    assert!(wal.exists(), "a write in WAL mode leaves a -wal file");
    assert_eq!(mode(&wal), 0o600, "SQLite gives the WAL the database's mode");

    let conn = store.lock();
    let pragma = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
    assert_eq!(pragma("journal_mode"), rusqlite::types::Value::Text("wal".into()));
    assert_eq!(pragma("synchronous"), rusqlite::types::Value::Integer(1), "NORMAL");
    assert_eq!(pragma("foreign_keys"), rusqlite::types::Value::Integer(1));
    assert_eq!(pragma("busy_timeout"), rusqlite::types::Value::Integer(5000));
}

#[tokio::test]
async fn committed_pages_reach_the_database_file_without_a_checkpoint_by_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.lock().pragma_query_value(None, "wal_autocheckpoint", |r| r.get::<_, i64>(0)).unwrap(), super::super::WAL_BACKSTOP_PAGES);
    store.create_account(&account(ACCOUNT)).await.unwrap();
    // The database file alone, without its WAL, holds the account once the background
    // checkpointer has run.
    let copy = dir.path().join("copy.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        std::fs::copy(&path, &copy).unwrap();
        let accounts: i64 = Connection::open(&copy).unwrap().query_row("SELECT count(*) FROM accounts", [], |r| r.get(0)).unwrap_or(0);
        if accounts == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the account never reached the database file");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let _ = std::fs::remove_file(&copy);
    }
}

#[tokio::test]
async fn an_existing_file_readable_by_others_is_narrowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqliteStore::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("metadata.db");
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(m)) => assert!(m.contains("absent"), "{m}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn reopening_keeps_the_data_and_applies_no_migration_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let applied = |path: &std::path::Path| -> Vec<(i64, String)> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_account(&account(ACCOUNT)).await.unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }
    let first = applied(&path);
    assert_eq!(first.len(), MIGRATIONS.len());
    for _ in 0..2 {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_account(ACCOUNT).await.unwrap(), account(ACCOUNT));
        drop(store);
        assert_eq!(applied(&path), first, "no migration is applied again");
    }
}

#[tokio::test]
async fn a_database_from_a_newer_openrds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'later')", [])
        .unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(m)) => {
            assert!(m.contains("schema version 999"), "{m}");
            assert!(m.contains("newer"), "{m}");
            assert!(m.contains("metadata.db"), "names the file: {m}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't_' ORDER BY name").unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn only_missing_migrations_are_applied() {
    const V1: Migration = Migration { version: 1, name: "one", sql: "CREATE TABLE t1 (x INTEGER);" };
    const V2: Migration = Migration { version: 2, name: "two", sql: "CREATE TABLE t2 (x INTEGER);" };
    let mut conn = Connection::open_in_memory().unwrap();
    migrate::migrate(&mut conn, &[V1]).unwrap();
    assert_eq!(tables(&conn), ["t1"]);
    // V1 would fail if run again (the table exists): it must be skipped.
    migrate::migrate(&mut conn, &[V1, V2]).unwrap();
    assert_eq!(tables(&conn), ["t1", "t2"]);
    assert_eq!(migrate::current_version(&conn).unwrap(), 2);
    migrate::migrate(&mut conn, &[V1, V2]).unwrap();
    assert_eq!(migrate::current_version(&conn).unwrap(), 2);
}

#[test]
fn a_failing_migration_leaves_the_previous_version() {
    const V1: Migration = Migration { version: 1, name: "one", sql: "CREATE TABLE t1 (x INTEGER);" };
    const BAD: Migration =
        Migration { version: 2, name: "bad", sql: "CREATE TABLE t2 (x INTEGER); INSERT INTO nowhere VALUES (1);" };
    let mut conn = Connection::open_in_memory().unwrap();
    match migrate::migrate(&mut conn, &[V1, BAD]) {
        Err(StoreError::Backend(m)) => assert!(m.contains("migration 2 (bad)"), "{m}"),
        other => panic!("expected the migration to fail, got {other:?}"),
    }
    assert_eq!(tables(&conn), ["t1"], "the failed script is rolled back whole");
    assert_eq!(migrate::current_version(&conn).unwrap(), 1);
}

#[test]
fn migrations_are_numbered_from_one_without_gaps() {
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1, "migration {}", m.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_write_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let a = Arc::new(SqliteStore::open(&path).unwrap());
    let b = Arc::new(SqliteStore::open(&path).unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
        tasks.push(tokio::spawn(async move {
            store.append_event("test/concurrent", "Tick", &format!("{{\"i\":{i}}}")).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(a.list_events("test/concurrent", 100).await.unwrap().len(), 40);
}
