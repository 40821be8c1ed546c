use super::*;
use crate::{BackupFilter, BackupMode, BackupRow, BackupStatus, InstanceRow, Page, StoreError};

fn job(instance: &str, created: i64) -> BackupRow {
    BackupRow::queued(&InstanceRow::sample(instance, ACCOUNT, at(created)), BackupMode::Manual, at(created))
}

#[tokio::test]
async fn one_job_per_instance_runs_and_a_finished_set_round_trips() {
    let s = store().await;
    let id = s.begin_backup(&job("pgm-a", 1)).await.expect("begin");
    match s.begin_backup(&job("pgm-a", 2)).await {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, format!("backup job {id}")),
        other => panic!("a second job while one is pending: {other:?}"),
    }
    let other = s.begin_backup(&job("pgm-b", 3)).await.expect("another instance's job");
    assert_eq!(s.unfinished_backups().await.unwrap().iter().map(|b| b.id).collect::<Vec<_>>(), vec![id, other]);

    let mut done = s.get_backup(id).await.unwrap();
    done.status = BackupStatus::Success;
    done.size_bytes = 123;
    done.checksum = "abc".into();
    done.consistent_at = Some(at(5));
    done.finished_at = Some(at(6));
    done.location = "/b/1".into();
    s.update_backup(&done).await.unwrap();
    let back = s.get_backup(id).await.unwrap();
    assert_eq!(BackupRow { updated_at: done.updated_at, ..back.clone() }, done);
    s.begin_backup(&job("pgm-a", 7)).await.expect("a new job once the last ended");

    let listed = |f: BackupFilter| {
        let s = &s;
        async move { s.list_backups(&f, Some(Page { number: 1, size: 30 })).await.unwrap().items.into_iter().map(|b| b.id).collect::<Vec<_>>() }
    };
    let succeeded = listed(BackupFilter { instance_id: Some("pgm-a".into()), status: Some(vec![BackupStatus::Success]), ..Default::default() }).await;
    assert_eq!(succeeded, vec![id]);
    assert_eq!(listed(BackupFilter { instance_id: Some("pgm-a".into()), ..Default::default() }).await.len(), 2);
    assert_eq!(listed(BackupFilter { backup_id: Some(other), ..Default::default() }).await, vec![other]);
    s.delete_backup(id).await.unwrap();
    assert!(matches!(s.get_backup(id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete_backup(id).await, Err(StoreError::NotFound(_))));
    assert_eq!(kinds(&events(&s, &format!("backup/{id}")).await), ["Created", "Updated", "Deleted"]);
}

#[tokio::test]
async fn a_policy_is_absent_until_set_then_replaced() {
    let s = store().await;
    assert_eq!(s.get_backup_policy("pgm-a").await.unwrap(), None);
    let mut p = crate::BackupPolicy {
        instance_id: "pgm-a".into(),
        account_uid: ACCOUNT.into(),
        preferred_time: "02:00Z-03:00Z".into(),
        preferred_period: "Monday,Thursday".into(),
        retention_days: 7,
        log_backup: true,
        log_retention_days: 7,
        updated_at: at(1),
    };
    s.put_backup_policy(&p).await.unwrap();
    assert_eq!(s.get_backup_policy("pgm-a").await.unwrap(), Some(p.clone()));
    p.retention_days = 30;
    p.log_backup = false;
    s.put_backup_policy(&p).await.unwrap();
    assert_eq!(s.get_backup_policy("pgm-a").await.unwrap(), Some(p));
}
