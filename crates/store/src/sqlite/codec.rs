//! Between rows of SQLite and the model: timestamps, error kinds, lookups.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{Type, Value};
use rusqlite::{ffi, params_from_iter, ErrorCode, OptionalExtension, Params, Row, ToSql, Transaction};

use crate::{Page, Paged, Result, StoreError};

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

/// Timestamps as the store keeps them: RFC 3339 text (see [`ts`]), `NULL` for none.
pub(super) trait Stamp: Sized {
    fn read(row: &Row<'_>, column: &str, cursor: &ColumnCursor) -> rusqlite::Result<Self>;
    fn text(&self) -> Option<String>;
}

impl Stamp for DateTime<Utc> {
    fn read(row: &Row<'_>, column: &str, cursor: &ColumnCursor) -> rusqlite::Result<Self> {
        let text: String = row.get(cursor.at(row, column)?)?;
        DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(|e| conversion(row, column, e))
    }

    fn text(&self) -> Option<String> {
        Some(ts(self))
    }
}

impl Stamp for Option<DateTime<Utc>> {
    fn read(row: &Row<'_>, column: &str, cursor: &ColumnCursor) -> rusqlite::Result<Self> {
        let text: Option<String> = row.get(cursor.at(row, column)?)?;
        text.map(|t| DateTime::parse_from_rfc3339(&t).map(|t| t.with_timezone(&Utc)).map_err(|e| conversion(row, column, e)))
            .transpose()
    }

    fn text(&self) -> Option<String> {
        self.as_ref().map(ts)
    }
}

/// Finds a row's columns by name, trying first the column after the last one found.
/// A model's fields are listed in its table's column order, so the guess is nearly always
/// right; rusqlite's lookup by name compares the name with every column's in turn, which
/// for wide rows read by the hundred (a listing of instances) was a tenth of the call.
#[derive(Default)]
pub(super) struct ColumnCursor {
    next: std::cell::Cell<usize>,
}

impl ColumnCursor {
    /// The index of the column `name` in `row`.
    pub(super) fn at(&self, row: &Row<'_>, name: &str) -> rusqlite::Result<usize> {
        let stmt: &rusqlite::Statement<'_> = row.as_ref();
        let guess = self.next.get();
        let index = match stmt.column_name(guess) {
            Ok(found) if found.eq_ignore_ascii_case(name) => guess,
            _ => stmt.column_index(name)?,
        };
        self.next.set(index + 1);
        Ok(index)
    }
}

/// Builds a model struct from a row whose columns are named as its fields: `plain` fields
/// by `FromSql`, `times` by [`Stamp`], `json` fields from JSON text (NULL is `None` for
/// `json_or_null`), the `with` fields by the expressions given. Columns are read in that
/// order, which a statement can select them in so that every lookup is a first guess.
macro_rules! from_row {
    ($row:ident => $ty:ident {
        $($field:ident),* $(,)?
        $(; times: $($time:ident),* $(,)?)?
        $(; json: $($json:ident),* $(,)?)?
        $(; json_or_null: $($json_or_null:ident),* $(,)?)?
        $(; with: $($other:ident: $value:expr),* $(,)?)?
    }) => {{
        let cursor = $crate::sqlite::codec::ColumnCursor::default();
        Ok($ty {
            $($field: $row.get(cursor.at($row, stringify!($field))?)?,)*
            $($($time: $crate::sqlite::codec::Stamp::read($row, stringify!($time), &cursor)?,)*)?
            $($($json: $crate::sqlite::codec::json_column_at($row, stringify!($json), &cursor)?,)*)?
            $($($json_or_null: $crate::sqlite::codec::json_column_or_null_at($row, stringify!($json_or_null), &cursor)?,)*)?
            $($($other: $value,)*)?
        })
    }};
}

/// A row to write, as (column, value) pairs; made by [`columns!`].
pub(super) struct Columns(pub(super) Vec<(&'static str, Box<dyn ToSql>)>);

/// The columns of a model struct named as its fields: `plain` fields cloned, `times` as
/// [`Stamp`] text, the `with` columns from the expressions given.
macro_rules! columns {
    ($value:ident => {
        $($field:ident),* $(,)?
        $(; times: $($time:ident),* $(,)?)?
        $(; with: $($other:ident: $expr:expr),* $(,)?)?
    }) => {
        $crate::sqlite::codec::Columns(vec![
            $((stringify!($field), Box::new($value.$field.clone()) as Box<dyn rusqlite::ToSql>),)*
            $($((stringify!($time), Box::new($crate::sqlite::codec::Stamp::text(&$value.$time)) as Box<dyn rusqlite::ToSql>),)*)?
            $($((stringify!($other), Box::new($expr) as Box<dyn rusqlite::ToSql>),)*)?
        ])
    };
}

impl Columns {
    /// Sets a column's value, adding the column if the row has none of that name.
    pub(super) fn set(&mut self, column: &'static str, value: impl ToSql + 'static) {
        match self.0.iter_mut().find(|(c, _)| *c == column) {
            Some((_, v)) => *v = Box::new(value),
            None => self.0.push((column, Box::new(value))),
        }
    }

    fn values<'a>(&'a self, names: impl Iterator<Item = &'a str> + 'a) -> Vec<&'a dyn ToSql> {
        names.map(|n| self.0.iter().find(|(c, _)| *c == n).map(|(_, v)| v.as_ref()).expect("a column of the row")).collect()
    }

    /// `INSERT INTO table` of every column.
    pub(super) fn insert(&self, tx: &Transaction<'_>, table: &str) -> rusqlite::Result<usize> {
        let names: Vec<&str> = self.0.iter().map(|(c, _)| *c).collect();
        let marks = (1..=names.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let sql = format!("INSERT INTO {table} ({}) VALUES ({marks})", names.join(", "));
        tx.execute(&sql, self.values(names.iter().copied()).as_slice())
    }

    /// Inserts a row that must be new (`AlreadyExists(what)` if its key is taken) and
    /// records the event `kind` with `detail` under `subject`.
    pub(super) fn create(
        &self,
        tx: &Transaction<'_>,
        table: &str,
        what: impl FnOnce() -> String,
        (subject, kind, detail): (&str, &str, serde_json::Value),
    ) -> Result<()> {
        self.insert(tx, table).or_exists(what, &format!("insert into {table}"))?;
        super::events::record(tx, subject, kind, &detail)
    }

    /// `UPDATE table` of every column but `keep` (which never change), on the row whose
    /// `key` column holds this row's value.
    pub(super) fn update(&self, tx: &Transaction<'_>, table: &str, key: &str, keep: &[&str]) -> rusqlite::Result<usize> {
        let set: Vec<&str> = self.0.iter().map(|(c, _)| *c).filter(|c| *c != key && !keep.contains(c)).collect();
        let assignments = set.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 1)).collect::<Vec<_>>().join(", ");
        let sql = format!("UPDATE {table} SET {assignments} WHERE {key} = ?{}", set.len() + 1);
        tx.execute(&sql, self.values(set.iter().copied().chain([key])).as_slice())
    }
}

