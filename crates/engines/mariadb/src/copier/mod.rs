//! The MariaDB copier: the contract every copier keeps (complete, consistent, verified,
//! invisible until published) with MariaDB's own means, as the steps
//! ([`mover::CopySteps`]) of the pipeline every engine's copy shares:
//!
//! 1. **Snapshot and plan**: a brief `FLUSH TABLES WITH READ LOCK`, during which every
//!    worker's source session starts `WITH CONSISTENT SNAPSHOT` and the schema is read
//!    (MariaDB's catalogue is not transactional: the lock makes schema and rows agree);
//!    then the lock is released. How long source writes were blocked is reported.
//! 2. **Schema**: per database a staging database with the source's character set, and
//!    its tables from `SHOW CREATE TABLE`, secondary keys left out where they can be
//!    built later ([`schema::defer_keys`]).
//! 3. **Data**: one pool of workers over all tables of all databases, largest first,
//!    large tables in primary-key ranges; rows stream from a `SELECT` into
//!    `LOAD DATA LOCAL INFILE` with no file in between ([`data`]). As soon as a table is
//!    loaded its deferred keys are built and it is verified: rows read against rows
//!    loaded and counted, or `CHECKSUM TABLE` on both sides (the source's in the
//!    snapshot) under full verification or after a load that warned ([`finish_table`]).
//! 4. **Objects**: views, routines and triggers are created in the staging database to
//!    prove they can be (triggers dropped again: a table with triggers cannot move to
//!    another database), and recorded in the staging database's journal.
//! 5. **Publish**: one `RENAME TABLE` moves every table of every database to its final
//!    name, then the journal's objects are created there and the staging databases
//!    dropped ([`publish`]). On any failure or cancel before that, the staging databases
//!    are dropped and the destination is as it was; the source is only ever read.

mod conn;
mod data;
mod plan;
mod publish;
mod schema;

/// Copies between MariaDB servers over their own protocol (no client tool).
#[derive(Debug, Clone, Copy, Default)]
pub struct MariaDbCopier;

use conn::{error, ident, qualified, MariaDbEndpoint, LOAD_SETTINGS};
use mover::pool::{JobQueue, Lane, Worker};
use mover::progress::{DbCounter, Phase, TableCounter, TableState};
use mover::{staging_name, CopyRequest, CopySteps, Endpoint, Hooks, Run};
use mover::{CopyReport, DatabaseReport, LargeObjectReport, SequenceReport, TableReport};
use mover::{MoveError, Result, Side, Verification};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use plan::{DbPlan, Table};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Tables larger than this are copied in primary-key ranges of about this size, so that
/// every worker stays busy to the end (one worker loading the last big table alone was
/// mydumper's tail in the baseline).
const CHUNK_BYTES: u64 = 64 << 20;
/// How long the snapshot's global read lock may wait for running statements.
const LOCK_WAIT_SECS: u32 = 30;
/// Upper bound on the ranges of one table.
const MAX_CHUNKS: u64 = 64;

/// Copies each source database of `names` (source name, destination name) from `source`
/// to `dest` (both MariaDB), and publishes them all under their destination names once
/// every one is complete and verified. A destination database must not exist or hold no
/// user objects. On any error the task's staging databases are dropped before
/// returning; if even that fails, [`drop_staging`] with the same tag finishes it.
pub async fn copy_databases(request: CopyRequest) -> Result<CopyReport> {
    mover::pipeline::run(&MariaDbCopier, request).await
}

/// Drops every staging database of the task tagged `staging_tag` on `dest`, ending any
/// session in them. Never touches a published database.
pub async fn drop_staging(dest: &Endpoint, staging_tag: &str) -> Result<()> {
    let mut conn = dest.connect_mariadb(Side::Destination).await?;
    publish::drop_all(&mut conn, staging_tag).await
}

/// One database being copied.
struct DbRun {
    plan: DbPlan,
    destination: String,
    staging: String,
    replaced_existing: bool,
    counter: Arc<DbCounter>,
    tables: Vec<Arc<TableRun>>,
}

/// One table during the data phase.
struct TableRun {
    source_db: String,
    staging: String,
    destination: String,
    plan: Table,
    deferred_keys: Vec<String>,
    counter: Arc<TableCounter>,
    db_counter: Arc<DbCounter>,
    chunks_left: AtomicUsize,
    rows_read: AtomicU64,
    rows_loaded: AtomicU64,
    load_warnings: AtomicU64,
    report: Mutex<Option<TableReport>>,
}

struct Chunk {
    table: Arc<TableRun>,
    range: Option<String>,
    bytes: u64,
    /// The table: loads into one table contend for its index's latches (four side by
    /// side spent about 1.75x the CPU per row of four into different tables,
    /// bench/RESULTS.md), so a worker loads another table's range while there is one.
    /// Where the destination would make a second load wait for the first, never two.
    lane: Lane,
}

