use crate::prelude::*;
use super::identity::user;
use super::{at, events, kinds, store, ACCOUNT};
use crate::{AccessKey, AccessKeyStatus, Policy, PolicyAttachment, Principal, StoreError};

fn policy(name: &str, created: i64) -> Policy {
    Policy {
        account_uid: ACCOUNT.into(),
        policy_name: name.into(),
        policy_type: "Custom".into(),
        document: r#"{"Version":"1","Statement":[]}"#.into(),
        description: format!("about {name}"),
        created_at: at(created),
    }
}

fn attachment(user: &str, policy: &str) -> PolicyAttachment {
    PolicyAttachment {
        account_uid: ACCOUNT.into(),
        user_name: user.into(),
        policy_name: policy.into(),
        policy_type: "Custom".into(),
        attached_at: at(5),
    }
}

/// A store with users alice and bob and one policy, ops.
async fn alice_bob_and_ops() -> crate::SqliteStore {
    let s = store().await;
    s.create_ram_user(&user("alice")).await.unwrap();
    s.create_ram_user(&user("bob")).await.unwrap();
    s.create_policy(&policy("ops", 1)).await.unwrap();
    s
}

#[tokio::test]
async fn ram_users_are_created_read_and_listed() {
    let s = store().await;
    let mut bob = user("bob");
    bob.created_at = at(0);
    s.create_ram_user(&user("alice")).await.unwrap();
    s.create_ram_user(&bob).await.unwrap();
    assert_eq!(s.get_ram_user(ACCOUNT, "alice").await.unwrap(), user("alice"));
    let names: Vec<String> = s.list_ram_users(ACCOUNT).await.unwrap().into_iter().map(|u| u.user_name).collect();
    assert_eq!(names, ["bob", "alice"], "oldest first");
    assert!(s.list_ram_users("777").await.unwrap().is_empty());

    assert!(
        matches!(s.create_ram_user(&user("alice")).await, Err(StoreError::AlreadyExists(m)) if m == "ram user alice")
    );
    assert!(matches!(s.get_ram_user(ACCOUNT, "carol").await, Err(StoreError::NotFound(m)) if m == "ram user carol"));
    assert!(matches!(s.get_ram_user("777", "alice").await, Err(StoreError::NotFound(_))), "users are per account");
    let mut stranger = user("dave");
    stranger.account_uid = "777".into();
    assert!(matches!(s.create_ram_user(&stranger).await, Err(StoreError::NotFound(m)) if m == "account 777"));
    assert_eq!(kinds(&events(&s, "ram/user/alice").await), ["Created"]);
}

