use crate::prelude::*;
use crate::InstanceStatus;
use std::sync::Arc;

use super::{account, at, events, instance, kinds, store, ACCOUNT};
use crate::{AccountNote, DatabaseNote, InstanceFilter, Page, StoreError};

#[tokio::test]
async fn an_instance_round_trips_exactly() {
    let s = store().await;
    let mut row = instance("pgm-abc", 0);
    row.port = 54321;
    row.storage_gb = 1 << 40;
    row.tags.push(("quote\"d".into(), "ünïcode".into()));
    s.insert_instance(&row).await.unwrap();
    assert_eq!(s.get_instance("pgm-abc").await.unwrap(), row);
    let listed = s.list_instances(&InstanceFilter { with_private: true, ..Default::default() }, None).await.unwrap();
    assert_eq!(listed.items, [row.clone()], "a listing reads the row as a lookup does");
    assert!(s.lock().transaction().map_err(|e| e.to_string()).and_then(|tx| super::super::instances::instance_columns_cover_the_table(&tx).map_err(|e| e.to_string())).unwrap(), "the instance reader names every column of the table");

    assert!(matches!(s.insert_instance(&row).await, Err(StoreError::AlreadyExists(m)) if m == "instance pgm-abc"));
    match s.get_instance("pgm-none").await {
        Err(e @ StoreError::NotFound(_)) => assert_eq!(e.to_string(), "instance pgm-none not found"),
        other => panic!("{other:?}"),
    }
    let mut orphan = instance("pgm-orphan", 0);
    orphan.account_uid = "777".into();
    assert!(matches!(s.insert_instance(&orphan).await, Err(StoreError::NotFound(m)) if m == "account 777"));

    let trail = events(&s, "dbinstance/pgm-abc").await;
    assert_eq!(kinds(&trail), ["Created"], "a refused insert records nothing");
    assert_eq!(trail[0].1["engine"], "EngineA");
}

