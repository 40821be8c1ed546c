//! The PostgreSQL copy's steps, run by [`mover::pipeline`]: snapshot and plan, schema
//! (roles, staging databases, pre-data), data (one worker pool over all tables of all
//! databases, each table verified and indexed once loaded), post-data, verify, publish.

use super::conn::{dest_settings, literal, PgEndpoint, SESSION_SETTINGS};
use super::data::{self, LoSummary};
use super::error::{pg_error, Result};
use super::plan::{self, DbPlan};
use super::postdata::{self, EarlyIndex, TocEntry};
use super::relay::RawSession;
use super::staging::{self, Publication};
use super::tools::Tools;
use super::PostgresCopier;
use async_trait::async_trait;
use futures_util::future::try_join_all;
use mover::pool::{JobQueue, Worker};
use mover::progress::{DbCounter, Phase, TableCounter, TableState};
use mover::{CopyPlan, CopyReport, DatabasePlan, DatabaseReport, LargeObjectReport, SequenceReport, TableReport};
use mover::{CopyRequest, CopySteps, Endpoint, Hooks, MoveError, Run, Side};
use mover::staging_name;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio_postgres::Client;

/// Upper bound on the ranges one table is split into, whatever `split_bytes` says
/// (a tiny threshold once planned thousands of COPYs for one table in pgcopydb).
const MAX_PARTS: u64 = 64;

