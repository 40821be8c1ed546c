//! The copy itself: the steps of [`copy_databases`] in order, the one worker pool over
//! all tables of all databases, and the cleanup that makes any failure or cancel leave
//! the destination as it was.
//!
//! Cancellation works by dropping: everything up to publication runs inside one future
//! raced against the token; dropping it drops the worker pool (its tasks are aborted),
//! every client (an unfinished COPY IN is then rolled back by the server) and every tool
//! (its process group is killed). The cleanup then drops the staging databases, ending
//! whatever session is still in them. Publication itself is one short transaction and is
//! not raced: once it starts, the copy succeeds or fails on its own terms.

use super::conn::{dest_settings, literal, PgEndpoint, SESSION_SETTINGS};
use mover::Endpoint;
use super::data::{self, LoSummary, TableDigest};
use super::error::{pg_error, Result};
use mover::{MoveError, Side};
use super::plan::{self, DbPlan};
use super::postdata::{self, EarlyIndex, TocEntry};
use mover::progress::{DbCounter, Phase, Progress, TableCounter, TableState};
use super::relay::RawSession;
use mover::{CopyPlan, CopyReport, DatabasePlan, DatabaseReport, LargeObjectReport, SequenceReport, TableReport};
use super::staging::{self, Publication};
use mover::staging_name;
use super::tools::Tools;
use mover::Hooks;
use mover::CopyRequest;
use futures_util::future::try_join_all;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_postgres::Client;

/// Upper bound on the ranges one table is split into, whatever `split_bytes` says
/// (a tiny threshold once planned thousands of COPYs for one table in pgcopydb).
const MAX_PARTS: u64 = 64;

/// Copies each source database of `names` (source name, destination name) from `source`
/// to `dest`, and publishes them all under their destination names once every one is
/// complete and verified.
///
/// Each destination database must not exist, or exist without user objects (it is then
/// replaced). `progress` is updated throughout; `cancel` stops the copy at any point
/// before publication. On any error the staging databases and roles the copy created
/// are dropped before returning; if even that fails (destination gone), call
/// [`super::drop_staging`] with the same tag later.
pub async fn copy_databases(tool_dir: &Path, request: CopyRequest) -> Result<CopyReport, MoveError> {
    let CopyRequest { source, dest, names, opts, progress, cancel } = request;
    let (source, dest, names, opts) = (&source, &dest, &names[..], &opts);
    mover::pipeline::validate(names, opts)?;
    let started = Instant::now();
    let ctx = Ctx {
        source: source.clone(),
        dest: dest.clone(),
        tools: Arc::new(Tools::new(tool_dir)),
        jobs: opts.jobs.max(1),
        split_bytes: opts.split_bytes.max(1),
        tag: opts.staging_tag.clone(),
        hooks: Hooks::new(opts, &cancel),
        before_publish: opts.before_publish.clone(),
        index_memory_mb: opts.index_memory_mb,
    };
    tracing::info!(databases = names.len(), tag = %ctx.tag, "copy starts");
    let built = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(MoveError::Canceled),
        r = build(&ctx, names, &progress) => r,
    };
    let result = match built {
        Ok(b) => publish(&ctx, b, &progress, started).await,
        Err(e) => Err(e),
    };
    mover::pipeline::conclude(result, &cancel, &progress, &ctx.tag, super::drop_staging(dest, &ctx.tag)).await
}

/// Reads what copying the source databases `names` would move, without copying (each
/// database read in one read-only snapshot). An unknown database is an
/// [`MoveError::InvalidRequest`].
pub async fn plan_databases(source: &Endpoint, names: &[String]) -> Result<CopyPlan, MoveError> {
    let mut out = CopyPlan::default();
    for name in names {
        let c = source.connect(name, Side::Source).await?;
        let version = staging::server_version(&c, Side::Source).await?;
        c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| pg_error(Side::Source, "begin", e))?;
        let p = plan::read(&c, version).await?;
        let size: i64 = c
            .query_one("SELECT pg_catalog.pg_database_size(current_database())", &[])
            .await
            .map_err(|e| pg_error(Side::Source, "read database size", e))?
            .get(0);
        out.databases.push(DatabasePlan {
            name: name.clone(),
            size_bytes: size.max(0) as u64,
            encoding: p.info.encoding.clone(),
            collate: p.info.collate.clone(),
            ctype: p.info.ctype.clone(),
            tables: p.tables.len(),
            table_bytes: p.tables.iter().map(|t| t.bytes).sum(),
            rows_estimate: p.tables.iter().map(|t| t.rows_estimate).sum(),
            indexes: p.indexes.len(),
            sequences: p.sequences.len(),
            large_objects: p.large_objects,
            roles: p.roles.iter().cloned().collect(),
        });
    }
    Ok(out)
}