/// The plan step's result: the source in its snapshot, the destination checked.
pub struct Planned {
    snapshot: Snapshot,
    admin: Conn,
    /// Per database: whether its destination exists (empty) and is replaced.
    replaced: Vec<bool>,
}

/// The staging databases with their tables, and the chunks to load into them.
pub struct Staged {
    snapshot: Snapshot,
    admin: Conn,
    dbs: Vec<DbRun>,
    chunks: Vec<Chunk>,
}

/// Every table loaded and verified.
pub struct Loaded {
    admin: Conn,
    dbs: Vec<DbRun>,
    write_block_ms: u64,
}

pub struct Built {
    dbs: Vec<DbRun>,
    write_block_ms: u64,
    /// Accounts granted on a source database that the destination does not have.
    missing_accounts: Vec<String>,
    created_accounts: Vec<String>,
}

#[async_trait::async_trait]
impl CopySteps for MariaDbCopier {
    type Planned = Planned;
    type Staged = Staged;
    type Loaded = Loaded;
    type Built = Built;

    async fn plan(&self, run: &Run) -> Result<Planned> {
        let mut admin = run.dest.connect_mariadb(Side::Destination).await?;
        // Leftovers of an earlier attempt of the same task.
        publish::drop_all(&mut admin, run.tag()).await?;
        let mut replaced = Vec::new();
        for (_, destination) in &run.names {
            replaced.push(check_destination(&mut admin, destination).await?);
        }
        let snapshot = snapshot(run).await?;
        Ok(Planned { snapshot, admin, replaced })
    }

    async fn schema(&self, run: &Run, planned: Planned) -> Result<Staged> {
        let Planned { mut snapshot, mut admin, replaced } = planned;
        let mut dbs = Vec::new();
        for (((_, destination), plan), replaced_existing) in run.names.iter().zip(std::mem::take(&mut snapshot.plans)).zip(replaced) {
            let staging = staging_name(destination, run.tag());
            let counter = run.progress.register_db(&plan.name, destination);
            dbs.push(DbRun { plan, destination: destination.clone(), staging, replaced_existing, counter, tables: Vec::new() });
        }
        run.hooks.fail("after_roles")?;
        let serial_auto_increment = locks_auto_increment_per_load(&mut admin).await?;
        let mut chunks = Vec::new();
        for db in &mut dbs {
            create_tables(&mut admin, db).await?;
            for t in &db.tables {
                let n = plan_chunks(t, !(serial_auto_increment && t.plan.auto_increment));
                t.chunks_left.store(n.len(), Ordering::SeqCst);
                chunks.extend(n);
            }
        }
        Ok(Staged { snapshot, admin, dbs, chunks })
    }

    async fn data(&self, run: &Run, staged: Staged) -> Result<Loaded> {
        let Staged { snapshot, admin, dbs, mut chunks } = staged;
        let mut workers = Vec::new();
        for reader in snapshot.readers {
            let mut loader = run.dest.connect_mariadb(Side::Destination).await?;
            loader.query_drop(LOAD_SETTINGS).await.map_err(|e| error(Side::Destination, "configure session", e))?;
            workers.push(MariaDbWorker { reader, loader, hooks: run.hooks.clone(), verification: run.opts.verification });
        }
        // Tables without a snapshot are copied first, while the read lock still holds.
        let write_block_ms = match snapshot.lock {
            Held::Released(ms) => ms,
            Held::Locked(mut lock, since) => {
                let locked_chunks;
                (locked_chunks, chunks) = chunks.into_iter().partition(|c| !c.table.plan.transactional);
                for chunk in &locked_chunks {
                    workers[0].load(chunk).await?;
                }
                lock.query_drop("UNLOCK TABLES").await.map_err(|e| error(Side::Source, "unlock the source", e))?;
                since.elapsed().as_millis() as u64
            }
        };
        tracing::info!(write_block_ms, "source writes were blocked this long for the snapshot");
        // Largest first; the ranges of one table follow each other, so early on several
        // workers share the biggest tables and the small ones fill the end.
        chunks.sort_by(|a, b| b.table.plan.bytes.cmp(&a.table.plan.bytes).then(b.bytes.cmp(&a.bytes)));
        mover::pool::run(chunks, workers, &run.hooks).await?;
        Ok(Loaded { admin, dbs, write_block_ms })
    }