/// One page of `SELECT columns FROM table` under a `filter` (a `WHERE` clause or
/// nothing) with its `args`, in `order`, and the count of every matching row.
pub(super) fn select_page<T>(
    tx: &Transaction<'_>,
    (columns, table): (&str, &str),
    (filter, mut args): (String, Vec<Value>),
    order: &str,
    page: Option<Page>,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Paged<T>> {
    let total: u64 = tx
        .prepare_cached(&format!("SELECT count(*) FROM {table}{filter}"))
        .and_then(|mut count| count.query_row(params_from_iter(args.iter()), |r| r.get(0)))
        .ctx(&format!("count {table}"))?;
    let mut sql = format!("SELECT {columns} FROM {table}{filter} ORDER BY {order}");
    if let Some(p) = page {
        // Page numbers are 1-based; 0 is read as the first page rather than refused,
        // since the API layer validates what callers send.
        let offset = i64::from(p.number.max(1) - 1).saturating_mul(i64::from(p.size));
        sql.push_str(" LIMIT ? OFFSET ?");
        args.push(Value::Integer(i64::from(p.size)));
        args.push(Value::Integer(offset));
    }
    let items = query_all(tx, &format!("list {table}"), &sql, params_from_iter(args.iter()), row)?;
    Ok(Paged { items, total })
}

/// `WHERE` and the clauses joined by `AND`, or nothing when there is none.
pub(super) fn where_all<S: AsRef<str>>(clauses: &[S]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" AND "))
    }
}

/// A column holding JSON text.
pub(super) fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: &str) -> rusqlite::Result<T> {
    json_column_at(row, column, &ColumnCursor::default())
}

pub(super) fn json_column_at<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: &str, cursor: &ColumnCursor) -> rusqlite::Result<T> {
    let text: String = row.get(cursor.at(row, column)?)?;
    serde_json::from_str(&text).map_err(|e| conversion(row, column, e))
}

/// A nullable JSON column: NULL is `None`.
pub(super) fn json_column_or_null_at<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    column: &str,
    cursor: &ColumnCursor,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(cursor.at(row, column)?)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| conversion(row, column, e))).transpose()
}

/// JSON text of a value, for a column.
pub(super) fn json_text(value: &impl serde::Serialize, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encode {what}: {e}")))
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
    // Cached: the same few statements run on every listing, and parsing them again each
    // time was a tenth of a listing's cost.
    let mut stmt = tx.prepare_cached(sql).ctx(doing)?;
    let rows = stmt.query_map(params, row).ctx(doing)?;
    rows.collect::<rusqlite::Result<_>>().ctx(doing)
}

/// The one row of `sql`, mapped by `row`; `NotFound(what)` if there is none.
pub(super) fn query_one<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl Params,
    row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    what: impl FnOnce() -> String,
) -> Result<T> {
    // Cached: a signed call looks its key up by one of these, and parsing the statement
    // again each time showed in the control plane's profile.
    match tx.prepare_cached(sql).and_then(|mut statement| statement.query_row(params, row).optional()) {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(StoreError::NotFound(what())),
        Err(e) => Err(StoreError::Backend(format!("read {}: {e}", what()))),
    }
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