struct Ctx {
    source: Endpoint,
    dest: Endpoint,
    tools: Arc<Tools>,
    jobs: usize,
    split_bytes: u64,
    tag: String,
    hooks: Hooks,
    before_publish: Option<mover::PublishGate>,
    index_memory_mb: u64,
}

/// One table during the data phase.
struct TableRun {
    counter: Arc<TableCounter>,
    binary: bool,
    /// WHERE clauses of its parts; empty when copied whole.
    ranges: Vec<String>,
    remaining: AtomicU64,
    /// Rows loaded by all parts.
    loaded_rows: AtomicU64,
    /// The digest computed on the source, in the snapshot.
    source_digest: Mutex<Option<TableDigest>>,
    /// Verification waits for two things: the table loaded and its source digest.
    verify_gates: AtomicU8,
    /// Verification and index builds still to run once loaded.
    followups: AtomicUsize,
}

impl TableRun {
    /// Opens one gate of verification; true when it can run.
    fn open_verify_gate(&self) -> bool {
        self.verify_gates.fetch_sub(1, Ordering::SeqCst) == 1
    }
}

#[derive(Default)]
struct DbResults {
    tables: Vec<Option<TableReport>>,
    sequences: Vec<SequenceReport>,
    lo: Option<LoSummary>,
    indexes_built: usize,
}

/// One database from staging creation to publication.
struct DbRun {
    src_name: String,
    dst_name: String,
    staging: String,
    snapshot: String,
    plan: DbPlan,
    counter: Arc<DbCounter>,
    tables: Vec<TableRun>,
    early: Vec<EarlyIndex>,
    early_by_table: HashMap<u32, Vec<usize>>,
    /// Session settings of pg_dump's SQL, for sessions running its statements.
    preamble: String,
    post_file: PathBuf,
    rest: Vec<TocEntry>,
    _dir: tempfile::TempDir,
    results: Mutex<DbResults>,
}