    async fn post_data(&self, _run: &Run, loaded: Loaded) -> Result<Built> {
        let Loaded { mut admin, dbs, write_block_ms } = loaded;
        let mut missing_accounts = std::collections::BTreeSet::new();
        let mut created_accounts = std::collections::BTreeSet::new();
        for db in &dbs {
            for q in &db.plan.sequences {
                let copied = plan::sequence_state(&mut admin, &db.staging, &q.name, Side::Destination).await?;
                if copied != q.state {
                    return Err(MoveError::VerificationFailed {
                        database: db.destination.clone(),
                        table: q.name.clone(),
                        detail: format!("sequence state {:?} on the source, {:?} on the copy", q.state, copied),
                    });
                }
            }
            let grants = grants_for(&mut admin, db, &mut created_accounts, &mut missing_accounts).await?;
            let objects = prove_objects(&mut admin, db, &grants).await?;
            publish::write_journal(&mut admin, &db.staging, &db.destination, &db.plan, &journal_entries(db, &grants, objects)).await?;
            db.counter.set_phase(Phase::PostData);
        }
        Ok(Built {
            dbs,
            write_block_ms,
            missing_accounts: missing_accounts.into_iter().collect(),
            created_accounts: created_accounts.into_iter().collect(),
        })
    }

    /// Nothing is published that was not loaded and verified, whatever path it took.
    fn verify(&self, _run: &Run, built: &Built) -> Result<()> {
        for t in built.dbs.iter().flat_map(|d| &d.tables) {
            if !t.report.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|r| r.verified) {
                return Err(MoveError::Internal(format!("table {} of database {} was not verified", t.plan.name, t.source_db)));
            }
        }
        Ok(())
    }

    async fn publish(&self, run: &Run, built: Built) -> Result<CopyReport> {
        publish(run, built).await
    }

    async fn cleanup(&self, dest: &Endpoint, staging_tag: &str) -> Result<()> {
        drop_staging(dest, staging_tag).await
    }

    /// The mark is the tables each destination database receives, and its views.
    async fn published(&self, dest: &Endpoint, staging_tag: &str, mark: &serde_json::Value) -> Result<bool> {
        publish::published(dest, staging_tag, mark).await
    }
}

/// The grants of `db`. An account the destination lacks is made there locked, without a
/// password (a role, as a role), so the grants land and the account shows without a
/// login until it is given one (CreateAccount, ResetAccountPassword); those made go into
/// `created`. One that cannot be made goes into `missing`, and its grants are left out.
async fn grants_for(
    admin: &mut Conn,
    db: &DbRun,
    created: &mut std::collections::BTreeSet<String>,
    missing: &mut std::collections::BTreeSet<String>,
) -> Result<Vec<plan::Grant>> {
    let accounts: Vec<(String, String, String)> =
        admin.query("SELECT User, Host, is_role FROM mysql.user").await.map_err(|e| error(Side::Destination, "list accounts", e))?;
    let mut out = Vec::new();
    for g in &db.plan.grants {
        let exists = accounts.iter().any(|(u, h, role)| *u == g.user && *h == g.host && (role == "Y") == g.is_role);
        if !exists && !created.contains(&g.grantee()) {
            let sql = if g.is_role {
                format!("CREATE ROLE IF NOT EXISTS {}", g.grantee())
            } else {
                format!("CREATE USER IF NOT EXISTS {} ACCOUNT LOCK", g.grantee())
            };
            if let Err(e) = admin.query_drop(sql).await {
                let e = error(Side::Destination, "create an account the copied grants name", e);
                if e.is_retryable() {
                    return Err(e);
                }
                tracing::warn!(grantee = %g.grantee(), error = %e, "cannot create a missing account; its grants are left out");
                missing.insert(g.grantee());
                continue;
            }
            created.insert(g.grantee());
        }
        if missing.contains(&g.grantee()) {
            continue;
        }
        out.push(g.clone());
    }
    Ok(out)
}

/// What publication creates under the final name, in order: the database itself, the
/// grants on it and its tables, then every object followed by the grants on it (a view
/// can only be made once its definer may execute what it calls).
fn journal_entries(db: &DbRun, grants: &[plan::Grant], objects: Vec<plan::Routine>) -> Vec<publish::Entry> {
    let on = |kind: &str, name: &str| {
        grants
            .iter()
            .filter(|g| g.object.as_ref().is_some_and(|(k, n)| n == name && (k == kind || (k == "TABLE" && kind == "VIEW"))))
            .cloned()
            .map(publish::Entry::Grant)
            .collect::<Vec<_>>()
    };
    let mut entries: Vec<publish::Entry> = grants.iter().filter(|g| g.object.is_none()).cloned().map(publish::Entry::Grant).collect();
    for relation in relations(db) {
        entries.extend(on("TABLE", &relation));
    }
    for o in objects {
        let (kind, name) = (o.kind.clone(), o.name.clone());
        entries.push(publish::Entry::Object(o));
        entries.extend(on(&kind, &name));
    }
    entries
}

/// The source's read lock: released once the snapshot is taken (`Released` with how long
/// writes were blocked), or still held (`Locked`, since when) because tables of engines
/// without snapshots must be copied under it.
enum Held {
    Released(u64),
    Locked(Conn, Instant),
}

