use crate::prelude::*;

use super::{account, at, events, kinds, later, store, ACCOUNT};
use crate::{AccessKey, AccessKeyStatus, Principal, RamUser, StoreError};

fn root() -> Principal {
    Principal::Root { account_uid: ACCOUNT.into() }
}

fn key(id: &str, principal: Principal, created: i64) -> AccessKey {
    AccessKey {
        id: id.into(),
        secret: format!("secret-of-{id}"),
        principal,
        status: AccessKeyStatus::Active,
        created_at: at(created),
    }
}

pub(super) fn user(name: &str) -> RamUser {
    RamUser {
        account_uid: ACCOUNT.into(),
        user_name: name.into(),
        user_id: format!("2000{name}"),
        display_name: format!("display {name}"),
        comments: String::new(),
        created_at: at(1),
        updated_at: at(2),
    }
}

#[tokio::test]
async fn accounts_are_created_read_and_listed() {
    let s = store().await;
    assert_eq!(s.get_account(ACCOUNT).await.unwrap(), account(ACCOUNT));
    let mut other = account("9999999999999999");
    other.created_at = at(-10);
    s.create_account(&other).await.unwrap();
    let uids: Vec<String> = s.list_accounts().await.unwrap().into_iter().map(|a| a.uid).collect();
    assert_eq!(uids, ["9999999999999999", ACCOUNT], "oldest first");

    match s.create_account(&account(ACCOUNT)).await {
        Err(StoreError::AlreadyExists(m)) => assert_eq!(m, format!("account {ACCOUNT}")),
        other => panic!("{other:?}"),
    }
    match s.get_account("42").await {
        Err(e @ StoreError::NotFound(_)) => assert_eq!(e.to_string(), "account 42 not found"),
        other => panic!("{other:?}"),
    }
    assert_eq!(kinds(&events(&s, &format!("account/{ACCOUNT}")).await), ["Created"]);
}

#[tokio::test]
async fn access_keys_round_trip_and_list_by_principal() {
    let s = store().await;
    s.create_ram_user(&user("alice")).await.unwrap();
    let alice = Principal::User { account_uid: ACCOUNT.into(), user_name: "alice".into() };
    s.insert_access_key(&key("LTAIroot2", root(), 2)).await.unwrap();
    s.insert_access_key(&key("LTAIroot1", root(), 1)).await.unwrap();
    s.insert_access_key(&key("LTAIalice", alice.clone(), 1)).await.unwrap();

    assert_eq!(s.get_access_key("LTAIalice").await.unwrap(), key("LTAIalice", alice.clone(), 1));
    let ids = |keys: Vec<AccessKey>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_access_keys(&root()).await.unwrap()), ["LTAIroot1", "LTAIroot2"]);
    assert_eq!(ids(s.list_access_keys(&alice).await.unwrap()), ["LTAIalice"]);
    let other = Principal::Root { account_uid: "777".into() };
    assert!(s.list_access_keys(&other).await.unwrap().is_empty());

    assert!(
        matches!(s.insert_access_key(&key("LTAIroot1", root(), 3)).await, Err(StoreError::AlreadyExists(m)) if m == "access key LTAIroot1")
    );
    let bob = Principal::User { account_uid: ACCOUNT.into(), user_name: "bob".into() };
    assert!(
        matches!(s.insert_access_key(&key("LTAIbob", bob, 3)).await, Err(StoreError::NotFound(m)) if m == "ram user bob")
    );
    let stranger = Principal::Root { account_uid: "777".into() };
    assert!(
        matches!(s.insert_access_key(&key("LTAIx", stranger, 3)).await, Err(StoreError::NotFound(m)) if m == "account 777")
    );
    assert!(matches!(s.get_access_key("LTAInone").await, Err(StoreError::NotFound(m)) if m == "access key LTAInone"));
}

#[tokio::test]
async fn access_key_status_and_deletion() {
    let s = store().await;
    s.insert_access_key(&key("LTAIk", root(), 1)).await.unwrap();
    s.set_access_key_status("LTAIk", AccessKeyStatus::Inactive).await.unwrap();
    assert_eq!(s.get_access_key("LTAIk").await.unwrap().status, AccessKeyStatus::Inactive);
    // Setting the status it already has changes nothing and records nothing.
    s.set_access_key_status("LTAIk", AccessKeyStatus::Inactive).await.unwrap();
    s.delete_access_key("LTAIk").await.unwrap();
    assert!(matches!(s.get_access_key("LTAIk").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete_access_key("LTAIk").await, Err(StoreError::NotFound(m)) if m == "access key LTAIk"));
    assert!(matches!(
        s.set_access_key_status("LTAIk", AccessKeyStatus::Active).await,
        Err(StoreError::NotFound(m)) if m == "access key LTAIk"
    ));

    let trail = events(&s, "accesskey/LTAIk").await;
    assert_eq!(kinds(&trail), ["Created", "StatusChanged", "Deleted"]);
    assert_eq!(trail[1].1, serde_json::json!({ "from": "Active", "to": "Inactive" }));
}