impl DbRun {
    fn lock(&self) -> std::sync::MutexGuard<'_, DbResults> {
        self.results.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What was built and verified, waiting for publication.
struct Built {
    dbs: Vec<DbRun>,
    roles_created: Vec<String>,
}

/// A planned source database with its snapshot holder.
struct Planned {
    holder: Client,
    snapshot: String,
    plan: DbPlan,
    ranges: Vec<Vec<String>>,
}

async fn open_source(ctx: &Ctx, name: &str, dest_version: i32) -> Result<Planned> {
    let holder = ctx.source.connect(name, Side::Source).await?;
    let version = staging::server_version(&holder, Side::Source).await?;
    if version < 120000 {
        return Err(MoveError::InvalidRequest(format!("the source runs PostgreSQL {version}; 12 or newer is needed")));
    }
    if version / 10000 > dest_version / 10000 {
        return Err(MoveError::InvalidRequest(format!(
            "the destination (server version {dest_version}) is older than the source ({version}); copy to the same or a newer major version"
        )));
    }
    // Empty search_path: definitions read from the catalog come out schema-qualified.
    holder
        .batch_execute("SET search_path = ''; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(|e| pg_error(Side::Source, "begin snapshot transaction", e))?;
    let snapshot: String = holder
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .map_err(|e| pg_error(Side::Source, "export snapshot", e))?
        .get(0);
    let plan = plan::read(&holder, version).await?;
    let mut ranges = Vec::with_capacity(plan.tables.len());
    for t in &plan.tables {
        let parts = if t.extension_config || t.bytes <= ctx.split_bytes { 1 } else { t.bytes.div_ceil(ctx.split_bytes).min(MAX_PARTS) };
        ranges.push(if parts > 1 { data::ranges(&holder, t, parts).await? } else { Vec::new() });
    }
    Ok(Planned { holder, snapshot, plan, ranges })
}

/// Everything up to publication.
async fn build(ctx: &Ctx, names: &[(String, String)], progress: &Progress) -> Result<Built> {
    progress.set_phase(Phase::Planning);
    let maint = staging::maintenance(&ctx.dest).await?;
    let dest_version = staging::server_version(&maint, Side::Destination).await?;
    // Leftovers of an earlier attempt of the same task.
    staging::drop_all(&maint, &ctx.tag).await?;
    for (_, d) in names {
        if staging::database_exists(&maint, d).await? {
            if let Some(detail) = staging::user_objects(&ctx.dest, d).await? {
                return Err(MoveError::DestinationNotEmpty { database: d.clone(), detail });
            }
        }
    }
    let planned = try_join_all(names.iter().map(|(s, _)| open_source(ctx, s, dest_version))).await?;
    let mut holders = Vec::new();
    let mut prepared = Vec::new();
    for ((s, d), p) in names.iter().zip(planned) {
        holders.push(p.holder);
        let counter = progress.register_db(s, d);
        prepared.push((s.clone(), d.clone(), p.snapshot, p.plan, p.ranges, counter));
    }
    tracing::info!(databases = holders.len(), "planned");
    ctx.hooks.fail("after_plan")?;

    progress.set_phase(Phase::Schema);
    let roles: BTreeSet<String> = prepared.iter().flat_map(|p| p.3.roles.iter().cloned()).collect();
    let roles_created = staging::create_roles(&maint, &roles, &ctx.tag).await?;
    if !roles_created.is_empty() {
        tracing::info!(roles = ?roles_created, "created roles missing on the destination");
    }
    ctx.hooks.fail("after_roles")?;
    for (_, d, _, plan, _, _) in &prepared {
        staging::create_staging(&maint, &staging_name(d, &ctx.tag), &plan.info, dest_version).await?;
    }
    let same_major = prepared.first().map(|p| p.3.server_version / 10000) == Some(dest_version / 10000);
    let limit = Arc::new(Semaphore::new(ctx.jobs));
    let dbs = try_join_all(prepared.into_iter().map(|(s, d, snapshot, plan, ranges, counter)| {
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire_owned().await.map_err(|e| MoveError::Internal(e.to_string()))?;
            prepare_db(ctx, s, d, snapshot, plan, ranges, counter, same_major).await
        }
    }))
    .await?;
    tracing::info!("pre-data schema restored");
    ctx.hooks.fail("after_pre_data")?;

    progress.set_phase(Phase::Data);
    let shared = Arc::new(Pool::new(ctx, dbs));
    let mut set = JoinSet::new();
    for _ in 0..ctx.jobs {
        set.spawn(worker(shared.clone()));
    }
    while let Some(r) = set.join_next().await {
        // The first error ends the pool: dropping the set aborts the other workers.
        r.map_err(|e| MoveError::Internal(format!("copy worker: {e}")))??;
    }
    drop(set);
    let dbs = Arc::try_unwrap(shared).map_err(|_| MoveError::Internal("workers outlived the pool".into()))?.dbs;
    tracing::info!("data copied, verified and indexed");
    ctx.hooks.fail("after_data")?;

    progress.set_phase(Phase::PostData);
    try_join_all(dbs.iter().map(|db| finish_db(ctx, db))).await?;
    tracing::info!("post-data restored");
    ctx.hooks.fail("after_post_data")?;
    // The snapshot is no longer needed; let the source clean up behind it.
    drop(holders);
    ctx.hooks.fail("before_publish")?;
    Ok(Built { dbs, roles_created })
}

/// Staging schema and the post-data archive of one database.
#[allow(clippy::too_many_arguments)]
async fn prepare_db(
    ctx: &Ctx,
    src_name: String,
    dst_name: String,
    snapshot: String,
    plan: DbPlan,
    ranges: Vec<Vec<String>>,
    counter: Arc<DbCounter>,
    same_major: bool,
) -> Result<DbRun> {
    let staging = staging_name(&dst_name, &ctx.tag);
    let dir = tempfile::tempdir().map_err(|e| MoveError::Internal(format!("create a temporary directory: {e}")))?;
    let post_file = dir.path().join("post-data.dump");
    // The post-data archive is read while the pre-data schema is restored.
    let post = async {
        ctx.tools.dump_post_data(&ctx.source, &src_name, &snapshot, &post_file).await?;
        let toc = postdata::parse_toc(&ctx.tools.list(&ctx.dest, &post_file).await?);
        let (candidates, rest) = postdata::partition_entries(&plan, &toc);
        let mut sql = String::new();
        if !candidates.is_empty() {
            let list = dir.path().join("early.list");
            let lines: String = candidates.iter().map(|(_, e)| format!("{}\n", e.line)).collect();
            tokio::fs::write(&list, lines).await.map_err(|e| MoveError::Internal(format!("write list file: {e}")))?;
            sql = ctx.tools.sql_of(&ctx.dest, &post_file, &list).await?;
        }
        Ok::<_, MoveError>((toc, candidates, rest, sql))
    };
    let (pre, post) = tokio::join!(ctx.tools.pre_data(&ctx.source, &src_name, &snapshot, &ctx.dest, &staging), post);
    pre?;
    let (toc, candidates, mut rest, sql) = post?;
    let mut early = Vec::new();
    let mut preamble = String::new();
    if !candidates.is_empty() {
        match postdata::split_sql(&sql, candidates.len()) {
            Some((pre, entries)) => {
                // pg_dump's session settings, except the encoding: our client speaks UTF8.
                preamble = pre
                    .lines()
                    .filter(|l| (l.starts_with("SET ") || l.starts_with("SELECT pg_catalog.set_config")) && !l.contains("client_encoding"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                early = candidates.iter().zip(entries).map(|((ix, _), sql)| postdata::early_statements(&plan, ix, &sql)).collect();
            }
            None => {
                tracing::warn!(database = %src_name, "unexpected pg_restore output; indexes will be built after all data");
                rest = toc;
            }
        }
    }
    let mut early_by_table: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, e) in early.iter().enumerate() {
        early_by_table.entry(e.table_oid).or_default().push(i);
    }
    counter.indexes_total.store(early.len() as u64, Ordering::Relaxed);
    let tables = plan
        .tables
        .iter()
        .zip(ranges)
        .map(|(t, ranges)| {
            let parts = ranges.len().max(1) as u64;
            TableRun {
                counter: counter.register_table(&t.schema, &t.name, t.rows_estimate, t.bytes, parts),
                binary: same_major && t.binary_safe,
                ranges,
                remaining: AtomicU64::new(parts),
                followups: AtomicUsize::new(1 + early_by_table.get(&t.oid).map_or(0, Vec::len)),
                loaded_rows: AtomicU64::new(0),
                source_digest: Mutex::new(None),
                verify_gates: AtomicU8::new(2),
            }
        })
        .collect::<Vec<_>>();
    let results = Mutex::new(DbResults { tables: vec![None; tables.len()], ..DbResults::default() });
    Ok(DbRun {
        src_name,
        dst_name,
        staging,
        snapshot,
        plan,
        counter,
        tables,
        early,
        early_by_table,
        preamble,
        post_file,
        rest,
        _dir: dir,
        results,
    })
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Copy { db: usize, table: usize, part: usize },
    SourceDigest { db: usize, table: usize },
    Verify { db: usize, table: usize },
    Index { db: usize, index: usize },
    Sequences { db: usize },
    LargeObjects { db: usize },
}

/// The work queue shared by all workers. Follow-ups of a loaded table (its verification
/// and index builds) go to the front, so they overlap with the COPY of other tables.
struct Pool {
    source: Endpoint,
    dest: Endpoint,
    hooks: Hooks,
    dbs: Vec<DbRun>,
    dest_settings: String,
    queue: Mutex<VecDeque<Job>>,
    /// Jobs queued or running; the pool is done when it reaches zero.
    outstanding: AtomicUsize,
    notify: Notify,
    first_part_done: AtomicBool,
}

impl Pool {
    fn new(ctx: &Ctx, dbs: Vec<DbRun>) -> Self {
        let mut sized: Vec<(u64, Job)> = Vec::new();
        let mut front = Vec::new();
        for (d, db) in dbs.iter().enumerate() {
            if !db.plan.sequences.is_empty() {
                front.push(Job::Sequences { db: d });
            }
            if db.plan.large_objects > 0 {
                sized.push((db.plan.large_objects * 4096, Job::LargeObjects { db: d }));
            }
            for (t, tr) in db.tables.iter().enumerate() {
                let parts = tr.ranges.len().max(1);
                let each = db.plan.tables[t].bytes / parts as u64;
                for part in 0..parts {
                    sized.push((each, Job::Copy { db: d, table: t, part }));
                }
            }
        }
        // Largest first, across every database: the longest streams start at once.
        sized.sort_by_key(|s| std::cmp::Reverse(s.0));
        // A table's source digest right behind its first part, so a free worker computes
        // it while the table streams.
        let mut queue: VecDeque<Job> = front.into_iter().collect();
        for (_, j) in sized {
            queue.push_back(j);
            if let Job::Copy { db, table, part: 0 } = j {
                queue.push_back(Job::SourceDigest { db, table });
            }
        }
        Pool {
            source: ctx.source.clone(),
            dest: ctx.dest.clone(),
            hooks: ctx.hooks.clone(),
            dbs,
            dest_settings: dest_settings(ctx.index_memory_mb),
            outstanding: AtomicUsize::new(queue.len()),
            queue: Mutex::new(queue),
            notify: Notify::new(),
            first_part_done: AtomicBool::new(false),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn next_job(&self) -> Option<Job> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push in between is not missed.
            notified.as_mut().enable();
            if let Some(j) = self.queue().pop_front() {
                return Some(j);
            }
            if self.outstanding.load(Ordering::SeqCst) == 0 {
                return None;
            }
            notified.await;
        }
    }

    fn push_front(&self, jobs: Vec<Job>) {
        self.outstanding.fetch_add(jobs.len(), Ordering::SeqCst);
        let mut q = self.queue();
        for j in jobs.into_iter().rev() {
            q.push_front(j);
        }
        drop(q);
        self.notify.notify_waiters();
    }

    fn job_done(&self) {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// A worker's sessions, per database: source (in the snapshot) and staging destination.
type Sessions = HashMap<usize, (Client, Client)>;

async fn sessions<'a>(pool: &Pool, cache: &'a mut Sessions, d: usize) -> Result<&'a (Client, Client)> {
    match cache.entry(d) {
        std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let db = &pool.dbs[d];
            let src = pool.source.connect(&db.src_name, Side::Source).await?;
            src.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
                literal(&db.snapshot)
            ))
            .await
            .map_err(|e| pg_error(Side::Source, "join the exported snapshot", e))?;
            let dst = pool.dest.connect(&db.staging, Side::Destination).await?;
            dst.batch_execute(&format!("{};\n{}", pool.dest_settings, db.preamble))
                .await
                .map_err(|e| pg_error(Side::Destination, "configure load session", e))?;
            Ok(slot.insert((src, dst)))
        }
    }
}