struct Snapshot {
    readers: Vec<Conn>,
    plans: Vec<DbPlan>,
    lock: Held,
}

/// The brief global read lock: every reader starts its consistent snapshot and the
/// tables are planned while it is held; then it is released, unless a table has no
/// snapshot to be read in.
async fn snapshot(run: &Run) -> Result<Snapshot> {
    let mut readers = Vec::with_capacity(run.jobs());
    for _ in 0..run.jobs() {
        readers.push(run.source.connect_mariadb(Side::Source).await?);
    }
    let mut lock = run.source.connect_mariadb(Side::Source).await?;
    let src = |what: &'static str| move |e| error(Side::Source, what, e);
    // FTWRL first blocks writes, then waits for running statements to close their
    // tables: behind a long query, writes would stay blocked. Give up instead.
    lock.query_drop(format!("SET SESSION lock_wait_timeout = {LOCK_WAIT_SECS}")).await.map_err(src("configure session"))?;
    let locked = Instant::now();
    lock.query_drop("FLUSH TABLES WITH READ LOCK").await.map_err(|e| match e {
        mysql_async::Error::Server(s) if s.code == 1205 => MoveError::Internal(format!(
            "the source's global read lock for a consistent snapshot was not granted within {LOCK_WAIT_SECS} s (a long-running statement holds tables open); retry when it has finished"
        )),
        e => error(Side::Source, "lock the source for a snapshot", e),
    })?;
    let begun = futures_util::future::try_join_all(readers.iter_mut().map(|r| async move {
        r.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await?;
        r.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").await
    }))
    .await;
    let planned = match begun {
        Ok(_) => read_plans(&mut readers[0], &run.names).await,
        Err(e) => Err(error(Side::Source, "start a snapshot", e)),
    };
    // On one server the copy's own writes would wait for the lock: then those tables are
    // read after it like the others (consistent only if nothing writes them meanwhile).
    let hold = matches!(&planned, Ok(plans) if plans.iter().any(|p| p.tables.iter().any(|t| !t.transactional)))
        && !same_server(&mut readers[0], &run.dest).await?;
    let held = if hold {
        Held::Locked(lock, locked)
    } else {
        let unlocked = lock.query_drop("UNLOCK TABLES").await;
        let ms = locked.elapsed().as_millis() as u64;
        drop(lock);
        if planned.is_ok() {
            unlocked.map_err(src("unlock the source"))?;
        }
        Held::Released(ms)
    };
    let mut plans = planned?;
    readers[0].query_drop("SET SESSION character_set_results = utf8mb4").await.map_err(src("configure session"))?;
    for p in &mut plans {
        plan::read_objects(&mut readers[0], p).await?;
    }
    readers[0].query_drop("SET SESSION character_set_results = binary").await.map_err(src("configure session"))?;
    Ok(Snapshot { readers, plans, lock: held })
}

/// Whether `dest` is the server `source` is connected to (its data directory and port).
async fn same_server(source: &mut Conn, dest: &Endpoint) -> Result<bool> {
    let query = "SELECT @@datadir, @@port, @@hostname";
    let here: Option<(String, u64, String)> = source.query_first(query).await.map_err(|e| error(Side::Source, "identify the server", e))?;
    let mut d = dest.connect_mariadb(Side::Destination).await?;
    let there: Option<(String, u64, String)> = d.query_first(query).await.map_err(|e| error(Side::Destination, "identify the server", e))?;
    Ok(here == there)
}

async fn read_plans(reader: &mut Conn, names: &[(String, String)]) -> Result<Vec<DbPlan>> {
    // DDL is read as text; rows later as stored bytes.
    reader.query_drop("SET SESSION character_set_results = utf8mb4").await.map_err(|e| error(Side::Source, "configure session", e))?;
    let mut plans = Vec::new();
    for (source, _) in names {
        let mut p = plan::read(reader, source).await?;
        for t in &mut p.tables {
            if let Some(key) = t.int_key.clone().filter(|_| t.bytes > CHUNK_BYTES) {
                t.key_range = plan::key_range(reader, source, &t.name, &key).await?;
            }
        }
        plans.push(p);
    }
    reader.query_drop("SET SESSION character_set_results = binary").await.map_err(|e| error(Side::Source, "configure session", e))?;
    Ok(plans)
}

