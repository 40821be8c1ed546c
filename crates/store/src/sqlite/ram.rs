//! RAM users, policies and the attachments between them.

use rusqlite::{Row, Transaction};
use serde_json::json;

use super::codec::{query_one, get_ts, require, query_all, Ctx};
use super::events::record;
use crate::{Policy, PolicyAttachment, RamUser, Result, StoreError};

fn user_from(r: &Row<'_>) -> rusqlite::Result<RamUser> {
    from_row!(r => RamUser { account_uid, user_name, user_id, display_name, comments; times: created_at, updated_at })
}

fn policy_from(r: &Row<'_>) -> rusqlite::Result<Policy> {
    from_row!(r => Policy { account_uid, policy_name, policy_type, document, description; times: created_at })
}

/// Rows named within an account: RAM users and policies.
struct PerAccount<T> {
    table: &'static str,
    name: &'static str,
    what: &'static str,
    from: fn(&Row<'_>) -> rusqlite::Result<T>,
}

const USERS: PerAccount<RamUser> = PerAccount { table: "ram_users", name: "user_name", what: "ram user", from: user_from };
const POLICIES: PerAccount<Policy> = PerAccount { table: "policies", name: "policy_name", what: "ram policy", from: policy_from };

impl<T> PerAccount<T> {
    fn get(&self, tx: &Transaction<'_>, account_uid: &str, name: &str) -> Result<T> {
        let sql = format!("SELECT * FROM {} WHERE account_uid = ?1 AND {} = ?2", self.table, self.name);
        query_one(tx, &sql, [account_uid, name], self.from, || format!("{} {name}", self.what))
    }