/// A worker's COPY sessions, per database: source (in the snapshot) and staging
/// destination, spoken to through the relay.
type RawSessions = HashMap<usize, (RawSession, RawSession)>;

async fn raw_sessions<'a>(pool: &Pool, cache: &'a mut RawSessions, d: usize) -> Result<&'a mut (RawSession, RawSession)> {
    match cache.entry(d) {
        std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let db = &pool.dbs[d];
            let join = format!(
                "{SESSION_SETTINGS}; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
                literal(&db.snapshot)
            );
            let src = RawSession::connect(&pool.source, &db.src_name, Side::Source, &join).await?;
            // Notices are not read while rows stream in; a server that sent one per row
            // (a RAISE NOTICE in a CHECK function) would otherwise block on a full socket.
            let setup = format!("{SESSION_SETTINGS}; {}; SET client_min_messages = warning;\n{}", pool.dest_settings, db.preamble);
            let dst = RawSession::connect(&pool.dest, &db.staging, Side::Destination, &setup).await?;
            Ok(slot.insert((src, dst)))
        }
    }
}

async fn worker(pool: Arc<Pool>) -> Result<()> {
    let mut cache = Sessions::new();
    let mut raw = RawSessions::new();
    while let Some(job) = pool.next_job().await {
        let r = run_job(&pool, job, &mut cache, &mut raw).await;
        pool.job_done();
        r?;
    }
    Ok(())
}

