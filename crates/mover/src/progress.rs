//! Progress of one copy, shared between the copy and whoever watches it (the control
//! plane persists snapshots; the CLI draws bars). Hot counters are atomics that workers
//! bump per COPY message; the registry of tables is behind a mutex taken only to register
//! entries and to take a snapshot.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The phase of the whole copy, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Planning,
    Schema,
    Data,
    PostData,
    Publishing,
    Done,
    Failed,
    Canceled,
}

impl Phase {
    pub const ALL: [Phase; 9] = [
        Phase::Pending,
        Phase::Planning,
        Phase::Schema,
        Phase::Data,
        Phase::PostData,
        Phase::Publishing,
        Phase::Done,
        Phase::Failed,
        Phase::Canceled,
    ];

    /// As a snapshot spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Planning => "Planning",
            Phase::Schema => "Schema",
            Phase::Data => "Data",
            Phase::PostData => "PostData",
            Phase::Publishing => "Publishing",
            Phase::Done => "Done",
            Phase::Failed => "Failed",
            Phase::Canceled => "Canceled",
        }
    }
}

/// Where one table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TableState {
    Pending = 0,
    Copying = 1,
    Loaded = 2,
    Verified = 3,
}

impl TableState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => TableState::Copying,
            2 => TableState::Loaded,
            3 => TableState::Verified,
            _ => TableState::Pending,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            TableState::Pending => "Pending",
            TableState::Copying => "Copying",
            TableState::Loaded => "Loaded",
            TableState::Verified => "Verified",
        }
    }
}

/// Counters of one table, held by the workers that copy it.
#[derive(Debug)]
pub struct TableCounter {
    pub schema: String,
    pub name: String,
    pub rows_done: AtomicU64,
    pub bytes_done: AtomicU64,
    /// Estimates (reltuples, heap size) until the table is loaded, then the actual figures.
    pub rows_expected: AtomicU64,
    pub bytes_expected: AtomicU64,
    pub parts: u64,
    pub parts_done: AtomicU64,
    state: AtomicU8,
}

impl TableCounter {
    pub fn set_state(&self, s: TableState) {
        self.state.store(s as u8, Relaxed);
    }
    pub fn add(&self, rows: u64, bytes: u64) {
        self.rows_done.fetch_add(rows, Relaxed);
        self.bytes_done.fetch_add(bytes, Relaxed);
    }
    /// Once loaded, the expected figures become the actual ones, so totals reach 100%
    /// however far off the planner's estimates were.
    pub fn settle(&self) {
        self.rows_expected.store(self.rows_done.load(Relaxed), Relaxed);
        self.bytes_expected.store(self.bytes_done.load(Relaxed), Relaxed);
    }
}

#[derive(Debug)]
pub struct DbCounter {
    pub source: String,
    pub destination: String,
    phase: Mutex<Phase>,
    pub tables: Mutex<Vec<Arc<TableCounter>>>,
    pub indexes_total: AtomicU64,
    pub indexes_done: AtomicU64,
}

impl DbCounter {
    pub fn set_phase(&self, p: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    /// Registers a table before any worker starts on it (pattern: register, then work).
    pub fn register_table(&self, schema: &str, name: &str, rows: u64, bytes: u64, parts: u64) -> Arc<TableCounter> {
        let t = Arc::new(TableCounter {
            schema: schema.to_string(),
            name: name.to_string(),
            rows_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            rows_expected: AtomicU64::new(rows),
            bytes_expected: AtomicU64::new(bytes),
            parts,
            parts_done: AtomicU64::new(0),
            state: AtomicU8::new(TableState::Pending as u8),
        });
        self.tables.lock().unwrap_or_else(|e| e.into_inner()).push(t.clone());
        t
    }
}

/// Shared progress of a copy. Create it with `Progress::default()`, hand an `Arc` of it
/// to [`crate::copy_databases`], and call [`Progress::snapshot`] from anywhere.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    phase: Mutex<Phase>,
    databases: Mutex<Vec<Arc<DbCounter>>>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { started: Instant::now(), phase: Mutex::new(Phase::Pending), databases: Mutex::new(Vec::new()) }
    }
}