#[tokio::test]
async fn no_event_carries_a_secret() {
    let s = store().await;
    s.create_ram_user(&user("alice")).await.unwrap();
    let alice = Principal::User { account_uid: ACCOUNT.into(), user_name: "alice".into() };
    s.insert_access_key(&key("LTAIa", alice, 1)).await.unwrap();
    s.insert_access_key(&key("LTAIr", root(), 1)).await.unwrap();
    s.set_access_key_status("LTAIr", AccessKeyStatus::Inactive).await.unwrap();
    s.delete_access_key("LTAIr").await.unwrap();
    s.delete_ram_user(ACCOUNT, "alice").await.unwrap();
    let all = s.list_events("", 1000).await.unwrap();
    assert!(all.len() >= 6);
    for e in all {
        assert!(!e.detail.contains("secret-of-"), "event {e:?} leaks a secret");
    }
}

#[tokio::test]
async fn a_nonce_is_accepted_once_until_it_expires() {
    let s = store().await;
    assert!(s.remember_nonce("LTAIk", "n1", later(900)).await.unwrap());
    assert!(!s.remember_nonce("LTAIk", "n1", later(900)).await.unwrap(), "a replay");
    assert!(s.remember_nonce("LTAIother", "n1", later(900)).await.unwrap(), "nonces are per key");
    assert!(s.remember_nonce("LTAIk", "n2", later(900)).await.unwrap());

    // An expired record no longer blocks the nonce, and the new record does.
    assert!(s.remember_nonce("LTAIk", "old", later(-1)).await.unwrap());
    assert!(s.remember_nonce("LTAIk", "old", later(900)).await.unwrap());
    assert!(!s.remember_nonce("LTAIk", "old", later(900)).await.unwrap());
}

#[tokio::test]
async fn expired_nonces_are_purged() {
    let s = store().await;
    let count = |s: &super::SqliteStore, like: &str| -> i64 {
        s.lock().query_row("SELECT count(*) FROM nonces WHERE nonce LIKE ?1", [like], |r| r.get(0)).unwrap()
    };
    for i in 0..10 {
        s.remember_nonce("LTAIk", &format!("stale{i}"), later(-60)).await.unwrap();
    }
    s.remember_nonce("LTAIk", "fresh0", later(900)).await.unwrap();
    assert_eq!(count(&s, "stale%"), 10, "no purge is due yet");
    s.make_nonce_purge_due();
    s.remember_nonce("LTAIk", "fresh1", later(900)).await.unwrap();
    assert_eq!(count(&s, "stale%"), 0, "the purge that was due has run");
    assert_eq!(count(&s, "fresh%"), 2, "live nonces are kept");
    assert!(s.list_events("", 1000).await.unwrap().iter().all(|e| !e.subject.contains("nonce")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_nonces_are_recorded_together_and_each_is_accepted_once() {
    let s = std::sync::Arc::new(store().await);
    let mut calls = Vec::new();
    for i in 0..400 {
        let s = std::sync::Arc::clone(&s);
        // Every nonce twice, its two calls far apart in the queue or side by side.
        let nonce = format!("n{}", if i < 200 { i } else { (i * 7) % 200 });
        calls.push(tokio::spawn(async move { (nonce.clone(), s.remember_nonce("LTAIk", &nonce, later(900)).await.unwrap()) }));
    }
    let mut accepted = std::collections::HashMap::new();
    for call in calls {
        let (nonce, fresh) = call.await.unwrap();
        *accepted.entry(nonce).or_insert(0) += fresh as u32;
    }
    assert_eq!(accepted.len(), 200);
    assert!(accepted.values().all(|n| *n == 1), "each nonce is accepted exactly once: {accepted:?}");
}

#[tokio::test]
async fn a_recorded_nonce_is_refused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let s = super::SqliteStore::open(&path).unwrap();
    assert!(s.remember_nonce("LTAIk", "before-restart", later(900)).await.unwrap());
    drop(s);
    let s = super::SqliteStore::open(&path).unwrap();
    assert!(!s.remember_nonce("LTAIk", "before-restart", later(900)).await.unwrap(), "a replay after the restart");
}