fn in_database(e: MoveError, db: &str) -> MoveError {
    match e {
        MoveError::VerificationFailed { database, table, detail } if database.is_empty() => {
            MoveError::VerificationFailed { database: db.to_string(), table, detail }
        }
        e => e,
    }
}

async fn run_job(pool: &Pool, job: Job, cache: &mut Sessions, raw: &mut RawSessions) -> Result<()> {
    match job {
        Job::Copy { db: d, table, part } => {
            let db = &pool.dbs[d];
            let (src, dst) = raw_sessions(pool, raw, d).await?;
            let (t, tr) = (&db.plan.tables[table], &db.tables[table]);
            tr.counter.set_state(TableState::Copying);
            let range = tr.ranges.get(part).map(String::as_str);
            // One session owns the whole table: truncate and load in one transaction
            // so the rows arrive frozen. Extension tables keep the extension's rows.
            let freeze = tr.ranges.is_empty() && !t.extension_config;
            let rows = data::copy_part(src, dst, t, tr.binary, range, freeze, &tr.counter)
                .await
                .map_err(|e| in_database(e, &db.src_name))?;
            tracing::debug!(table = %t.display(), part, rows, "part copied");
            tr.loaded_rows.fetch_add(rows, Ordering::SeqCst);
            tr.counter.parts_done.fetch_add(1, Ordering::Relaxed);
            if !pool.first_part_done.swap(true, Ordering::SeqCst) {
                pool.hooks.fail("during_data")?;
            }
            if tr.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                tr.counter.settle();
                tr.counter.set_state(TableState::Loaded);
                let mut next = Vec::new();
                if tr.open_verify_gate() {
                    next.push(Job::Verify { db: d, table });
                }
                if let Some(ix) = db.early_by_table.get(&t.oid) {
                    next.extend(ix.iter().map(|i| Job::Index { db: d, index: *i }));
                }
                pool.push_front(next);
            }
        }
        Job::SourceDigest { db: d, table } => {
            let db = &pool.dbs[d];
            let (src, _) = sessions(pool, cache, d).await?;
            let (t, tr) = (&db.plan.tables[table], &db.tables[table]);
            let digest = data::table_digest(src, Side::Source, t).await?;
            *tr.source_digest.lock().unwrap_or_else(|e| e.into_inner()) = Some(digest);
            if tr.open_verify_gate() {
                pool.push_front(vec![Job::Verify { db: d, table }]);
            }
        }
        Job::Verify { db: d, table } => {
            let db = &pool.dbs[d];
            let (_, dst) = sessions(pool, cache, d).await?;
            let (t, tr) = (&db.plan.tables[table], &db.tables[table]);
            if let Some(sql) = pool.hooks.tamper_sql(&db.dst_name, &t.display()) {
                dst.batch_execute(&sql).await.map_err(|e| pg_error(Side::Destination, "tamper", e))?;
            }
            let expected = tr
                .source_digest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .ok_or_else(|| MoveError::Internal(format!("{} verified before its source digest", t.display())))?;
            let fail = |detail: String| MoveError::VerificationFailed { database: db.src_name.clone(), table: t.display(), detail };
            let loaded = tr.loaded_rows.load(Ordering::SeqCst);
            if loaded != expected.rows {
                return Err(fail(format!("{} rows in the source snapshot but {loaded} copied", expected.rows)));
            }
            let got = data::table_digest(dst, Side::Destination, t).await?;
            let verified = got == expected;
            db.lock().tables[table] = Some(TableReport {
                schema: t.schema.clone(),
                name: t.name.clone(),
                rows: expected.rows,
                bytes: tr.counter.bytes_done.load(Ordering::Relaxed),
                parts: tr.ranges.len().max(1) as u64,
                format: if tr.binary { "binary" } else { "text" }.into(),
                source_checksum: expected.to_string(),
                destination_checksum: got.to_string(),
                verified,
            });
            if !verified {
                return Err(fail(format!("source snapshot has {expected} (rows:digest), destination has {got}")));
            }
            tr.counter.set_state(TableState::Verified);
            analyze_when_last(db, table, dst).await?;
            tracing::debug!(table = %t.display(), rows = expected.rows, "verified");
        }
        Job::Index { db: d, index } => {
            let db = &pool.dbs[d];
            let (_, dst) = sessions(pool, cache, d).await?;
            let e = &db.early[index];
            for s in &e.statements {
                // Each statement in its own transaction: a lock upgrade inside one
                // (SHARE for the build, then ACCESS EXCLUSIVE) could deadlock with a
                // sibling index of the same table.
                dst.batch_execute(s)
                    .await
                    .map_err(|err| pg_error(Side::Destination, &format!("build {} of {}", e.name, db.dst_name), err))?;
            }
            tracing::debug!(index = %e.name, "built");
            db.counter.indexes_done.fetch_add(1, Ordering::Relaxed);
            db.lock().indexes_built += 1;
            let table = db.plan.tables.iter().position(|t| t.oid == e.table_oid).unwrap_or_default();
            analyze_when_last(db, table, dst).await?;
        }
        Job::Sequences { db: d } => {
            let db = &pool.dbs[d];
            let (_, dst) = sessions(pool, cache, d).await?;
            data::set_sequences(dst, &db.plan.sequences).await?;
            let now = data::read_sequences(dst, &db.plan.sequences).await?;
            let mut reports = Vec::new();
            for (s, (value, called)) in db.plan.sequences.iter().zip(now) {
                let verified = value == s.last_value && called == s.is_called;
                reports.push(SequenceReport { schema: s.schema.clone(), name: s.name.clone(), last_value: s.last_value, is_called: s.is_called, verified });
                if !verified {
                    return Err(MoveError::VerificationFailed {
                        database: db.src_name.clone(),
                        table: format!("sequence {}.{}", s.schema, s.name),
                        detail: format!("source ({}, {}), destination ({value}, {called})", s.last_value, s.is_called),
                    });
                }
            }
            db.lock().sequences = reports;
        }
        Job::LargeObjects { db: d } => {
            let db = &pool.dbs[d];
            let (src, dst) = sessions(pool, cache, d).await?;
            let s = data::copy_large_objects(src, dst).await?;
            db.lock().lo = Some(s);
        }
    }
    Ok(())
}