#[tokio::test]
async fn deleting_a_user_takes_its_keys_and_attachments_along() {
    let s = alice_bob_and_ops().await;
    let alice = Principal::User { account_uid: ACCOUNT.into(), user_name: "alice".into() };
    let bob = Principal::User { account_uid: ACCOUNT.into(), user_name: "bob".into() };
    for (id, p) in [("LTAIa1", &alice), ("LTAIa2", &alice), ("LTAIb1", &bob)] {
        s.insert_access_key(&AccessKey {
            id: id.into(),
            secret: "s".into(),
            principal: p.clone(),
            status: AccessKeyStatus::Active,
            created_at: at(3),
        })
        .await
        .unwrap();
    }
    s.attach_policy(&attachment("alice", "ops")).await.unwrap();
    s.attach_policy(&attachment("bob", "ops")).await.unwrap();

    s.delete_ram_user(ACCOUNT, "alice").await.unwrap();
    assert!(matches!(s.get_ram_user(ACCOUNT, "alice").await, Err(StoreError::NotFound(_))));
    assert!(s.list_access_keys(&alice).await.unwrap().is_empty());
    assert!(matches!(s.get_access_key("LTAIa1").await, Err(StoreError::NotFound(_))));
    assert!(s.policies_for_user(ACCOUNT, "alice").await.unwrap().is_empty());
    assert_eq!(s.count_policy_attachments(ACCOUNT, "ops").await.unwrap(), 1);
    // The other user keeps what is theirs, and the policy stays.
    assert_eq!(s.list_access_keys(&bob).await.unwrap().len(), 1);
    assert!(s.get_policy(ACCOUNT, "ops").await.is_ok());

    let trail = events(&s, "ram/user/alice").await;
    assert_eq!(kinds(&trail), ["Created", "PolicyAttached", "Deleted"]);
    assert_eq!(trail[2].1["access_keys"], serde_json::json!(["LTAIa1", "LTAIa2"]));
    assert_eq!(trail[2].1["policies"], serde_json::json!(["ops"]));
    assert_eq!(kinds(&events(&s, "accesskey/LTAIa2").await), ["Created", "Deleted"]);

    assert!(matches!(s.delete_ram_user(ACCOUNT, "alice").await, Err(StoreError::NotFound(m)) if m == "ram user alice"));
    // A user of the same name can be created again, with nothing inherited.
    s.create_ram_user(&user("alice")).await.unwrap();
    assert!(s.list_access_keys(&alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn policies_are_created_read_listed_and_deleted() {
    let s = store().await;
    s.create_policy(&policy("b", 1)).await.unwrap();
    s.create_policy(&policy("a", 2)).await.unwrap();
    assert_eq!(s.get_policy(ACCOUNT, "b").await.unwrap(), policy("b", 1));
    let names: Vec<String> = s.list_policies(ACCOUNT).await.unwrap().into_iter().map(|p| p.policy_name).collect();
    assert_eq!(names, ["b", "a"], "oldest first");
    assert!(matches!(s.create_policy(&policy("a", 3)).await, Err(StoreError::AlreadyExists(m)) if m == "ram policy a"));
    assert!(matches!(s.get_policy(ACCOUNT, "zz").await, Err(StoreError::NotFound(m)) if m == "ram policy zz"));

    s.delete_policy(ACCOUNT, "a").await.unwrap();
    assert!(matches!(s.get_policy(ACCOUNT, "a").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete_policy(ACCOUNT, "a").await, Err(StoreError::NotFound(m)) if m == "ram policy a"));
    assert_eq!(kinds(&events(&s, "ram/policy/a").await), ["Created", "Deleted"]);
}

#[tokio::test]
async fn attachments_link_users_to_policies() {
    let s = alice_bob_and_ops().await;
    s.create_policy(&policy("read", 2)).await.unwrap();

    s.attach_policy(&attachment("alice", "ops")).await.unwrap();
    let mut system = attachment("alice", "read");
    system.policy_type = "System".into();
    system.attached_at = at(6);
    s.attach_policy(&system).await.unwrap();
    s.attach_policy(&attachment("bob", "ops")).await.unwrap();

    let pairs = s.policies_for_user(ACCOUNT, "alice").await.unwrap();
    assert_eq!(pairs, vec![(attachment("alice", "ops"), policy("ops", 1)), (system, policy("read", 2))]);
    assert_eq!(s.count_policy_attachments(ACCOUNT, "ops").await.unwrap(), 2);
    assert_eq!(s.count_policy_attachments(ACCOUNT, "read").await.unwrap(), 1);

    assert!(matches!(
        s.attach_policy(&attachment("alice", "ops")).await,
        Err(StoreError::AlreadyExists(m)) if m == "attachment of ram policy ops to ram user alice"
    ));
    assert!(
        matches!(s.attach_policy(&attachment("carol", "ops")).await, Err(StoreError::NotFound(m)) if m == "ram user carol")
    );
    assert!(
        matches!(s.attach_policy(&attachment("alice", "nope")).await, Err(StoreError::NotFound(m)) if m == "ram policy nope")
    );

    // A policy in use is not deleted from under its users.
    match s.delete_policy(ACCOUNT, "ops").await {
        Err(StoreError::Conflict { subject, actual, .. }) => {
            assert_eq!(subject, "ram policy ops");
            assert_eq!(actual, "attached to 2 user(s)");
        }
        other => panic!("{other:?}"),
    }
    s.detach_policy(ACCOUNT, "alice", "ops").await.unwrap();
    s.detach_policy(ACCOUNT, "bob", "ops").await.unwrap();
    assert!(matches!(
        s.detach_policy(ACCOUNT, "bob", "ops").await,
        Err(StoreError::NotFound(m)) if m == "attachment of ram policy ops to ram user bob"
    ));
    assert_eq!(s.count_policy_attachments(ACCOUNT, "ops").await.unwrap(), 0);
    s.delete_policy(ACCOUNT, "ops").await.unwrap();

    let trail = events(&s, "ram/user/bob").await;
    assert_eq!(kinds(&trail), ["Created", "PolicyAttached", "PolicyDetached"]);
    assert_eq!(trail[1].1["policy_name"], "ops");
}