/// Whether `db` exists on the destination (it is then replaced); an error if it holds
/// anything.
async fn check_destination(admin: &mut Conn, db: &str) -> Result<bool> {
    let exists: Option<String> = admin
        .exec_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (db,))
        .await
        .map_err(|e| error(Side::Destination, "look up the destination database", e))?;
    if exists.is_none() {
        return Ok(false);
    }
    let count: Option<u64> = admin
        .exec_first(
            "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) \
             + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) \
             + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?) \
             + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)",
            (db, db, db, db),
        )
        .await
        .map_err(|e| error(Side::Destination, "inspect the destination database", e))?;
    match count.unwrap_or(0) {
        0 => Ok(true),
        n => Err(MoveError::DestinationNotEmpty { database: db.to_string(), detail: format!("{n} objects") }),
    }
}

async fn create_tables(admin: &mut Conn, db: &mut DbRun) -> Result<()> {
    let dst = |what: &'static str| move |e| error(Side::Destination, what, e);
    admin
        .query_drop(format!(
            "CREATE DATABASE {} CHARACTER SET {} COLLATE {} COMMENT {}",
            ident(&db.staging),
            conn::literal(&db.plan.charset),
            conn::literal(&db.plan.collation),
            conn::literal(&db.plan.comment)
        ))
        .await
        .map_err(dst("create a staging database"))?;
    admin.query_drop(format!("USE {}", ident(&db.staging))).await.map_err(dst("use the staging database"))?;
    admin.query_drop(LOAD_SETTINGS).await.map_err(dst("configure session"))?;
    for q in &db.plan.sequences {
        admin.query_drop(q.create.as_str()).await.map_err(|e| error(Side::Destination, &format!("create sequence {}", q.name), e))?;
        // Its state as the snapshot saw it: the next value not yet handed out, and the cycle.
        admin
            .query_drop(format!("SELECT SETVAL({}, {}, 0, {})", qualified(&db.staging, &q.name), q.next_not_cached_value, q.cycle_count))
            .await
            .map_err(|e| error(Side::Destination, &format!("set sequence {}", q.name), e))?;
    }
    let creates: Vec<&str> = db.plan.tables.iter().map(|t| t.create.as_str()).collect();
    let referenced = schema::referenced_tables(&creates);
    for t in &db.plan.tables {
        let (create, deferred_keys) = schema::defer_keys(&t.create, referenced.contains(&t.name));
        admin.query_drop(create).await.map_err(|e| error(Side::Destination, &format!("create table {}", t.name), e))?;
        db.counter.indexes_total.fetch_add(deferred_keys.len() as u64, Ordering::Relaxed);
        let parts = if t.key_range.is_some() { (t.bytes / CHUNK_BYTES + 1).min(MAX_CHUNKS) } else { 1 };
        // A table is shown in the database it lands in: on MariaDB the schema is the database.
        let counter = db.counter.register_table(&db.destination, &t.name, t.rows_estimate, t.bytes, parts);
        db.tables.push(Arc::new(TableRun {
            source_db: db.plan.name.clone(),
            staging: db.staging.clone(),
            destination: db.destination.clone(),
            plan: t.clone(),
            deferred_keys,
            counter,
            db_counter: db.counter.clone(),
            chunks_left: AtomicUsize::new(0),
            rows_read: AtomicU64::new(0),
            rows_loaded: AtomicU64::new(0),
            load_warnings: AtomicU64::new(0),
            report: Mutex::new(None),
        }));
    }
    Ok(())
}

/// Whether the destination holds a table's AUTO-INC lock for the whole of a `LOAD DATA`
/// (`innodb_autoinc_lock_mode` below 2; 1, "consecutive", is MariaDB's default: a load's
/// row count is not known in advance), so that two loads into one table with an
/// AUTO_INCREMENT column run one after the other, even with every value given.
async fn locks_auto_increment_per_load(admin: &mut Conn) -> Result<bool> {
    let mode: Option<u64> =
        admin.query_first("SELECT @@innodb_autoinc_lock_mode").await.map_err(|e| error(Side::Destination, "read innodb_autoinc_lock_mode", e))?;
    Ok(mode.is_none_or(|m| m < 2))
}

/// The ranges `t` is read in: one chunk for the whole table unless it is large and has a
/// single integer key. The ranges share the table's lane ([`Chunk::lane`]); `shareable`
/// when two may load at once.
fn plan_chunks(t: &Arc<TableRun>, shareable: bool) -> Vec<Chunk> {
    let lane = Lane { name: format!("{}.{}", t.staging, t.plan.name), shareable };
    let whole = || vec![Chunk { table: t.clone(), range: None, bytes: t.plan.bytes, lane: lane.clone() }];
    let (Some(key), Some((lo, hi))) = (&t.plan.int_key, t.plan.key_range) else { return whole() };
    let parts = t.counter.parts.max(1) as i128;
    if parts == 1 {
        return whole();
    }
    let step = ((hi - lo) / parts).max(1);
    let k = ident(key);
    let mut out = Vec::new();
    let mut start = lo;
    for i in 0..parts {
        let range = if i == 0 {
            format!("{k} < {}", start + step)
        } else if i == parts - 1 || start + step > hi {
            format!("{k} >= {start}")
        } else {
            format!("{k} >= {start} AND {k} < {}", start + step)
        };
        out.push(Chunk { table: t.clone(), range: Some(range), bytes: t.plan.bytes / parts as u64, lane: lane.clone() });
        start += step;
        if start > hi {
            break;
        }
    }
    out
}