#[tokio::test]
async fn a_transition_is_a_compare_and_set() {
    let s = store().await;
    s.insert_instance(&instance("pgm-a", 0)).await.unwrap();

    let before = s.transition_instance("pgm-a", &[InstanceStatus::Running, InstanceStatus::Stopped], InstanceStatus::Rebooting).await.unwrap();
    assert_eq!(before.status, "Running", "returns the row as it was");
    let now = s.get_instance("pgm-a").await.unwrap();
    assert_eq!(now.status, "Rebooting");
    assert!(now.updated_at > before.updated_at);

    match s.transition_instance("pgm-a", &[InstanceStatus::Running, InstanceStatus::Stopped], InstanceStatus::Deleting).await {
        Err(e @ StoreError::Conflict { .. }) => {
            assert_eq!(e.to_string(), "instance pgm-a is Rebooting, expected Running or Stopped");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.get_instance("pgm-a").await.unwrap().status, "Rebooting", "a conflict changes nothing");
    assert!(matches!(
        s.transition_instance("pgm-none", &[InstanceStatus::Running], InstanceStatus::Deleting).await,
        Err(StoreError::NotFound(m)) if m == "instance pgm-none"
    ));

    let trail = events(&s, "dbinstance/pgm-a").await;
    assert_eq!(kinds(&trail), ["Created", "StatusChanged"]);
    assert_eq!(trail[1].1, serde_json::json!({ "from": "Running", "to": "Rebooting" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_transitions_exactly_one_wins() {
    let s = Arc::new(store().await);
    s.insert_instance(&instance("pgm-race", 0)).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.transition_instance("pgm-race", &[InstanceStatus::Running], InstanceStatus::Deleting).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, "Deleting"),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn an_update_overwrites_the_mutable_fields_only() {
    let s = store().await;
    let row = instance("pgm-u", 0);
    s.insert_instance(&row).await.unwrap();

    let mut changed = row.clone();
    changed.status = InstanceStatus::Stopped;
    changed.description = "renamed".into();
    changed.port = 40000;
    changed.storage_gb = 50;
    changed.class_code = "pg.x8.large.2c".into();
    changed.tags = vec![("k".into(), "v".into())];
    changed.updated_at = at(100);
    // Identity is not mutable: these are ignored.
    changed.account_uid = "777".into();
    changed.created_at = at(-100);
    s.update_instance(&changed).await.unwrap();

    let stored = s.get_instance("pgm-u").await.unwrap();
    assert_eq!(stored.account_uid, ACCOUNT);
    assert_eq!(stored.created_at, row.created_at);
    let expected = crate::InstanceRow { account_uid: ACCOUNT.into(), created_at: row.created_at, ..changed.clone() };
    assert_eq!(stored, expected);

    // Writing the same values again is not a change.
    s.update_instance(&stored).await.unwrap();
    let trail = events(&s, "dbinstance/pgm-u").await;
    assert_eq!(kinds(&trail), ["Created", "Updated"]);
    assert_eq!(
        trail[1].1,
        serde_json::json!({
            "changed": ["class_code", "storage_gb", "status", "description", "port", "tags"],
            "from": "Running",
            "to": "Stopped",
        })
    );

    assert!(
        matches!(s.update_instance(&instance("pgm-none", 0)).await, Err(StoreError::NotFound(m)) if m == "instance pgm-none")
    );
}

#[tokio::test]
async fn deleting_an_instance_removes_its_notes() {
    let s = store().await;
    s.insert_instance(&instance("pgm-d", 0)).await.unwrap();
    s.insert_instance(&instance("pgm-keep", 0)).await.unwrap();
    for id in ["pgm-d", "pgm-keep"] {
        s.put_database_note(&DatabaseNote { instance_id: id.into(), db_name: "db1".into(), description: "d".into() })
            .await
            .unwrap();
        s.put_account_note(&AccountNote {
            instance_id: id.into(),
            account_name: "app".into(),
            account_type: "Normal".into(),
            description: "a".into(),
        })
        .await
        .unwrap();
    }
    s.delete_instance("pgm-d").await.unwrap();
    assert!(matches!(s.get_instance("pgm-d").await, Err(StoreError::NotFound(_))));
    assert!(s.list_database_notes("pgm-d").await.unwrap().is_empty());
    assert!(s.list_account_notes("pgm-d").await.unwrap().is_empty());
    assert_eq!(s.list_database_notes("pgm-keep").await.unwrap().len(), 1);
    assert_eq!(s.list_account_notes("pgm-keep").await.unwrap().len(), 1);

    // Recreated under the same id, it starts without the old notes.
    s.insert_instance(&instance("pgm-d", 1)).await.unwrap();
    assert!(s.list_database_notes("pgm-d").await.unwrap().is_empty());

    let trail = events(&s, "dbinstance/pgm-d").await;
    assert_eq!(kinds(&trail), ["Created", "DatabaseNoteSet", "AccountNoteSet", "Deleted", "Created"]);
    assert_eq!(trail[3].1, serde_json::json!({ "status": "Running", "database_notes": 1, "account_notes": 1 }));
    assert!(matches!(s.delete_instance("pgm-none").await, Err(StoreError::NotFound(m)) if m == "instance pgm-none"));
}

#[tokio::test]
async fn notes_are_upserted_listed_and_deleted() {
    let s = store().await;
    s.insert_instance(&instance("pgm-n", 0)).await.unwrap();
    let db =
        |name: &str, d: &str| DatabaseNote { instance_id: "pgm-n".into(), db_name: name.into(), description: d.into() };
    s.put_database_note(&db("zeta", "z")).await.unwrap();
    s.put_database_note(&db("alpha", "first")).await.unwrap();
    s.put_database_note(&db("alpha", "second")).await.unwrap();
    assert_eq!(s.list_database_notes("pgm-n").await.unwrap(), vec![db("alpha", "second"), db("zeta", "z")]);
    s.delete_database_note("pgm-n", "alpha").await.unwrap();
    assert_eq!(s.list_database_notes("pgm-n").await.unwrap(), vec![db("zeta", "z")]);
    // A database created without a description has no note; dropping it still succeeds.
    s.delete_database_note("pgm-n", "never-noted").await.unwrap();

    let acct = |kind: &str, d: &str| AccountNote {
        instance_id: "pgm-n".into(),
        account_name: "app".into(),
        account_type: kind.into(),
        description: d.into(),
    };
    s.put_account_note(&acct("Normal", "one")).await.unwrap();
    s.put_account_note(&acct("Super", "two")).await.unwrap();
    assert_eq!(s.list_account_notes("pgm-n").await.unwrap(), vec![acct("Super", "two")]);
    s.delete_account_note("pgm-n", "app").await.unwrap();
    s.delete_account_note("pgm-n", "app").await.unwrap();
    assert!(s.list_account_notes("pgm-n").await.unwrap().is_empty());

    let orphan = DatabaseNote { instance_id: "pgm-none".into(), db_name: "d".into(), description: String::new() };
    assert!(matches!(s.put_database_note(&orphan).await, Err(StoreError::NotFound(m)) if m == "instance pgm-none"));
    let orphan = AccountNote { instance_id: "pgm-none".into(), ..acct("Normal", "") };
    assert!(matches!(s.put_account_note(&orphan).await, Err(StoreError::NotFound(m)) if m == "instance pgm-none"));

    assert_eq!(
        kinds(&events(&s, "dbinstance/pgm-n").await),
        [
            "Created",
            "DatabaseNoteSet",
            "DatabaseNoteSet",
            "DatabaseNoteSet",
            "DatabaseNoteDeleted",
            "AccountNoteSet",
            "AccountNoteSet",
            "AccountNoteDeleted",
        ]
    );
}

/// Five instances of two accounts, created at 1..=5 seconds.
async fn listing_fixture() -> super::super::SqliteStore {
    let s = store().await;
    s.create_account(&account("2222222222222222")).await.unwrap();
    let mut rows = vec![instance("pgm-a1", 1), instance("pgm-b2", 2), instance("rm-c3", 3), instance("pgm-d4", 4)];
    rows[1].status = InstanceStatus::Stopped;
    rows[1].description = "Nightly 100%_batch".into();
    rows[2].engine = "EngineB".into();
    rows[2].engine_version = "10.11".into();
    rows[2].class_code = "mysql.x4.large.2c".into();
    rows[3].region_id = "cn-beijing".into();
    let mut foreign = instance("pgm-e5", 5);
    foreign.account_uid = "2222222222222222".into();
    rows.push(foreign);
    for r in &rows {
        s.insert_instance(r).await.unwrap();
    }
    s
}

async fn ids(s: &super::super::SqliteStore, filter: InstanceFilter) -> Vec<String> {
    let page = s.list_instances(&filter, None).await.unwrap();
    assert_eq!(page.total, page.items.len() as u64);
    page.items.into_iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn listing_filters() {
    let s = listing_fixture().await;
    let f = InstanceFilter::default;
    assert_eq!(ids(&s, f()).await, ["pgm-e5", "pgm-d4", "rm-c3", "pgm-b2", "pgm-a1"], "newest first");
    assert_eq!(
        ids(&s, InstanceFilter { account_uid: Some(ACCOUNT.into()), ..f() }).await,
        ["pgm-d4", "rm-c3", "pgm-b2", "pgm-a1"]
    );
    assert_eq!(ids(&s, InstanceFilter { region_id: Some("cn-beijing".into()), ..f() }).await, ["pgm-d4"]);
    assert_eq!(ids(&s, InstanceFilter { engine: Some("EngineB".into()), ..f() }).await, ["rm-c3"]);
    assert_eq!(ids(&s, InstanceFilter { engine_version: Some("15.0".into()), ..f() }).await.len(), 4);
    assert_eq!(ids(&s, InstanceFilter { status: Some(InstanceStatus::Stopped), ..f() }).await, ["pgm-b2"]);
    assert_eq!(ids(&s, InstanceFilter { class_code: Some("mysql.x4.large.2c".into()), ..f() }).await, ["rm-c3"]);
    assert_eq!(
        ids(&s, InstanceFilter { ids: Some(vec!["pgm-a1".into(), "rm-c3".into(), "pgm-zz".into()]), ..f() }).await,
        ["rm-c3", "pgm-a1"]
    );
    assert!(ids(&s, InstanceFilter { ids: Some(vec![]), ..f() }).await.is_empty(), "an empty id list matches nothing");

    // The search key matches a substring of the id or the description, ignoring case,
    // with `%` and `_` taken literally.
    assert_eq!(ids(&s, InstanceFilter { search_key: Some("C3".into()), ..f() }).await, ["rm-c3"]);
    assert_eq!(ids(&s, InstanceFilter { search_key: Some("nightly".into()), ..f() }).await, ["pgm-b2"]);
    assert_eq!(ids(&s, InstanceFilter { search_key: Some("100%_b".into()), ..f() }).await, ["pgm-b2"]);
    assert!(ids(&s, InstanceFilter { search_key: Some("%".into()), account_uid: Some("x".into()), ..f() })
        .await
        .is_empty());
    assert!(ids(&s, InstanceFilter { search_key: Some("1_0".into()), ..f() }).await.is_empty());

    // Filters combine with AND.
    let both = InstanceFilter {
        account_uid: Some(ACCOUNT.into()),
        engine: Some("EngineA".into()),
        search_key: Some("pgm-".into()),
        ..f()
    };
    assert_eq!(ids(&s, both).await, ["pgm-d4", "pgm-b2", "pgm-a1"]);
}

#[tokio::test]
async fn rows_created_at_the_same_instant_are_ordered_by_id() {
    let s = store().await;
    for id in ["pgm-c", "pgm-a", "pgm-b"] {
        s.insert_instance(&instance(id, 7)).await.unwrap();
    }
    assert_eq!(ids(&s, InstanceFilter::default()).await, ["pgm-a", "pgm-b", "pgm-c"]);
}

#[tokio::test]
async fn listing_pages() {
    let s = listing_fixture().await;
    let filter = InstanceFilter { account_uid: Some(ACCOUNT.into()), ..Default::default() };
    let page = |number, size| Some(Page { number, size });
    let got = |p: crate::Paged<crate::InstanceRow>| (p.total, p.items.into_iter().map(|i| i.id).collect::<Vec<_>>());

    assert_eq!(
        got(s.list_instances(&filter, page(1, 3)).await.unwrap()),
        (4, vec!["pgm-d4".into(), "rm-c3".into(), "pgm-b2".into()])
    );
    assert_eq!(got(s.list_instances(&filter, page(2, 3)).await.unwrap()), (4, vec!["pgm-a1".into()]));
    assert_eq!(
        got(s.list_instances(&filter, page(3, 3)).await.unwrap()),
        (4, vec![]),
        "past the end: empty, total kept"
    );
    assert_eq!(got(s.list_instances(&filter, page(2, 2)).await.unwrap()), (4, vec!["pgm-b2".into(), "pgm-a1".into()]));
    assert_eq!(
        got(s.list_instances(&filter, page(0, 1)).await.unwrap()),
        (4, vec!["pgm-d4".into()]),
        "page 0 reads as 1"
    );
    assert_eq!(got(s.list_instances(&filter, page(1, 0)).await.unwrap()).1.len(), 0);
    assert_eq!(got(s.list_instances(&filter, page(u32::MAX, u32::MAX)).await.unwrap()), (4, vec![]));
    assert_eq!(s.list_instances(&filter, None).await.unwrap().items.len(), 4);
}

#[tokio::test]
async fn used_ports_lists_each_assigned_port_once() {
    let s = store().await;
    for (id, port) in [("pgm-1", 5433), ("pgm-2", 0), ("pgm-3", 5432), ("pgm-4", 5433)] {
        let mut row = instance(id, 0);
        row.port = port;
        s.insert_instance(&row).await.unwrap();
    }
    assert_eq!(s.used_ports().await.unwrap(), [5432, 5433]);
}

#[tokio::test]
async fn events_are_listed_by_prefix_newest_first() {
    let s = store().await;
    s.append_event("dbinstance/pgm-1", "Started", r#"{"n":1}"#).await.unwrap();
    s.append_event("dbinstance/pgm-10", "Started", r#"{"n":2}"#).await.unwrap();
    s.append_event("ram/user/a_b", "Touched", r#"{"n":3}"#).await.unwrap();
    s.append_event("dbinstance/pgm-1", "Stopped", r#"{"n":4}"#).await.unwrap();

    let one = s.list_events("dbinstance/pgm-1", 10).await.unwrap();
    let details: Vec<&str> = one.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, [r#"{"n":4}"#, r#"{"n":2}"#, r#"{"n":1}"#], "prefix match, newest first");
    assert!(one.windows(2).all(|w| w[0].id > w[1].id && w[0].at >= w[1].at));
    assert_eq!(s.list_events("dbinstance/", 1).await.unwrap()[0].kind, "Stopped", "limit keeps the newest");
    assert!(s.list_events("ram/user/a%", 10).await.unwrap().is_empty(), "% is literal");
    assert_eq!(s.list_events("ram/user/a_", 10).await.unwrap().len(), 1);
    // The account created by the fixture is there too.
    assert_eq!(s.list_events("", 100).await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_listing_shows_every_change_made_since_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let s = super::SqliteStore::open(&path).unwrap();
    s.create_account(&account(ACCOUNT)).await.unwrap();
    let all = InstanceFilter { with_private: true, ..Default::default() };
    let descriptions = |listed: crate::Paged<crate::InstanceRow>| listed.items.into_iter().map(|r| r.description).collect::<Vec<_>>();
    let mut row = instance("pgm-cached", 0);
    row.description = "first".into();
    s.insert_instance(&row).await.unwrap();
    assert_eq!(descriptions(s.list_instances(&all, None).await.unwrap()), ["first"]);
    assert_eq!(descriptions(s.list_instances(&all, None).await.unwrap()), ["first"], "the same listing again");

    // A change through this store.
    row.description = "second".into();
    s.update_instance(&row).await.unwrap();
    assert_eq!(descriptions(s.list_instances(&all, None).await.unwrap()), ["second"]);

    // A change by another process on the same file.
    let other = super::SqliteStore::open(&path).unwrap();
    row.description = "third".into();
    other.update_instance(&row).await.unwrap();
    assert_eq!(descriptions(s.list_instances(&all, None).await.unwrap()), ["third"]);

    // A nonce recorded in between changes nothing, and a write refused changes nothing either.
    s.remember_nonce("LTAIk", "n", super::later(900)).await.unwrap();
    assert!(s.insert_instance(&row).await.is_err());
    assert_eq!(descriptions(s.list_instances(&all, None).await.unwrap()), ["third"]);
    s.delete_instance("pgm-cached").await.unwrap();
    assert!(s.list_instances(&all, None).await.unwrap().items.is_empty());
}
