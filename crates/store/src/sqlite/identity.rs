//! Accounts, access keys and signature nonces.

use chrono::{DateTime, Utc};
use rusqlite::{Row, Transaction};
use serde_json::json;

use super::codec::{query_one, conversion, get_ts, require, ts, query_all, Ctx};
use super::events::record;
use crate::{AccessKey, AccessKeyStatus, Account, Principal, Result, StoreError};
use std::sync::Mutex;

fn account_from(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account { uid: r.get("uid")?, name: r.get("name")?, created_at: get_ts(r, "created_at")? })
}

pub(super) fn create_account(tx: &Transaction<'_>, a: &Account) -> Result<()> {
    tx.execute(
        "INSERT INTO accounts (uid, name, created_at) VALUES (?1, ?2, ?3)",
        (&a.uid, &a.name, ts(&a.created_at)),
    )
    .or_exists(|| format!("account {}", a.uid), "insert an account")?;
    record(tx, &format!("account/{}", a.uid), "Created", &json!({ "name": a.name }))
}

pub(super) fn get_account(tx: &Transaction<'_>, uid: &str) -> Result<Account> {
    query_one(tx, "SELECT * FROM accounts WHERE uid = ?1", [uid], account_from, || format!("account {uid}"))
}

pub(super) fn list_accounts(tx: &Transaction<'_>) -> Result<Vec<Account>> {
    query_all(tx, "list accounts", "SELECT * FROM accounts ORDER BY created_at, uid", [], account_from)
}

fn key_from(r: &Row<'_>) -> rusqlite::Result<AccessKey> {
    let account_uid: String = r.get("account_uid")?;
    let principal = match r.get::<_, Option<String>>("user_name")? {
        None => Principal::Root { account_uid },
        Some(user_name) => Principal::User { account_uid, user_name },
    };
    let status: String = r.get("status")?;
    Ok(AccessKey {
        id: r.get("id")?,
        secret: r.get("secret")?,
        principal,
        status: parse_status(&status).ok_or_else(|| conversion(r, "status", UnknownStatus(status)))?,
        created_at: get_ts(r, "created_at")?,
    })
}