/// One worker of the data step: its snapshot session on the source and load session on
/// the destination.
struct MariaDbWorker {
    reader: Conn,
    loader: Conn,
    hooks: Hooks,
    verification: Verification,
}

impl MariaDbWorker {
    /// Loads `chunk`; the last chunk of a table finishes it (keys, verification).
    async fn load(&mut self, chunk: &Chunk) -> Result<()> {
        load_chunk(&mut self.reader, &mut self.loader, chunk).await?;
        if chunk.table.chunks_left.fetch_sub(1, Ordering::SeqCst) == 1 {
            finish_table(&mut self.reader, &mut self.loader, &chunk.table, &self.hooks, self.verification).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Worker for MariaDbWorker {
    type Job = Chunk;

    async fn run(&mut self, chunk: Chunk, _queue: &JobQueue<Chunk>) -> Result<()> {
        self.load(&chunk).await
    }

    fn lane(chunk: &Chunk) -> Option<Lane> {
        Some(chunk.lane.clone())
    }
}

async fn load_chunk(reader: &mut Conn, loader: &mut Conn, chunk: &Chunk) -> Result<()> {
    let t = &chunk.table;
    t.counter.set_state(TableState::Copying);
    let select = data::select_sql(&t.source_db, &t.plan.name, &t.plan.columns, chunk.range.as_deref());
    let load = data::load_sql(&t.staging, &t.plan.name, &t.plan.columns);
    let began = Instant::now();
    let streamed = data::stream(reader, loader, &select, &load, &t.counter).await?;
    tracing::debug!(table = %t.plan.name, range = chunk.range.as_deref().unwrap_or("all"), rows = streamed.read, ms = began.elapsed().as_millis() as u64, "range loaded");
    t.rows_read.fetch_add(streamed.read, Ordering::SeqCst);
    t.rows_loaded.fetch_add(streamed.loaded, Ordering::SeqCst);
    t.load_warnings.fetch_add(streamed.warnings, Ordering::SeqCst);
    t.counter.parts_done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Once every range of `t` is loaded: its deferred keys, then verification
/// (docs/decisions.md, "What an import's verification proves"). By default the rows read
/// from the snapshot, the rows the load reports and the rows the committed table counts
/// must agree, with no warning from the load; a load that warned, and every table under
/// `full`, is compared with `CHECKSUM TABLE` on both sides instead (the source's in the
/// snapshot), which reads every row of both.
async fn finish_table(reader: &mut Conn, loader: &mut Conn, t: &TableRun, hooks: &Hooks, verification: Verification) -> Result<()> {
    t.counter.settle();
    t.counter.set_state(TableState::Loaded);
    let staged = qualified(&t.staging, &t.plan.name);
    let (read, loaded) = (t.rows_read.load(Ordering::SeqCst), t.rows_loaded.load(Ordering::SeqCst));
    let warned = t.load_warnings.load(Ordering::SeqCst) > 0;
    let read_back = verification == Verification::ReadBack || warned;
    if warned && verification == Verification::Stream {
        tracing::info!(table = %t.plan.name, "the load stored a value with a warning; comparing the table with CHECKSUM TABLE on both sides");
    }
    let build_keys = async {
        if !t.deferred_keys.is_empty() {
            loader
                .query_drop(format!("ALTER TABLE {staged} {}", t.deferred_keys.join(", ")))
                .await
                .map_err(|e| error(Side::Destination, &format!("build the keys of {}", t.plan.name), e))?;
        }
        if let Some(sql) = hooks.tamper_sql(&t.destination, &t.plan.name) {
            loader.query_drop(sql).await.map_err(|e| error(Side::Destination, "tamper", e))?;
        }
        if read_back {
            checksum(loader, &staged, Side::Destination).await
        } else {
            count(loader, &staged).await.map(|n| n.to_string())
        }
    };
    let source_table = qualified(&t.source_db, &t.plan.name);
    let source_sum = async {
        if read_back {
            checksum(reader, &source_table, Side::Source).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let began = Instant::now();
    let (dest_sum, source_sum) = tokio::join!(build_keys, source_sum);
    tracing::debug!(table = %t.plan.name, keys = t.deferred_keys.len(), ms = began.elapsed().as_millis() as u64, "keys built and table verified");
    let (dest_sum, source_sum) = (dest_sum?, source_sum?);
    let fail = |detail: String| MoveError::VerificationFailed { database: t.destination.clone(), table: t.plan.name.clone(), detail };
    if read != loaded {
        return Err(fail(format!("{read} rows read from the source, {loaded} loaded")));
    }
    let (source_checksum, destination_checksum) = match source_sum {
        Some(source_sum) => {
            if source_sum != dest_sum {
                return Err(fail(format!("CHECKSUM TABLE {source_sum} on the source, {dest_sum} on the copy")));
            }
            (format!("{read}:{source_sum}"), format!("{loaded}:{dest_sum}"))
        }
        None => {
            if dest_sum != read.to_string() {
                return Err(fail(format!("{read} rows read from the source and loaded, {dest_sum} in the committed copy")));
            }
            (read.to_string(), dest_sum)
        }
    };
    t.db_counter.indexes_done.fetch_add(t.deferred_keys.len() as u64, Ordering::Relaxed);
    t.counter.set_state(TableState::Verified);
    *t.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(TableReport {
        schema: t.destination.clone(),
        name: t.plan.name.clone(),
        rows: loaded,
        bytes: t.counter.bytes_done.load(Ordering::Relaxed),
        parts: t.counter.parts,
        format: "load-data".into(),
        source_checksum,
        destination_checksum,
        verified: true,
    });
    Ok(())
}

/// The rows of the committed `table`, counted on its clustered index. Not on a secondary
/// index, which the optimiser prefers as the smaller: a key just built carries the
/// building transaction's id, newer than the loads other workers still run, so InnoDB
/// could not trust its records without looking each up in the clustered index (a
/// million random reads, four times the time of the scan).
async fn count(conn: &mut Conn, table: &str) -> Result<u64> {
    let n: Option<u64> = conn.query_first(format!("SELECT COUNT(*) FROM {table} USE INDEX ()")).await.map_err(|e| error(Side::Destination, "count the loaded rows", e))?;
    n.ok_or_else(|| MoveError::Internal(format!("destination: SELECT COUNT(*) FROM {table} returned no row")))
}

async fn checksum(conn: &mut Conn, table: &str, side: Side) -> Result<String> {
    let row: Option<(String, Option<u64>)> =
        conn.query_first(format!("CHECKSUM TABLE {table} EXTENDED")).await.map_err(|e| error(side, "checksum a table", e))?;
    match row {
        Some((_, Some(sum))) => Ok(sum.to_string()),
        _ => Err(MoveError::Internal(format!("{side}: CHECKSUM TABLE {table} returned no checksum"))),
    }
}

/// Creates the views, routines, triggers and events in the staging database, so that
/// one that cannot be created fails the copy before anything is published. Objects are
/// tried until no more can be made (a view may depend on another, or on a function).
/// Accounts get, on the staging name, only the read and EXECUTE privileges they hold on
/// the source (what creating a definer's views checks), never write access to the
/// verified tables. Triggers and
/// events are dropped again (events are made disabled, so none fires on the staging
/// tables). Returns every object in an order that creates them all.
async fn prove_objects(admin: &mut Conn, db: &DbRun, grants: &[plan::Grant]) -> Result<Vec<plan::Routine>> {
    let dst = |what: String| move |e| error(Side::Destination, &what, e);
    let staging_grants = |object: Option<(&str, &str)>| -> Vec<plan::Grant> {
        grants
            .iter()
            .filter(|g| g.object.as_ref().map(|(k, n)| (k.as_str(), n.as_str())) == object)
            .filter_map(plan::Grant::for_staging)
            .collect()
    };
    let tables = relations(db);
    let on_tables = grants
        .iter()
        .filter(|g| g.object.as_ref().is_none_or(|(k, n)| k == "TABLE" && tables.contains(n)))
        .filter_map(plan::Grant::for_staging);
    for g in on_tables {
        for sql in g.statements(&db.staging) {
            admin.query_drop(sql).await.map_err(dst(format!("grant to {}", g.grantee())))?;
        }
    }
    let mut pending: Vec<&plan::Routine> = db.plan.objects.iter().collect();
    let mut ordered: Vec<plan::Routine> = Vec::new();
    while !pending.is_empty() {
        let mut left = Vec::new();
        let mut last_error = None;
        for o in pending.iter().copied() {
            let proof = if o.kind == "EVENT" { schema::disabled_event(o) } else { o.clone() };
            let mut failed = None;
            for sql in schema::create_statements(&proof, &db.plan.name, &db.staging, false) {
                if let Err(e) = admin.query_drop(sql).await {
                    failed = Some(e);
                    break;
                }
            }
            match failed {
                None => {
                    for g in staging_grants(Some((o.kind.as_str(), o.name.as_str()))) {
                        for sql in g.statements(&db.staging) {
                            admin.query_drop(sql).await.map_err(dst(format!("grant to {}", g.grantee())))?;
                        }
                    }
                    ordered.push(o.clone());
                }
                Some(e) => {
                    left.push(o);
                    last_error = Some((o, e));
                }
            }
        }
        if left.len() == pending.len() {
            let (o, e) = last_error.expect("an object failed");
            return Err(error(Side::Destination, &format!("create {} {} of database {}", o.kind.to_lowercase(), o.name, db.plan.name), e));
        }
        pending = left;
    }
    for o in &ordered {
        let drop = match o.kind.as_str() {
            "TRIGGER" => format!("DROP TRIGGER {}", qualified(&db.staging, &o.name)),
            "EVENT" => format!("DROP EVENT {}", qualified(&db.staging, &o.name)),
            _ => continue,
        };
        admin.query_drop(drop).await.map_err(dst(format!("drop {} {}", o.kind.to_lowercase(), o.name)))?;
    }
    admin.query_drop(LOAD_SETTINGS).await.map_err(dst("reset the session".into()))?;
    Ok(ordered)
}

async fn publish(run: &Run, built: Built) -> Result<CopyReport> {
    let mut admin = run.dest.connect_mariadb(Side::Destination).await?;
    let mut mark = serde_json::Map::new();
    for db in &built.dbs {
        let objects: Vec<(String, String)> = db.plan.objects.iter().map(|o| (o.kind.clone(), o.name.clone())).collect();
        mark.insert(db.destination.clone(), serde_json::json!({ "Tables": relations(db), "Objects": objects }));
    }
    if let Some(gate) = &run.opts.before_publish {
        gate.pass(serde_json::Value::Object(mark)).await?;
    }
    // Nothing may have appeared under a final name since the copy began: the rename would
    // merge it into the published database.
    let mut created = Vec::new();
    for db in &built.dbs {
        if !check_destination(&mut admin, &db.destination).await? {
            created.push(db.destination.clone());
        }
        publish::prepare_final(&mut admin, &db.destination, &db.plan.charset, &db.plan.collation, &db.plan.comment).await?;
    }
    // One statement moves every table and marks every journal published: atomic.
    let mut moves: Vec<String> = Vec::new();
    for db in &built.dbs {
        moves.extend(relations(db).iter().map(|t| format!("{} TO {}", qualified(&db.staging, t), qualified(&db.destination, t))));
        moves.push(format!("{} TO {}", qualified(&db.staging, publish::JOURNAL), qualified(&db.staging, publish::PUBLISHED)));
    }
    if let Err(e) = admin.query_drop(format!("RENAME TABLE {}", moves.join(", "))).await {
        for db in &created {
            let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {}", ident(db))).await;
        }
        return Err(error(Side::Destination, "publish (rename the tables)", e));
    }
    run.hooks.fail("after_publish")?;
    // Published: whatever fails from here is finished again by whoever drops the staging
    // databases (see publish::drop_all), or by recovery.
    for db in &built.dbs {
        publish::finish(&mut admin, &db.staging).await?;
    }
    let mut report = CopyReport {
        elapsed_ms: run.started.elapsed().as_millis() as u64,
        source_write_block_ms: Some(built.write_block_ms),
        accounts_missing: built.missing_accounts,
        accounts_created: built.created_accounts,
        verification: run.opts.verification.as_str().into(),
        ..CopyReport::default()
    };
    for db in built.dbs {
        let tables: Vec<TableReport> = db.tables.iter().filter_map(|t| t.report.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect();
        report.rows += tables.iter().map(|t| t.rows).sum::<u64>();
        report.bytes += tables.iter().map(|t| t.bytes).sum::<u64>();
        report.databases.push(DatabaseReport {
            source: db.plan.name.clone(),
            destination: db.destination.clone(),
            staging: db.staging.clone(),
            replaced_existing: db.replaced_existing,
            indexes_built_early: db.tables.iter().map(|t| t.deferred_keys.len()).sum(),
            tables,
            sequences: db
                .plan
                .sequences
                .iter()
                .map(|q| SequenceReport {
                    schema: db.destination.clone(),
                    name: q.name.clone(),
                    last_value: q.next_not_cached_value.parse().unwrap_or(0),
                    is_called: false,
                    verified: true,
                })
                .collect(),
            large_objects: LargeObjectReport { verified: true, ..LargeObjectReport::default() },
            settings_applied: vec![format!("CHARACTER SET {} COLLATE {}", db.plan.charset, db.plan.collation)],
            elapsed_ms: run.started.elapsed().as_millis() as u64,
        });
    }
    Ok(report)
}

/// What the publishing `RENAME TABLE` moves of a database: its tables and sequences.
fn relations(db: &DbRun) -> Vec<String> {
    db.plan.tables.iter().map(|t| t.name.clone()).chain(db.plan.sequences.iter().map(|q| q.name.clone())).collect()
}
