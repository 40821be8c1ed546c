//! Between rows of SQLite and the model: timestamps, error kinds, lookups.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Type;
use rusqlite::{ffi, ErrorCode, OptionalExtension, Params, Row, Transaction};

use crate::{Result, StoreError};

/// RFC 3339 in UTC with a fixed number of fractional digits: the text sorts like the
/// instant, which ordering and expiry comparisons in SQL rely on, and nanoseconds make a
/// row read back equal to the row written.
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn get_ts(row: &Row<'_>, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(column)?;
    DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(|e| conversion(row, column, e))
}

/// A column whose text does not decode into the model type.
pub(super) fn conversion(
    row: &Row<'_>,
    column: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    let index = row.as_ref().column_index(column).unwrap_or(0);
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))
}

/// Turns SQLite failures into `Backend` errors that say what was being done.
pub(super) trait Ctx<T> {
    fn ctx(self, doing: &str) -> Result<T>;
    /// Like `ctx`, except that a duplicate key is the caller's `AlreadyExists(what)`.
    fn or_exists(self, what: impl FnOnce() -> String, doing: &str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, doing: &str) -> Result<T> {
        self.map_err(|e| StoreError::Backend(format!("{doing}: {e}")))
    }

    fn or_exists(self, what: impl FnOnce() -> String, doing: &str) -> Result<T> {
        match self {
            Err(e) if is_duplicate(&e) => Err(StoreError::AlreadyExists(what())),
            other => other.ctx(doing),
        }
    }
}

/// Only key uniqueness means "already exists". A foreign key or CHECK failure is a bug or
/// a race the callers check for beforehand, so it stays a `Backend` error.
fn is_duplicate(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::ConstraintViolation
            && matches!(f.extended_code, ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE))
}

/// Every row of `sql`, each mapped by `row`; `doing` says what in an error.
pub(super) fn query_all<T>(
    tx: &rusqlite::Connection,
    doing: &str,
    sql: &str,
    params: impl Params,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = tx.prepare(sql).ctx(doing)?;
    let rows = stmt.query_map(params, row).ctx(doing)?;
    rows.collect::<rusqlite::Result<_>>().ctx(doing)
}

/// `NotFound(what)` unless the query returns a row.
pub(super) fn require(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl Params,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match tx.query_row(sql, params, |_| Ok(())).optional().ctx("look up a row")? {
        Some(()) => Ok(()),
        None => Err(StoreError::NotFound(what())),
    }
}
