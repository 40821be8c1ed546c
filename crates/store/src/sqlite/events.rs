//! The audit trail.

use chrono::Utc;
use rusqlite::Transaction;

use super::codec::{get_ts, ts, query_all, Ctx};
use crate::{Event, Result};

/// Appends to the audit trail inside the caller's transaction, so that the change and its
/// event commit or vanish together.
pub(super) fn record(tx: &Transaction<'_>, subject: &str, kind: &str, detail: &serde_json::Value) -> Result<()> {
    append(tx, subject, kind, &detail.to_string())
}

pub(super) fn append(tx: &Transaction<'_>, subject: &str, kind: &str, detail: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO events (at, subject, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        (ts(&Utc::now()), subject, kind, detail),
    )
    .ctx("append an event")?;
    Ok(())
}

/// The newest `limit` events whose subject starts with `prefix`, newest first.
pub(super) fn list_events(tx: &Transaction<'_>, prefix: &str, limit: u32) -> Result<Vec<Event>> {
    // A prefix compare rather than LIKE, so `_` and `%` in a subject are literal.
    query_all(tx, "list events", "SELECT id, at, subject, kind, detail FROM events
             WHERE substr(subject, 1, length(?1)) = ?1
             ORDER BY id DESC LIMIT ?2", (prefix, limit), |r| {
            Ok(Event {
                id: r.get("id")?,
                at: get_ts(r, "at")?,
                subject: r.get("subject")?,
                kind: r.get("kind")?,
                detail: r.get("detail")?,
            })
        })
}

blocking_store! {
    impl crate::EventStore {
        read fn list_events(by_ref subject_prefix: &str, by_val limit: u32) -> Vec<Event>;
    }
    async fn append_event(&self, subject: &str, kind: &str, detail: &str) -> Result<()> {
        let (subject, kind, detail) = (subject.to_owned(), kind.to_owned(), detail.to_owned());
        self.write(move |tx| append(tx, &subject, &kind, &detail)).await
    }
}