impl Progress {
    pub fn set_phase(&self, p: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = p;
        for db in self.databases.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            db.set_phase(p);
        }
    }

    pub fn register_db(&self, source: &str, destination: &str) -> Arc<DbCounter> {
        let db = Arc::new(DbCounter {
            source: source.to_string(),
            destination: destination.to_string(),
            phase: Mutex::new(*self.phase.lock().unwrap_or_else(|e| e.into_inner())),
            tables: Mutex::new(Vec::new()),
            indexes_total: AtomicU64::new(0),
            indexes_done: AtomicU64::new(0),
        });
        self.databases.lock().unwrap_or_else(|e| e.into_inner()).push(db.clone());
        db
    }

    /// A consistent-enough copy of the counters (each counter is read once; counters of
    /// different tables may be a few messages apart), with rate and ETA over bytes.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let elapsed = self.started.elapsed();
        let phase = *self.phase.lock().unwrap_or_else(|e| e.into_inner());
        let dbs: Vec<Arc<DbCounter>> = self.databases.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = ProgressSnapshot {
            phase: phase.as_str().to_string(),
            elapsed_ms: elapsed.as_millis() as u64,
            ..ProgressSnapshot::default()
        };
        for db in dbs {
            let tables: Vec<Arc<TableCounter>> = db.tables.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let mut d = DatabaseProgress {
                source: db.source.clone(),
                destination: db.destination.clone(),
                phase: db.phase.lock().unwrap_or_else(|e| e.into_inner()).as_str().to_string(),
                indexes_total: db.indexes_total.load(Relaxed),
                indexes_done: db.indexes_done.load(Relaxed),
                ..DatabaseProgress::default()
            };
            for t in tables {
                let tp = TableProgress {
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                    state: TableState::from_u8(t.state.load(Relaxed)).as_str().to_string(),
                    rows_done: t.rows_done.load(Relaxed),
                    rows_expected: t.rows_expected.load(Relaxed),
                    bytes_done: t.bytes_done.load(Relaxed),
                    bytes_expected: t.bytes_expected.load(Relaxed),
                    parts: t.parts,
                    parts_done: t.parts_done.load(Relaxed),
                };
                d.rows_done += tp.rows_done;
                d.rows_expected += tp.rows_expected.max(tp.rows_done);
                d.bytes_done += tp.bytes_done;
                d.bytes_expected += tp.bytes_expected.max(tp.bytes_done);
                d.tables.push(tp);
            }
            out.rows_done += d.rows_done;
            out.rows_expected += d.rows_expected;
            out.bytes_done += d.bytes_done;
            out.bytes_expected += d.bytes_expected;
            out.databases.push(d);
        }
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            out.bytes_per_sec = out.bytes_done as f64 / secs;
        }
        if out.bytes_per_sec > 0.0 && out.bytes_expected >= out.bytes_done {
            out.eta_seconds = Some((out.bytes_expected - out.bytes_done) as f64 / out.bytes_per_sec);
        }
        out
    }
}

/// What [`Progress::snapshot`] returns; serialisable as is for the API.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ProgressSnapshot {
    /// `Pending`, `Planning`, `Schema`, `Data`, `PostData`, `Publishing`, `Done`,
    /// `Failed` or `Canceled`.
    pub phase: String,
    pub elapsed_ms: u64,
    pub rows_done: u64,
    pub rows_expected: u64,
    /// Bytes of COPY stream moved; expected is the heap size until a table is loaded.
    pub bytes_done: u64,
    pub bytes_expected: u64,
    pub bytes_per_sec: f64,
    pub eta_seconds: Option<f64>,
    pub databases: Vec<DatabaseProgress>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseProgress {
    pub source: String,
    pub destination: String,
    pub phase: String,
    pub rows_done: u64,
    pub rows_expected: u64,
    pub bytes_done: u64,
    pub bytes_expected: u64,
    pub indexes_done: u64,
    pub indexes_total: u64,
    pub tables: Vec<TableProgress>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableProgress {
    pub schema: String,
    pub name: String,
    /// `Pending`, `Copying`, `Loaded` or `Verified`.
    pub state: String,
    pub rows_done: u64,
    pub rows_expected: u64,
    pub bytes_done: u64,
    pub bytes_expected: u64,
    pub parts: u64,
    pub parts_done: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_reach_expected_once_settled() {
        let p = Progress::default();
        p.set_phase(Phase::Data);
        let db = p.register_db("a", "b");
        let t = db.register_table("public", "t", 1000, 8192, 1);
        t.add(10, 100);
        let s = p.snapshot();
        assert_eq!(s.phase, "Data");
        assert_eq!((s.rows_done, s.rows_expected), (10, 1000));
        t.add(5, 50);
        t.settle();
        let s = p.snapshot();
        assert_eq!((s.rows_done, s.rows_expected, s.bytes_done, s.bytes_expected), (15, 15, 150, 150));
        assert_eq!(s.databases[0].tables[0].name, "t");
    }
}