fn parse_status(s: &str) -> Option<AccessKeyStatus> {
    match s {
        "Active" => Some(AccessKeyStatus::Active),
        "Inactive" => Some(AccessKeyStatus::Inactive),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown access key status {0:?}")]
struct UnknownStatus(String);

fn user_name(p: &Principal) -> Option<&str> {
    match p {
        Principal::Root { .. } => None,
        Principal::User { user_name, .. } => Some(user_name),
    }
}

/// The event detail names the owner, never the secret.
fn owner_detail(p: &Principal) -> serde_json::Value {
    json!({ "account_uid": p.account_uid(), "user_name": user_name(p) })
}

pub(super) fn insert_access_key(tx: &Transaction<'_>, k: &AccessKey) -> Result<()> {
    let account = k.principal.account_uid();
    match user_name(&k.principal) {
        None => require(tx, "SELECT 1 FROM accounts WHERE uid = ?1", [account], || format!("account {account}"))?,
        Some(user) => {
            require(tx, "SELECT 1 FROM ram_users WHERE account_uid = ?1 AND user_name = ?2", [account, user], || {
                format!("ram user {user}")
            })?
        }
    }
    let owner = user_name(&k.principal).map(str::to_owned);
    columns!(k => { id, secret; times: created_at; with: account_uid: account.to_owned(), user_name: owner, status: k.status.as_str() })
        .create(tx, "access_keys", || format!("access key {}", k.id), (&format!("accesskey/{}", k.id), "Created", owner_detail(&k.principal)))
}

pub(super) fn get_access_key(tx: &Transaction<'_>, id: &str) -> Result<AccessKey> {
    query_one(tx, "SELECT * FROM access_keys WHERE id = ?1", [id], key_from, || format!("access key {id}"))
}

pub(super) fn list_access_keys(tx: &Transaction<'_>, p: &Principal) -> Result<Vec<AccessKey>> {
    // `IS` rather than `=`: it matches NULL to NULL, which is how root keys are stored.
    query_all(tx, "list access keys", "SELECT * FROM access_keys WHERE account_uid = ?1 AND user_name IS ?2 ORDER BY created_at, id", (p.account_uid(), user_name(p)), key_from)
}

pub(super) fn set_access_key_status(tx: &Transaction<'_>, id: &str, status: AccessKeyStatus) -> Result<()> {
    let before = get_access_key(tx, id)?;
    if before.status == status {
        return Ok(());
    }
    tx.execute("UPDATE access_keys SET status = ?2 WHERE id = ?1", (id, status.as_str()))
        .ctx("update an access key")?;
    record(
        tx,
        &format!("accesskey/{id}"),
        "StatusChanged",
        &json!({ "from": before.status.as_str(), "to": status.as_str() }),
    )
}

pub(super) fn delete_access_key(tx: &Transaction<'_>, id: &str) -> Result<()> {
    let key = get_access_key(tx, id)?;
    tx.execute("DELETE FROM access_keys WHERE id = ?1", [id]).ctx("delete an access key")?;
    record(tx, &format!("accesskey/{id}"), "Deleted", &owner_detail(&key.principal))
}

/// Records the nonce unless a live copy exists. An expired copy is overwritten: its window
/// has closed, so the signature check refuses a replay of it on the timestamp alone.
fn remember_nonce(tx: &Transaction<'_>, waiting: &WaitingNonce, now: &str) -> Result<bool> {
    // Not an event: nonces are bookkeeping of the signature check, one per request, and
    // would drown the audit trail.
    let changed = tx
        .prepare_cached(
            "INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
             WHERE nonces.expires_at <= ?4",
        )
        .and_then(|mut insert| insert.execute((&waiting.key_id, &waiting.nonce, ts(&waiting.expires_at), now)))
        .ctx("record a nonce")?;
    Ok(changed == 1)
}

/// Nonces of concurrent requests, recorded together: each request still gets its answer
/// only once its nonce is committed (so a replay is refused even across a restart), but a
/// burst of requests costs one write transaction instead of one each. The first request
/// to find no recorder running becomes it, on a blocking thread of its own that drains
/// the queue until it is empty; a request that gives up waiting does not stop it.
#[derive(Default)]
pub(super) struct NonceQueue {
    waiting: Vec<WaitingNonce>,
    recording: bool,
    last_purge: Option<std::time::Instant>,
}

struct WaitingNonce {
    key_id: String,
    nonce: String,
    expires_at: DateTime<Utc>,
    answer: tokio::sync::oneshot::Sender<Result<bool>>,
}

impl super::SqliteStore {
    /// Makes the next recording of nonces purge the expired ones, as it does once a minute.
    #[cfg(test)]
    pub(super) fn make_nonce_purge_due(&self) {
        super::lock(&self.nonces).last_purge = None;
    }
}

fn record_waiting_nonces(conn: &Mutex<rusqlite::Connection>, queue: &Mutex<NonceQueue>) {
    /// A panic here must not leave the queue believing a recorder runs: the next request
    /// becomes the recorder and takes over what is waiting.
    struct StepDown<'q>(&'q Mutex<NonceQueue>);
    impl Drop for StepDown<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                super::lock(self.0).recording = false;
            }
        }
    }
    let _step_down = StepDown(queue);
    loop {
        let (batch, purge) = {
            let mut queue = super::lock(queue);
            if queue.waiting.is_empty() {
                queue.recording = false;
                return;
            }
            let purge = queue.last_purge.is_none_or(|at| at.elapsed() >= super::NONCE_PURGE_EVERY);
            if purge {
                queue.last_purge = Some(std::time::Instant::now());
            }
            (std::mem::take(&mut queue.waiting), purge)
        };
        let recorded = super::transact(conn, rusqlite::TransactionBehavior::Immediate, |tx| {
            let now = ts(&Utc::now());
            if purge {
                let purged = tx.execute("DELETE FROM nonces WHERE expires_at <= ?1", [&now]).ctx("purge expired nonces")?;
                tracing::debug!(purged, "purged expired signature nonces");
            }
            batch.iter().map(|waiting| remember_nonce(tx, waiting, &now)).collect::<Result<Vec<bool>>>()
        });
        match recorded {
            Ok(fresh) => {
                for (waiting, fresh) in batch.into_iter().zip(fresh) {
                    let _ = waiting.answer.send(Ok(fresh));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for waiting in batch {
                    let _ = waiting.answer.send(Err(StoreError::Backend(reason.clone())));
                }
            }
        }
    }
}

blocking_store! {
    impl crate::IdentityStore {
        write fn create_account(by_ref account: &Account) -> ();
        read fn get_account(by_ref uid: &str) -> Account;
        read fn list_accounts() -> Vec<Account>;
        write fn insert_access_key(by_ref key: &AccessKey) -> ();
        quick_read fn get_access_key(by_ref id: &str) -> AccessKey;
        read fn list_access_keys(by_ref principal: &Principal) -> Vec<AccessKey>;
        write fn set_access_key_status(by_ref id: &str, by_val status: AccessKeyStatus) -> ();
        write fn delete_access_key(by_ref id: &str) -> ();
    }
    async fn remember_nonce(&self, access_key_id: &str, nonce: &str, expires_at: DateTime<Utc>) -> Result<bool> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let waiting = WaitingNonce { key_id: access_key_id.to_owned(), nonce: nonce.to_owned(), expires_at, answer };
        let become_recorder = {
            let mut queue = super::lock(&self.nonces);
            queue.waiting.push(waiting);
            !std::mem::replace(&mut queue.recording, true)
        };
        if become_recorder {
            let (conn, queue) = (std::sync::Arc::clone(&self.conn), std::sync::Arc::clone(&self.nonces));
            tokio::task::spawn_blocking(move || record_waiting_nonces(&conn, &queue));
        }
        answered.await.map_err(|_| StoreError::Backend("the nonce recorder stopped before recording this nonce".into()))?
    }
}