/// Copies each source database of `names` (source name, destination name) from `source`
/// to `dest`, and publishes them all under their destination names once every one is
/// complete and verified, with the tools of `tool_dir`: [`PostgresCopier`]'s
/// [`mover::Copier::copy`].
///
/// Each destination database must not exist, or exist without user objects (it is then
/// replaced). On any error the staging databases and roles the copy created are dropped
/// before returning; if even that fails (destination gone), call [`super::drop_staging`]
/// with the same tag later.
pub async fn copy_databases(tool_dir: &Path, request: CopyRequest) -> Result<CopyReport, MoveError> {
    mover::pipeline::run(&PostgresCopier { tool_dir: tool_dir.to_path_buf() }, request).await
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

/// One table during the data phase.
struct TableRun {
    counter: Arc<TableCounter>,
    binary: bool,
    /// WHERE clauses of its parts; empty when copied whole.
    ranges: Vec<String>,
    remaining: AtomicU64,
    /// Rows loaded by all parts.
    loaded_rows: AtomicU64,
    /// The rows all parts streamed from the source snapshot.
    streamed: Mutex<mover::RowDigest>,
    /// Follow-ups still to run once loaded before ANALYZE may: the index builds, and the
    /// verification unless it waits for them.
    followups: AtomicUsize,
    /// Whether the verification (a row count) waits for the index builds and runs beside
    /// ANALYZE: run beside the table's largest build (on two cores, the 897 MB table's
    /// primary key with its parallel workers) a sequential count made that build, the
    /// copy's tail, longer by about what the count took, where after the builds it is an
    /// index-only count (docs/decisions.md, "Imports").
    count_after_builds: bool,
    /// Index builds still to run.
    builds_left: AtomicUsize,
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

/// A planned source database with its snapshot holder.
struct PlannedDb {
    holder: Client,
    snapshot: String,
    plan: DbPlan,
    ranges: Vec<Vec<String>>,
    counter: Arc<DbCounter>,
}

/// The plan step's result: every source database in its snapshot, and the destination's
/// maintenance session.
pub struct Planned {
    maint: Client,
    dest_version: i32,
    dbs: Vec<PlannedDb>,
}

/// A copy from the schema step on: the snapshot holders kept until the post-data step
/// is done, the databases, and the roles created on the destination.
pub struct Copying {
    holders: Vec<Client>,
    dbs: Vec<DbRun>,
    roles_created: Vec<String>,
    destination: staging::Destination,
}

/// A source database in its snapshot, planned.
struct Opened {
    holder: Client,
    snapshot: String,
    plan: DbPlan,
    ranges: Vec<Vec<String>>,
}

async fn open_source(run: &Run, name: &str, dest_version: i32) -> Result<Opened> {
    let holder = run.source.connect(name, Side::Source).await?;
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
        let split_bytes = run.opts.split_bytes.max(1);
        let parts = if t.extension_config || t.bytes <= split_bytes { 1 } else { t.bytes.div_ceil(split_bytes).min(MAX_PARTS) };
        ranges.push(if parts > 1 { data::ranges(&holder, t, parts).await? } else { Vec::new() });
    }
    Ok(Opened { holder, snapshot, plan, ranges })
}

#[async_trait]
impl CopySteps for PostgresCopier {
    type Planned = Planned;
    type Staged = Copying;
    type Loaded = Copying;
    type Built = Copying;

    async fn plan(&self, run: &Run) -> Result<Planned> {
        let maint = staging::maintenance(&run.dest).await?;
        let dest_version = staging::server_version(&maint, Side::Destination).await?;
        // Leftovers of an earlier attempt of the same task.
        staging::drop_all(&maint, run.tag()).await?;
        for (_, d) in &run.names {
            if staging::database_exists(&maint, d).await? {
                if let Some(detail) = staging::user_objects(&run.dest, d).await? {
                    return Err(MoveError::DestinationNotEmpty { database: d.clone(), detail });
                }
            }
        }
        let opened = try_join_all(run.names.iter().map(|(s, _)| open_source(run, s, dest_version))).await?;
        let dbs = run
            .names
            .iter()
            .zip(opened)
            .map(|((s, d), o)| PlannedDb { counter: run.progress.register_db(s, d), holder: o.holder, snapshot: o.snapshot, plan: o.plan, ranges: o.ranges })
            .collect();
        Ok(Planned { maint, dest_version, dbs })
    }

    async fn schema(&self, run: &Run, planned: Planned) -> Result<Copying> {
        let Planned { maint, dest_version, dbs } = planned;
        let destination = staging::destination(&maint).await?;
        let roles: BTreeSet<String> = dbs.iter().flat_map(|p| p.plan.roles.iter().cloned()).collect();
        let roles_created = staging::create_roles(&maint, &roles, run.tag()).await?;
        if !roles_created.is_empty() {
            tracing::info!(roles = ?roles_created, "created roles missing on the destination");
        }
        run.hooks.fail("after_roles")?;
        for ((_, d), p) in run.names.iter().zip(&dbs) {
            staging::create_staging(&maint, &staging_name(d, run.tag()), &p.plan.info, dest_version).await?;
        }
        let same_major = dbs.first().map(|p| p.plan.server_version / 10000) == Some(dest_version / 10000);
        let tools = Tools::new(&self.tool_dir);
        let limit = Arc::new(Semaphore::new(run.jobs()));
        let mut holders = Vec::new();
        let mut prepared = Vec::new();
        for ((s, d), p) in run.names.iter().zip(dbs) {
            holders.push(p.holder);
            prepared.push((s.clone(), d.clone(), p.snapshot, p.plan, p.ranges, p.counter));
        }
        let dbs = try_join_all(prepared.into_iter().map(|(s, d, snapshot, plan, ranges, counter)| {
            let (limit, tools) = (limit.clone(), &tools);
            async move {
                let _permit = limit.acquire_owned().await.map_err(|e| MoveError::Internal(e.to_string()))?;
                prepare_db(run, tools, s, d, snapshot, plan, ranges, counter, same_major).await
            }
        }))
        .await?;
        Ok(Copying { holders, dbs, roles_created, destination })
    }

    async fn data(&self, run: &Run, copying: Copying) -> Result<Copying> {
        let Copying { holders, dbs, roles_created, destination } = copying;
        let shared = Arc::new(Shared {
            source: run.source.clone(),
            dest: run.dest.clone(),
            hooks: run.hooks.clone(),
            dbs,
            dest_settings: dest_settings(run.opts.index_memory_mb, destination.lz4),
            verification: run.opts.verification,
            unchecked_lengths: destination.superuser,
            loads_left: AtomicUsize::new(0),
        });
        let jobs = shared.initial_jobs();
        let loads = jobs.iter().filter(|j| matches!(j, Job::Copy { .. })).count();
        shared.loads_left.store(loads, Ordering::SeqCst);
        let workers = (0..run.jobs()).map(|_| PgWorker { shared: shared.clone(), sessions: Sessions::new(), raw: RawSessions::new() }).collect();
        mover::pool::run(jobs, workers, &run.hooks).await?;
        let dbs = Arc::try_unwrap(shared).map_err(|_| MoveError::Internal("workers outlived the pool".into()))?.dbs;
        Ok(Copying { holders, dbs, roles_created, destination })
    }

    async fn post_data(&self, run: &Run, copying: Copying) -> Result<Copying> {
        let tools = Tools::new(&self.tool_dir);
        let settings = dest_settings(run.opts.index_memory_mb, copying.destination.lz4);
        try_join_all(copying.dbs.iter().map(|db| finish_db(run, &tools, db, &settings))).await?;
        // The snapshot is no longer needed; let the source clean up behind it.
        Ok(Copying { holders: Vec::new(), ..copying })
    }

    fn verify(&self, _run: &Run, built: &Copying) -> Result<()> {
        for db in &built.dbs {
            let results = db.lock();
            let unverified = db.plan.tables.iter().zip(&results.tables).find(|(_, r)| !r.as_ref().is_some_and(|r| r.verified));
            if let Some((t, _)) = unverified {
                return Err(MoveError::Internal(format!("table {} of database {} was not verified", t.display(), db.src_name)));
            }
            if results.sequences.len() != db.plan.sequences.len() || results.sequences.iter().any(|s| !s.verified) {
                return Err(MoveError::Internal(format!("the sequences of database {} were not verified", db.src_name)));
            }
        }
        Ok(())
    }

    async fn publish(&self, run: &Run, built: Copying) -> Result<CopyReport> {
        publish(run, built).await
    }

    async fn cleanup(&self, dest: &Endpoint, staging_tag: &str) -> Result<()> {
        super::drop_staging(dest, staging_tag).await
    }

    /// The mark is the staging databases' OIDs, which a rename keeps: if the final names
    /// carry them now, the publishing transaction committed.
    async fn published(&self, dest: &Endpoint, staging_tag: &str, mark: &serde_json::Value) -> Result<bool> {
        let Some(marks) = mark.as_object() else { return Ok(false) };
        let names: Vec<String> = marks.keys().cloned().collect();
        let now = super::database_oids(dest, &names).await?;
        let published = !names.is_empty()
            && names.iter().zip(&now).all(|(name, oid)| oid.is_some() && marks.get(name).and_then(|v| v.as_u64()) == oid.map(u64::from));
        if published {
            // What remains is the replaced (empty) databases set aside by the publication.
            super::drop_staging(dest, staging_tag).await?;
        }
        Ok(published)
    }
}

/// Staging schema and the post-data archive of one database.
#[allow(clippy::too_many_arguments)]
async fn prepare_db(
    run: &Run,
    tools: &Tools,
    src_name: String,
    dst_name: String,
    snapshot: String,
    plan: DbPlan,
    ranges: Vec<Vec<String>>,
    counter: Arc<DbCounter>,
    same_major: bool,
) -> Result<DbRun> {
    let staging = staging_name(&dst_name, run.tag());
    let dir = tempfile::tempdir().map_err(|e| MoveError::Internal(format!("create a temporary directory: {e}")))?;
    let post_file = dir.path().join("post-data.dump");
    // The post-data archive is read while the pre-data schema is restored.
    let post = async {
        tools.dump_post_data(&run.source, &src_name, &snapshot, &post_file).await?;
        let toc = postdata::parse_toc(&tools.list(&run.dest, &post_file).await?);
        let (candidates, rest) = postdata::partition_entries(&plan, &toc);
        let mut sql = String::new();
        if !candidates.is_empty() {
            let list = dir.path().join("early.list");
            let lines: String = candidates.iter().map(|(_, e)| format!("{}\n", e.line)).collect();
            tokio::fs::write(&list, lines).await.map_err(|e| MoveError::Internal(format!("write list file: {e}")))?;
            sql = tools.sql_of(&run.dest, &post_file, &list).await?;
        }
        Ok::<_, MoveError>((toc, candidates, rest, sql))
    };
    let (pre, post) = tokio::join!(tools.pre_data(&run.source, &src_name, &snapshot, &run.dest, &staging), post);
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
            let builds = early_by_table.get(&t.oid).map_or(0, Vec::len);
            let count_after_builds = builds > 0 && run.opts.verification == mover::Verification::Stream;
            TableRun {
                counter: counter.register_table(&t.schema, &t.name, t.rows_estimate, t.bytes, parts),
                binary: same_major && t.binary_safe,
                ranges,
                remaining: AtomicU64::new(parts),
                followups: AtomicUsize::new(builds + usize::from(!count_after_builds)),
                count_after_builds,
                builds_left: AtomicUsize::new(builds),
                loaded_rows: AtomicU64::new(0),
                streamed: Mutex::new(mover::RowDigest::default()),
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
    Verify { db: usize, table: usize },
    Index { db: usize, index: usize },
    Sequences { db: usize },
    LargeObjects { db: usize },
}

/// What every worker of the data step shares.
struct Shared {
    source: Endpoint,
    dest: Endpoint,
    hooks: Hooks,
    dbs: Vec<DbRun>,
    dest_settings: String,
    verification: mover::Verification,
    unchecked_lengths: bool,
    /// Table parts not yet loaded, across every database ([`share_cores`]).
    loads_left: AtomicUsize,
}

impl Shared {
    /// Sequences first (they are quick), then every table's parts, largest first across
    /// every database, so the longest streams start at once. Follow-ups of a loaded table
    /// (verification, index builds) are queued at the front as it finishes, so they
    /// overlap with the COPY of other tables.
    fn initial_jobs(&self) -> Vec<Job> {
        let mut sized: Vec<(u64, Job)> = Vec::new();
        let mut jobs = Vec::new();
        for (d, db) in self.dbs.iter().enumerate() {
            if !db.plan.sequences.is_empty() {
                jobs.push(Job::Sequences { db: d });
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
        sized.sort_by_key(|s| std::cmp::Reverse(s.0));
        jobs.extend(sized.into_iter().map(|(_, j)| j));
        jobs
    }
}

/// A worker's sessions, per database: source (in the snapshot) and staging destination.
type Sessions = HashMap<usize, (Client, Client)>;

async fn sessions<'a>(pool: &Shared, cache: &'a mut Sessions, d: usize) -> Result<&'a (Client, Client)> {
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

async fn raw_sessions<'a>(pool: &Shared, cache: &'a mut RawSessions, d: usize) -> Result<&'a mut (RawSession, RawSession)> {
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

/// One worker of the data step, with its sessions per database.
struct PgWorker {
    shared: Arc<Shared>,
    sessions: Sessions,
    raw: RawSessions,
}

#[async_trait]
impl Worker for PgWorker {
    type Job = Job;

    async fn run(&mut self, job: Job, queue: &JobQueue<Job>) -> Result<()> {
        run_job(&self.shared, job, queue, &mut self.sessions, &mut self.raw).await
    }
}

fn in_database(e: MoveError, db: &str) -> MoveError {
    match e {
        MoveError::VerificationFailed { database, table, detail } if database.is_empty() => {
            MoveError::VerificationFailed { database: db.to_string(), table, detail }
        }
        e => e,
    }
}

async fn run_job(pool: &Shared, job: Job, queue: &JobQueue<Job>, cache: &mut Sessions, raw: &mut RawSessions) -> Result<()> {
    match job {
        Job::Copy { db: d, table, part } => {
            let db = &pool.dbs[d];
            let (src, dst) = raw_sessions(pool, raw, d).await?;
            let (t, tr) = (&db.plan.tables[table], &db.tables[table]);
            tr.counter.set_state(TableState::Copying);
            // Extension tables keep the extension's rows: they are not truncated.
            let how = data::PartLoad {
                binary: tr.binary,
                range: tr.ranges.get(part).map(String::as_str),
                freeze: tr.ranges.is_empty() && !t.extension_config,
                unchecked_lengths: pool.unchecked_lengths,
            };
            let (rows, digest) = data::copy_part(src, dst, t, &how, &tr.counter)
                .await
                .map_err(|e| in_database(e, &db.src_name))?;
            tracing::debug!(table = %t.display(), part, rows, "part copied");
            tr.streamed.lock().unwrap_or_else(|e| e.into_inner()).merge(digest);
            tr.loaded_rows.fetch_add(rows, Ordering::SeqCst);
            tr.counter.parts_done.fetch_add(1, Ordering::Relaxed);
            pool.loads_left.fetch_sub(1, Ordering::SeqCst);
            if tr.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                tr.counter.settle();
                tr.counter.set_state(TableState::Loaded);
                let mut next = Vec::new();
                if !tr.count_after_builds {
                    next.push(Job::Verify { db: d, table });
                }
                if let Some(ix) = db.early_by_table.get(&t.oid) {
                    next.extend(ix.iter().map(|i| Job::Index { db: d, index: *i }));
                }
                queue.push_front(next);
            }
        }
        Job::Verify { db: d, table } => {
            let db = &pool.dbs[d];
            let (t, tr) = (&db.plan.tables[table], &db.tables[table]);
            let (_, dst) = sessions(pool, cache, d).await?;
            if let Some(sql) = pool.hooks.tamper_sql(&db.dst_name, &t.display()) {
                dst.batch_execute(&sql).await.map_err(|e| pg_error(Side::Destination, "tamper", e))?;
            }
            let streamed = *tr.streamed.lock().unwrap_or_else(|e| e.into_inner());
            let fail = |detail: String| MoveError::VerificationFailed { database: db.src_name.clone(), table: t.display(), detail };
            let loaded = tr.loaded_rows.load(Ordering::SeqCst);
            if loaded != streamed.rows {
                return Err(fail(format!("{} rows streamed from the source snapshot but {loaded} loaded", streamed.rows)));
            }
            let (seen, verified) = match pool.verification {
                mover::Verification::Stream => {
                    share_cores(pool, dst).await?;
                    let counted = data::count_rows(dst, t).await?;
                    (counted.to_string(), counted == streamed.rows)
                }
                mover::Verification::ReadBack => {
                    let (_, raw_dst) = raw_sessions(pool, raw, d).await?;
                    let back = data::read_back(raw_dst, t, tr.binary).await?;
                    (back.to_string(), back == streamed)
                }
            };
            db.lock().tables[table] = Some(TableReport {
                schema: t.schema.clone(),
                name: t.name.clone(),
                rows: streamed.rows,
                bytes: tr.counter.bytes_done.load(Ordering::Relaxed),
                parts: tr.ranges.len().max(1) as u64,
                format: if tr.binary { "binary" } else { "text" }.into(),
                source_checksum: streamed.to_string(),
                destination_checksum: seen.clone(),
                verified,
            });
            if !verified {
                return Err(fail(format!("the source snapshot streamed {streamed} (rows:digest), the destination has {seen}")));
            }
            tr.counter.set_state(TableState::Verified);
            if !tr.count_after_builds {
                analyze_when_last(db, table, dst).await?;
            }
            tracing::debug!(table = %t.display(), rows = streamed.rows, "verified");
        }
        Job::Index { db: d, index } => {
            let db = &pool.dbs[d];
            let (_, dst) = sessions(pool, cache, d).await?;
            let e = &db.early[index];
            share_cores(pool, dst).await?;
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
            let tr = &db.tables[table];
            if tr.builds_left.fetch_sub(1, Ordering::SeqCst) == 1 && tr.count_after_builds {
                queue.push_front(vec![Job::Verify { db: d, table }]);
            }
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

/// Lets the next statement of `dst` (an index build, a row count) use the server's
/// parallel workers only once every table is loaded. While loads run, their backends are
/// the copy's critical path, and on a host with few cores the extra workers of a build
/// beside them only take its CPU (docs/decisions.md, "Imports"); the last builds, after
/// the loads, are the copy's tail and get the server's setting.
async fn share_cores(pool: &Shared, dst: &Client) -> Result<()> {
    let sql = if pool.loads_left.load(Ordering::SeqCst) == 0 {
        "RESET max_parallel_maintenance_workers; RESET max_parallel_workers_per_gather"
    } else {
        "SET max_parallel_maintenance_workers = 0; SET max_parallel_workers_per_gather = 0"
    };
    dst.batch_execute(sql).await.map_err(|e| pg_error(Side::Destination, "set parallel workers", e))
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
async fn finish_db(run: &Run, tools: &Tools, db: &DbRun, settings: &str) -> Result<()> {
    if !db.rest.is_empty() {
        let list = db.post_file.with_file_name("rest.list");
        let lines: String = db.rest.iter().map(|e| format!("{}\n", e.line)).collect();
        tokio::fs::write(&list, lines).await.map_err(|e| MoveError::Internal(format!("write list file: {e}")))?;
        tools.restore(&run.dest, &db.staging, &db.post_file, &list, run.jobs()).await?;
    }
    let c = run.dest.connect(&db.staging, Side::Destination).await?;
    c.batch_execute(settings).await.map_err(|e| pg_error(Side::Destination, "configure session", e))?;
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

async fn publish(run: &Run, built: Copying) -> Result<CopyReport> {
    let started = run.started;
    let mut maint = staging::maintenance(&run.dest).await?;
    let mut applied = Vec::new();
    for db in &built.dbs {
        applied.push(staging::apply_properties(&maint, &db.staging, &db.plan.info).await?);
    }
    let items: Vec<Publication> =
        built.dbs.iter().map(|d| Publication { staging: d.staging.clone(), destination: d.dst_name.clone() }).collect();
    if let Some(gate) = &run.opts.before_publish {
        let names: Vec<String> = items.iter().map(|p| p.staging.clone()).collect();
        let oids = super::database_oids(&run.dest, &names).await?;
        let mut mark = serde_json::Map::new();
        for (item, oid) in items.iter().zip(oids) {
            let oid = oid.ok_or_else(|| MoveError::Internal(format!("staging database {} is missing", item.staging)))?;
            mark.insert(item.destination.clone(), serde_json::json!(oid));
        }
        gate.pass(serde_json::Value::Object(mark)).await?;
    }
    let replaced = staging::publish(&mut maint, &run.dest, &items, run.tag()).await?;
    run.hooks.fail("after_publish")?;
    // Published: a failure from here on must not undo anything.
    if let Err(e) = staging::unmark_roles(&maint, &built.roles_created).await {
        tracing::warn!(error = %e, "created roles keep their task marker");
    }
    let mut report = CopyReport {
        roles_created: built.roles_created,
        elapsed_ms: started.elapsed().as_millis() as u64,
        verification: run.opts.verification.as_str().into(),
        ..CopyReport::default()
    };
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