    /// Oldest first.
    fn list(&self, tx: &Transaction<'_>, account_uid: &str) -> Result<Vec<T>> {
        let sql = format!("SELECT * FROM {} WHERE account_uid = ?1 ORDER BY created_at, {}", self.table, self.name);
        query_all(tx, &format!("list {}", self.table), &sql, [account_uid], self.from)
    }
}

fn require_account(tx: &Transaction<'_>, account_uid: &str) -> Result<()> {
    require(tx, "SELECT 1 FROM accounts WHERE uid = ?1", [account_uid], || format!("account {account_uid}"))
}

fn require_user(tx: &Transaction<'_>, account_uid: &str, user_name: &str) -> Result<()> {
    require(tx, "SELECT 1 FROM ram_users WHERE account_uid = ?1 AND user_name = ?2", [account_uid, user_name], || {
        format!("ram user {user_name}")
    })
}

pub(super) fn create_ram_user(tx: &Transaction<'_>, u: &RamUser) -> Result<()> {
    require_account(tx, &u.account_uid)?;
    columns!(u => { account_uid, user_name, user_id, display_name, comments; times: created_at, updated_at })
        .create(tx, "ram_users", || format!("ram user {}", u.user_name), (
            &format!("ram/user/{}", u.user_name),
            "Created",
            json!({ "account_uid": u.account_uid, "user_id": u.user_id }),
        ))
}

pub(super) fn get_ram_user(tx: &Transaction<'_>, account_uid: &str, user_name: &str) -> Result<RamUser> {
    USERS.get(tx, account_uid, user_name)
}

pub(super) fn list_ram_users(tx: &Transaction<'_>, account_uid: &str) -> Result<Vec<RamUser>> {
    USERS.list(tx, account_uid)
}

/// Removes what hangs off the user explicitly rather than leaving it to `ON DELETE
/// CASCADE`, so that each revoked key gets its own event.
pub(super) fn delete_unused_ram_user(tx: &Transaction<'_>, account_uid: &str, user_name: &str) -> Result<()> {
    require_user(tx, account_uid, user_name)?;
    for (table, expected, what) in [("access_keys", "no access keys", "access keys"), ("policy_attachments", "no policies", "policies")] {
        let n: i64 = tx
            .query_row(&format!("SELECT count(*) FROM {table} WHERE account_uid = ?1 AND user_name = ?2"), [account_uid, user_name], |r| r.get(0))
            .ctx("count what a ram user holds")?;
        if n > 0 {
            return Err(StoreError::Conflict { subject: format!("ram user {user_name}"), expected: expected.into(), actual: format!("{n} {what}") });
        }
    }
    delete_ram_user(tx, account_uid, user_name)
}

pub(super) fn delete_ram_user(tx: &Transaction<'_>, account_uid: &str, user_name: &str) -> Result<()> {
    require_user(tx, account_uid, user_name)?;
    let names = |doing: &str, sql: &str| query_all(tx, doing, sql, [account_uid, user_name], |r| r.get::<_, String>(0));
    let keys = names("list the user's access keys", "SELECT id FROM access_keys WHERE account_uid = ?1 AND user_name = ?2 ORDER BY id")?;
    let policies = names(
        "list the user's policies",
        "SELECT policy_name FROM policy_attachments WHERE account_uid = ?1 AND user_name = ?2 ORDER BY policy_name",
    )?;
    for id in &keys {
        tx.execute("DELETE FROM access_keys WHERE id = ?1", [id]).ctx("delete the user's access keys")?;
        record(
            tx,
            &format!("accesskey/{id}"),
            "Deleted",
            &json!({ "account_uid": account_uid, "user_name": user_name, "reason": "user deleted" }),
        )?;
    }
    tx.execute("DELETE FROM policy_attachments WHERE account_uid = ?1 AND user_name = ?2", [account_uid, user_name])
        .ctx("detach the user's policies")?;
    tx.execute("DELETE FROM ram_users WHERE account_uid = ?1 AND user_name = ?2", [account_uid, user_name])
        .ctx("delete a ram user")?;
    record(
        tx,
        &format!("ram/user/{user_name}"),
        "Deleted",
        &json!({ "account_uid": account_uid, "access_keys": keys, "policies": policies }),
    )
}

pub(super) fn create_policy(tx: &Transaction<'_>, p: &Policy) -> Result<()> {
    require_account(tx, &p.account_uid)?;
    columns!(p => { account_uid, policy_name, policy_type, document, description; times: created_at })
        .create(tx, "policies", || format!("ram policy {}", p.policy_name), (
            &format!("ram/policy/{}", p.policy_name),
            "Created",
            json!({ "account_uid": p.account_uid, "policy_type": p.policy_type }),
        ))
}

pub(super) fn get_policy(tx: &Transaction<'_>, account_uid: &str, policy_name: &str) -> Result<Policy> {
    POLICIES.get(tx, account_uid, policy_name)
}

pub(super) fn list_policies(tx: &Transaction<'_>, account_uid: &str) -> Result<Vec<Policy>> {
    POLICIES.list(tx, account_uid)
}

pub(super) fn count_policy_attachments(tx: &Transaction<'_>, account_uid: &str, policy_name: &str) -> Result<u64> {
    tx.query_row(
        "SELECT count(*) FROM policy_attachments WHERE account_uid = ?1 AND policy_name = ?2",
        [account_uid, policy_name],
        |r| r.get(0),
    )
    .ctx("count policy attachments")
}

/// A policy still attached is refused with `Conflict` rather than detached silently:
/// deleting it would change what its users may do.
pub(super) fn delete_policy(tx: &Transaction<'_>, account_uid: &str, policy_name: &str) -> Result<()> {
    let policy = get_policy(tx, account_uid, policy_name)?;
    let users = count_policy_attachments(tx, account_uid, policy_name)?;
    if users > 0 {
        return Err(StoreError::Conflict {
            subject: format!("ram policy {policy_name}"),
            expected: "detached".into(),
            actual: format!("attached to {users} user(s)"),
        });
    }
    tx.execute("DELETE FROM policies WHERE account_uid = ?1 AND policy_name = ?2", [account_uid, policy_name])
        .ctx("delete a policy")?;
    record(
        tx,
        &format!("ram/policy/{policy_name}"),
        "Deleted",
        &json!({ "account_uid": account_uid, "policy_type": policy.policy_type }),
    )
}

pub(super) fn attach_policy(tx: &Transaction<'_>, a: &PolicyAttachment) -> Result<()> {
    require_user(tx, &a.account_uid, &a.user_name)?;
    require(
        tx,
        "SELECT 1 FROM policies WHERE account_uid = ?1 AND policy_name = ?2",
        [&a.account_uid, &a.policy_name],
        || format!("ram policy {}", a.policy_name),
    )?;
    columns!(a => { account_uid, user_name, policy_name, policy_type; times: attached_at })
        .create(tx, "policy_attachments", || format!("attachment of ram policy {} to ram user {}", a.policy_name, a.user_name), (
            &format!("ram/user/{}", a.user_name),
            "PolicyAttached",
            json!({ "account_uid": a.account_uid, "policy_name": a.policy_name, "policy_type": a.policy_type }),
        ))
}

pub(super) fn detach_policy(tx: &Transaction<'_>, account_uid: &str, user_name: &str, policy_name: &str) -> Result<()> {
    let deleted = tx
        .execute(
            "DELETE FROM policy_attachments WHERE account_uid = ?1 AND user_name = ?2 AND policy_name = ?3",
            [account_uid, user_name, policy_name],
        )
        .ctx("detach a policy")?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!("attachment of ram policy {policy_name} to ram user {user_name}")));
    }
    record(
        tx,
        &format!("ram/user/{user_name}"),
        "PolicyDetached",
        &json!({ "account_uid": account_uid, "policy_name": policy_name }),
    )
}

