//! The embedded SQLite store: the metadata of one `openrds serve` in one file,
//! `<data-dir>/metadata.db`.
//!
//! ## What is stored
//!
//! Only what the API promised and cannot learn again from anywhere else:
//! - **accounts, access keys, RAM users, policies and attachments**: who may call, with
//!   which secret, allowed to do what. The secrets are stored in clear because verifying
//!   an HMAC signature needs them; that is why the file is created with mode 0600 and why
//!   no event ever carries one.
//! - **instances**: what was asked for (engine, class, storage, tags), where the server
//!   lives (host, port, data directory), and the API status. The engine's own state
//!   (databases, roles, sizes) is asked of the engine, never copied here, so the two
//!   cannot disagree; only the descriptions the engine has no place for are kept, as
//!   **notes** on databases and accounts.
//! - **events**: an append-only trail of every change, written in the same transaction as
//!   the change, so the trail never claims what did not commit nor misses what did.
//! - **nonces**: signature nonces inside their validity window, to refuse replays even
//!   across a restart. They are bookkeeping, not state: expired rows are purged.
//!
//! ## Why SQLite, and how
//!
//! One file with no server to run is the right default for a single node. WAL lets reads
//! proceed during a write and `synchronous=NORMAL` in WAL mode loses at most the last
//! transactions on power loss, never consistency. rusqlite is synchronous, so each call
//! takes the one connection under a mutex inside `spawn_blocking` and runs as one
//! transaction; the mutex is never held across an await. Writes begin `IMMEDIATE` so that
//! a second process on the same file (an operator tool, a benchmark) waits on
//! `busy_timeout` instead of failing when a read upgrades to a write.
//!
//! The schema is versioned (see `migrate`); a database written by a newer openrds is
//! refused rather than misread.

/// Implements a store trait on `SqliteStore` from a table of methods, each running the
/// module's function of the same name in one transaction on a blocking thread (`read`
/// or `write`). Arguments marked `by_ref` (references) are owned to travel there and lent
/// back to the function; `by_val` ones are copied. Methods that do more follow the table as written.
macro_rules! blocking_store {
    (impl $trait:path { $($mode:ident fn $name:ident($($kind:ident $arg:ident: $ty:ty),*) -> $ret:ty;)* } $($extra:tt)*) => {
        #[async_trait::async_trait]
        impl $trait for super::SqliteStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    $(let $arg = blocking_store!(@own $kind $arg);)*
                    self.$mode(move |tx| $name(tx, $(blocking_store!(@lend $kind $arg)),*)).await
                }
            )*
            $($extra)*
        }
    };
    (@own by_ref $arg:ident) => { $arg.to_owned() };
    (@own by_val $arg:ident) => { $arg };
    (@lend by_ref $arg:ident) => { &$arg };
    (@lend by_val $arg:ident) => { $arg };
}

#[macro_use]
mod codec;
mod backups;
mod events;
mod identity;
mod imports;
mod instances;
pub use instances::CHANGED_SINCE_READ;
mod migrate;
mod performance;
mod ram;
#[cfg(test)]
mod tests;

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::{Result, StoreError};
use codec::Ctx;

/// How long a call waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often expired nonces are purged: often enough to keep the table at about one
/// window of traffic, rarely enough to cost nothing.
const NONCE_PURGE_EVERY: Duration = Duration::from_secs(60);

/// How often the background checkpointer moves committed pages from the WAL into the
/// database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The WAL's length in pages (4 KB) at which the store's own connection checkpoints, as
/// SQLite does by default at 1000: only if the background checkpointer stops keeping up.
const WAL_BACKSTOP_PAGES: i64 = 16_384;

/// Moves the WAL's pages into the database every [`CHECKPOINT_EVERY`] on a connection and
/// thread of its own, for as long as the store's connection lives. Left to SQLite, the
/// commit that crossed 1000 pages checkpointed, and with it the fsync of the database
/// file, while holding the store's one connection: every signed call records its nonce,
/// so under load that was several times a second, each stalling every call queued behind
/// it by milliseconds (the control plane's p99 at 32 clients: 16–18 ms with it, 9–10
/// without; bench/RESULTS.md). A passive checkpoint takes no lock that a writer or reader
/// waits for, and moves no page a reader still needs.
fn checkpoint_in_background(path: &Path, store: std::sync::Weak<Mutex<Connection>>) -> Result<()> {
    let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
    let shown = path.display().to_string();
    std::thread::Builder::new()
        .name("metadata-checkpoint".into())
        .spawn(move || {
            let mut failing = false;
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                if store.strong_count() == 0 {
                    return;
                }
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    Ok(()) => failing = false,
                    // Said once per run of failures: the store's own backstop still
                    // bounds the WAL meanwhile.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(database = %shown, error = %e, "background checkpoint of the metadata WAL failed");
                    }
                    Err(_) => {}
                }
            }
        })
        .map_err(|e| StoreError::Backend(format!("start the checkpointer of {}: {e}", path.display())))?;
    Ok(())
}

