//! Tests of the SQLite store: in memory for the semantics, on a temporary file for what
//! only a file has (mode, WAL, reopening, migrations).

mod backups;
mod identity;
mod instances;
mod open;
mod ram;

use crate::prelude::*;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::SqliteStore;
use crate::{Account, Event, InstanceRow};

pub(super) const ACCOUNT: &str = "1234567890123456";

pub(super) fn at(seconds: i64) -> DateTime<Utc> {
    // A fixed instant with nanoseconds, to check they survive the round trip.
    Utc.timestamp_opt(1_700_000_000 + seconds, 123_456_789).single().expect("valid instant")
}

pub(super) async fn store() -> SqliteStore {
    let store = SqliteStore::open_in_memory().expect("open in memory");
    store.create_account(&account(ACCOUNT)).await.expect("create account");
    store
}

pub(super) fn account(uid: &str) -> Account {
    Account { uid: uid.into(), name: format!("name of {uid}"), created_at: at(0) }
}

pub(super) fn instance(id: &str, created: i64) -> InstanceRow {
    InstanceRow {
        description: format!("instance {id}"),
        data_dir: format!("/var/lib/openrds/{id}"),
        tags: vec![("team".into(), "data".into()), ("env".into(), "prod".into())],
        ..InstanceRow::sample(id, ACCOUNT, at(created))
    }
}

/// Events of a subject, oldest first, as (kind, detail).
pub(super) async fn events(store: &SqliteStore, subject: &str) -> Vec<(String, serde_json::Value)> {
    let mut list: Vec<Event> = store.list_events(subject, 1000).await.expect("list events");
    list.retain(|e| e.subject == subject);
    list.reverse();
    list.into_iter().map(|e| (e.kind, serde_json::from_str(&e.detail).expect("event detail is JSON"))).collect()
}

pub(super) fn kinds(events: &[(String, serde_json::Value)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

pub(super) fn later(seconds: i64) -> DateTime<Utc> {
    Utc::now() + Duration::seconds(seconds)
}