pub(super) fn policies_for_user(
    tx: &Transaction<'_>,
    account_uid: &str,
    user_name: &str,
) -> Result<Vec<(PolicyAttachment, Policy)>> {
    let sql = "SELECT a.user_name, a.policy_type AS attached_type, a.attached_at,
                      p.account_uid, p.policy_name, p.policy_type, p.document, p.description, p.created_at
               FROM policy_attachments a
               JOIN policies p ON p.account_uid = a.account_uid AND p.policy_name = a.policy_name
               WHERE a.account_uid = ?1 AND a.user_name = ?2
               ORDER BY a.attached_at, a.policy_name";
    query_all(tx, "list a user's policies", sql, [account_uid, user_name], |r| {
        let policy = policy_from(r)?;
        let attachment = PolicyAttachment {
            account_uid: policy.account_uid.clone(),
            user_name: r.get("user_name")?,
            policy_name: policy.policy_name.clone(),
            policy_type: r.get("attached_type")?,
            attached_at: get_ts(r, "attached_at")?,
        };
        Ok((attachment, policy))
    })
}

blocking_store! {
    impl crate::RamStore {
        write fn create_ram_user(by_ref user: &RamUser) -> ();
        read fn get_ram_user(by_ref account_uid: &str, by_ref user_name: &str) -> RamUser;
        read fn list_ram_users(by_ref account_uid: &str) -> Vec<RamUser>;
        write fn delete_ram_user(by_ref account_uid: &str, by_ref user_name: &str) -> ();
        write fn delete_unused_ram_user(by_ref account_uid: &str, by_ref user_name: &str) -> ();
        write fn create_policy(by_ref policy: &Policy) -> ();
        read fn get_policy(by_ref account_uid: &str, by_ref policy_name: &str) -> Policy;
        read fn list_policies(by_ref account_uid: &str) -> Vec<Policy>;
        write fn delete_policy(by_ref account_uid: &str, by_ref policy_name: &str) -> ();
        read fn count_policy_attachments(by_ref account_uid: &str, by_ref policy_name: &str) -> u64;
        write fn attach_policy(by_ref attachment: &PolicyAttachment) -> ();
        write fn detach_policy(by_ref account_uid: &str, by_ref user_name: &str, by_ref policy_name: &str) -> ();
        read fn policies_for_user(by_ref account_uid: &str, by_ref user_name: &str) -> Vec<(PolicyAttachment, Policy)>;
    }
}