/// [`MetadataStore`] on one SQLite database. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// `None` in memory.
    path: Option<PathBuf>,
    /// Signature nonces waiting to be recorded together (see `identity::remember_nonce`).
    nonces: Arc<Mutex<identity::NonceQueue>>,
    /// Write transactions committed (or tried) through this store: what a cached answer
    /// was read at, with SQLite's `data_version` for other processes' commits.
    writes: Arc<AtomicU64>,
    /// Recent instance listings (see `instances::ListingCache`).
    listings: Arc<Mutex<instances::ListingCache>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (mode 0600) if absent, and brings its
    /// schema up to date. The parent directory must exist.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        create_private(path)?;
        let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(path, e))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(|e| open_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "open {}: the file system refused WAL journaling (journal_mode is {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| open_error(path, e))?;
        // Checkpoints run on a thread of their own (see `checkpoint_in_background`); the
        // connection checkpoints by itself only if that thread falls this far behind.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES).map_err(|e| open_error(path, e))?;
        let store = Self::finish(conn, Some(path.to_path_buf()))?;
        checkpoint_in_background(path, Arc::downgrade(&store.conn))?;
        Ok(store)
    }

    /// A private database that lives as long as the store; for tests.
    pub fn open_in_memory() -> Result<SqliteStore> {
        let conn = Connection::open_in_memory().ctx("open an in-memory database")?;
        Self::finish(conn, None)
    }

    fn finish(mut conn: Connection, path: Option<PathBuf>) -> Result<SqliteStore> {
        // Off by default in SQLite, per connection: the cascades and references of the
        // schema only hold with it on.
        conn.pragma_update(None, "foreign_keys", "ON").ctx("enable foreign keys")?;
        // Room for every statement a busy API repeats (listings with their filters, the
        // key and nonce statements of each call), so they are parsed once.
        conn.set_prepared_statement_cache_capacity(64);
        migrate::migrate(&mut conn, migrate::MIGRATIONS).map_err(|e| match (&path, e) {
            (Some(p), StoreError::Backend(m)) => StoreError::Backend(format!("{}: {m}", p.display())),
            (_, e) => e,
        })?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), path, nonces: Arc::default(), writes: Arc::default(), listings: Arc::default() })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        migrate::current_version(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.run(TransactionBehavior::Deferred, f).await
    }

    /// A read of a few microseconds (one row by its key): run where the caller is when the
    /// connection is free, since handing it to a blocking thread and back costs more than
    /// the read; on a blocking thread when it would have to wait.
    async fn quick_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        if let Ok(mut conn) = self.conn.try_lock() {
            return transact_on(&mut conn, TransactionBehavior::Deferred, f);
        }
        self.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let writes = Arc::clone(&self.writes);
        self.run(TransactionBehavior::Immediate, move |tx| {
            let out = f(tx);
            // Counted before the commit and while the connection is held: no read can
            // begin between this write's commit and the count that outdates its caches.
            writes.fetch_add(1, Ordering::SeqCst);
            out
        })
        .await
    }

    /// Runs `f` as one transaction on a blocking thread; an error from `f` rolls it back.
    async fn run<T, F>(&self, behavior: TransactionBehavior, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || transact(&conn, behavior, f))
            .await
            .map_err(|e| StoreError::Backend(format!("metadata call did not complete: {e}")))?
    }
}

/// Runs `f` as one transaction on the calling thread; an error from `f` rolls it back.
fn transact<T>(conn: &Mutex<Connection>, behavior: TransactionBehavior, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    transact_on(&mut lock(conn), behavior, f)
}

fn transact_on<T>(conn: &mut Connection, behavior: TransactionBehavior, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    let tx = conn.transaction_with_behavior(behavior).ctx("begin a transaction")?;
    let out = f(&tx)?;
    tx.commit().ctx("commit a transaction")?;
    Ok(out)
}

/// A panic inside a call drops its transaction, which rolls it back, so the connection
/// behind a poisoned mutex is still sound: carry on rather than fail every later call.
/// (The nonce queue's state is made whole by its recorder's guard, as below.)
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("open {}: {e}", path.display()))
}

/// Creates the file owner-only before SQLite opens it; SQLite gives its `-wal` and `-shm`
/// files the same mode. A file found with a wider mode is narrowed: it holds secrets.
fn create_private(path: &Path) -> Result<()> {
    let io = |doing: &str, e: std::io::Error| StoreError::Backend(format!("{doing} {}: {e}", path.display()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", e))?;
    let mode = file.metadata().map_err(|e| io("stat", e))?.permissions().mode() & 0o777;
    if mode != 0o600 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "metadata file was readable by others; setting mode 0600");
        file.set_permissions(Permissions::from_mode(0o600)).map_err(|e| io("chmod", e))?;
    }
    Ok(())
}


/// The states kept as text: written with `as_str`, read with `parse` (an unknown text is
/// a conversion error, never a silent default).
macro_rules! text_column {
    ($($t:ty),+) => {$(
        impl rusqlite::types::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $t {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                <$t>::parse(text).ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("unknown {} {text:?}", stringify!($t)).into()))
            }
        }
    )+};
}

text_column!(crate::InstanceStatus, crate::ImportStatus, crate::ImportPhase, crate::BackupStatus, crate::BackupMode, crate::ParameterChangeStatus);
