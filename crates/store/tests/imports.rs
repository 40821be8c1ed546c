//! Import tasks move instance states in the same transaction as their rows.

use store::prelude::*;
use store::{ImportPhase, ImportStatus, InstanceStatus};
use chrono::Utc;
use store::*;

fn task(src: &str, dst: &str) -> ImportTaskRow {
    ImportTaskRow { staging_tag: "t1".into(), ..ImportTaskRow::queued("1", src, dst, "EngineA", vec![("a".into(), "b".into())], Utc::now()) }
}

#[tokio::test]
async fn begin_and_end_move_both_instances_atomically() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.create_account(&Account { uid: "1".into(), name: "a".into(), created_at: Utc::now() }).await.unwrap();
    for id in ["src", "dst", "other"] {
        s.insert_instance(&InstanceRow::sample(id, "1", Utc::now())).await.unwrap();
    }
    let id = s.begin_import(&task("src", "dst"), InstanceStatus::Migrating, InstanceStatus::Importing).await.unwrap();
    assert!(id > 0);
    assert_eq!(s.get_instance("src").await.unwrap().status, "Migrating");
    assert_eq!(s.get_instance("dst").await.unwrap().status, "Importing");

    // A second import touching a busy instance is refused and changes nothing.
    let err = s.begin_import(&task("other", "dst"), InstanceStatus::Migrating, InstanceStatus::Importing).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(s.get_instance("other").await.unwrap().status, "Running", "rolled back");
    assert_eq!(s.list_imports(&ImportFilter::default(), None).await.unwrap().total, 1);

    assert_eq!(s.unfinished_imports().await.unwrap().len(), 1);
    let mut t = s.get_import(id).await.unwrap();
    t.status = ImportStatus::Success;
    t.finished_at = Some(Utc::now());
    s.end_import(&t).await.unwrap();
    assert_eq!(s.get_instance("src").await.unwrap().status, "Running");
    assert_eq!(s.get_instance("dst").await.unwrap().status, "Running");
    assert!(s.unfinished_imports().await.unwrap().is_empty());

    let by_src = s.list_imports(&ImportFilter { instance_id: Some("src".into()), ..Default::default() }, None).await.unwrap();
    let by_dst = s.list_imports(&ImportFilter { instance_id: Some("dst".into()), ..Default::default() }, None).await.unwrap();
    assert_eq!((by_src.total, by_dst.total), (1, 1), "either instance finds its tasks");
    assert_eq!(by_src.items[0].db_names, vec![("a".to_string(), "b".to_string())]);
    assert!(matches!(s.get_import(999).await, Err(StoreError::NotFound(_))));
}

#[tokio::test]
async fn a_change_applies_only_in_the_states_it_names_and_touches_only_its_fields() {
    let s = SqliteStore::open_in_memory().unwrap();
    s.create_account(&Account { uid: "1".into(), name: "a".into(), created_at: Utc::now() }).await.unwrap();
    for id in ["src", "dst"] {
        s.insert_instance(&InstanceRow::sample(id, "1", Utc::now())).await.unwrap();
    }
    let id = s.begin_import(&task("src", "dst"), InstanceStatus::Migrating, InstanceStatus::Importing).await.unwrap();
    let cancel = ImportChange {
        status_in: vec![ImportStatus::Pending, ImportStatus::Running],
        phase_not: Some(ImportPhase::Publishing),
        status: Some(ImportStatus::Canceling),
        ..ImportChange::default()
    };
    let progress = ImportChange { phase: Some(ImportPhase::Data), progress: Some("{\"BytesDone\":1}".into()), ..ImportChange::default() };

    s.change_import(id, &cancel).await.unwrap();
    // The progress writer does not bring a canceled task back to Running.
    let t = s.change_import(id, &progress).await.unwrap();
    assert_eq!((t.status.as_str(), t.phase.as_str(), t.progress.as_str()), ("Canceling", "Data", "{\"BytesDone\":1}"));
    assert!(matches!(s.change_import(id, &cancel).await, Err(StoreError::Conflict { .. })), "not twice");

    let id2 = {
        let mut t = task("src", "dst");
        t.status = ImportStatus::Running;
        t.phase = ImportPhase::Publishing;
        // The first task ends (both instances Running again), so a second one can begin.
        s.end_import(&s.get_import(id).await.unwrap()).await.unwrap();
        s.begin_import(&t, InstanceStatus::Migrating, InstanceStatus::Importing).await.unwrap()
    };
    assert!(matches!(s.change_import(id2, &cancel).await, Err(StoreError::Conflict { .. })), "no cancel while publishing");
    assert_eq!(s.get_import(id2).await.unwrap().status, "Running");
}