/// Runs ANALYZE on a table once its last follow-up (verification, index builds) is done:
/// fresh statistics for the first queries on the copy, including those of expression
/// indexes, gathered while other tables are still being copied. Not earlier, since
/// ANALYZE and CREATE INDEX wait for each other.
async fn analyze_when_last(db: &DbRun, table: usize, dst: &Client) -> Result<()> {
    let tr = &db.tables[table];
    if tr.followups.fetch_sub(1, Ordering::SeqCst) == 1 {
        let t = &db.plan.tables[table];
        dst.batch_execute(&format!("ANALYZE {}", t.qualified()))
            .await
            .map_err(|e| pg_error(Side::Destination, &format!("analyze {}", t.display()), e))?;
    }
    Ok(())
}

/// Post-data of one database after all its data is in, then the checks that need it whole.
async fn finish_db(ctx: &Ctx, db: &DbRun) -> Result<()> {
    if !db.rest.is_empty() {
        let list = db.post_file.with_file_name("rest.list");
        let lines: String = db.rest.iter().map(|e| format!("{}\n", e.line)).collect();
        tokio::fs::write(&list, lines).await.map_err(|e| MoveError::Internal(format!("write list file: {e}")))?;
        ctx.tools.restore(&ctx.dest, &db.staging, &db.post_file, &list, ctx.jobs).await?;
    }
    let c = ctx.dest.connect(&db.staging, Side::Destination).await?;
    c.batch_execute(&dest_settings(ctx.index_memory_mb)).await.map_err(|e| pg_error(Side::Destination, "configure session", e))?;
    let copied = db.lock().lo.unwrap_or_default();
    let found = data::digest_large_objects(&c, Side::Destination).await?;
    if found != copied || copied.count != db.plan.large_objects {
        return Err(MoveError::VerificationFailed {
            database: db.src_name.clone(),
            table: "large objects".into(),
            detail: format!(
                "{} in the source snapshot, {} copied ({}), {} on the destination ({})",
                db.plan.large_objects, copied.count, copied.sum, found.count, found.sum
            ),
        });
    }
    // Loaded tables were analyzed as they were verified; what is left are materialized
    // views (filled by post-data) and partitioned parents (statistics of the hierarchy).
    let rest: Vec<String> = c
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE (c.relkind = 'p' OR (c.relkind = 'm' AND c.relispopulated)) \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .map_err(|e| pg_error(Side::Destination, "list relations to analyze", e))?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    if !rest.is_empty() {
        c.batch_execute(&format!("ANALYZE {}", rest.join(", ")))
            .await
            .map_err(|e| pg_error(Side::Destination, "analyze", e))?;
    }
    db.counter.set_phase(Phase::PostData);
    Ok(())
}

async fn publish(ctx: &Ctx, built: Built, progress: &Progress, started: Instant) -> Result<CopyReport> {
    progress.set_phase(Phase::Publishing);
    let mut maint = staging::maintenance(&ctx.dest).await?;
    let mut applied = Vec::new();
    for db in &built.dbs {
        applied.push(staging::apply_properties(&maint, &db.staging, &db.plan.info).await?);
    }
    let items: Vec<Publication> =
        built.dbs.iter().map(|d| Publication { staging: d.staging.clone(), destination: d.dst_name.clone() }).collect();
    if let Some(gate) = &ctx.before_publish {
        let names: Vec<String> = items.iter().map(|p| p.staging.clone()).collect();
        let oids = super::database_oids(&ctx.dest, &names).await?;
        let mut mark = serde_json::Map::new();
        for (item, oid) in items.iter().zip(oids) {
            let oid = oid.ok_or_else(|| MoveError::Internal(format!("staging database {} is missing", item.staging)))?;
            mark.insert(item.destination.clone(), serde_json::json!(oid));
        }
        gate.pass(serde_json::Value::Object(mark)).await?;
    }
    let replaced = staging::publish(&mut maint, &ctx.dest, &items, &ctx.tag).await?;
    ctx.hooks.fail("after_publish")?;
    // Published: a failure from here on must not undo anything.
    if let Err(e) = staging::unmark_roles(&maint, &built.roles_created).await {
        tracing::warn!(error = %e, "created roles keep their task marker");
    }
    let mut report = CopyReport { roles_created: built.roles_created, elapsed_ms: started.elapsed().as_millis() as u64, ..CopyReport::default() };
    for ((db, settings), replaced) in built.dbs.into_iter().zip(applied).zip(replaced) {
        let results = std::mem::take(&mut *db.lock());
        let tables: Vec<TableReport> = results.tables.into_iter().flatten().collect();
        report.rows += tables.iter().map(|t| t.rows).sum::<u64>();
        report.bytes += tables.iter().map(|t| t.bytes).sum::<u64>();
        let lo = results.lo.unwrap_or_default();
        report.databases.push(DatabaseReport {
            source: db.src_name.clone(),
            destination: db.dst_name.clone(),
            staging: db.staging.clone(),
            replaced_existing: replaced,
            tables,
            sequences: results.sequences,
            large_objects: LargeObjectReport {
                count: lo.count,
                bytes: lo.bytes,
                source_checksum: lo.sum.to_string(),
                destination_checksum: lo.sum.to_string(),
                verified: true,
            },
            indexes_built_early: results.indexes_built,
            settings_applied: settings,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
    }
    Ok(report)
}
