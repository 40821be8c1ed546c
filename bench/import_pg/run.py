#!/usr/bin/env python3
"""Benchmark: openrds ImportDatabaseBetweenInstances vs pgcopydb clone vs pg_dump/pg_restore.

Every method copies the same source database (`bench`) between the same two
openrds-managed PostgreSQL 15 instances. One untimed copy warms both servers first (the
destination's first copy also creates its WAL segments, which made whichever method ran
first 3-5 s slower), then each round runs every method once, starting one later in the
list each round, so that drift in machine state hits every method alike. Every copy is
verified against digests of the source and dropped before the next run.

Python 3.11 stdlib only. See README.md next to this file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import openrds_harness as harness  # noqa: E402
from openrds_harness import OpenRDS, first_line, free_port, log, run  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SOURCE_DB = "bench"
METHODS = ("openrds", "openrds-full", "pgcopydb", "pg_dump")




# --------------------------------------------------------------------------------------
# openrds server and API
# --------------------------------------------------------------------------------------


class Conn(harness.Login):
    """How tools reach one database of one instance as its admin user."""

    def env(self) -> dict:
        # Passwords go through PGPASSWORD so they never show up in `ps` or in our logs.
        e = dict(os.environ)
        e["PGPASSWORD"] = self.password
        return e

    def uri(self, db: str) -> str:
        return (
            f"postgres://{urllib.parse.quote(self.user, safe='')}:{urllib.parse.quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{urllib.parse.quote(db, safe='')}"
        )

    def args(self, db: str) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db]


def admin_conn(server: OpenRDS, instance_id: str) -> Conn:
    return Conn.admin_of(server, instance_id)


# --------------------------------------------------------------------------------------
# SQL helpers, dataset, verification
# --------------------------------------------------------------------------------------


def psql(conn: Conn, db: str, sql: str) -> str:
    """Run SQL with psql (unaligned, tuples only); stop at the first error."""
    p = run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", *conn.args(db), "-c", sql],
            env=conn.env())
    return p.stdout.strip()


def create_database(conn: Conn, db: str) -> None:
    psql(conn, "postgres", f'CREATE DATABASE "{db}"')


def drop_database(conn: Conn, db: str) -> None:
    psql(conn, "postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def load_dataset(conn: Conn, scale: int, wide_rows_per_scale: int) -> None:
    """pgbench tables plus a wide table with several indexes.

    With 4 indexes (one on a 32-character text) a wide row costs ~300 bytes on disk, so
    7500 rows per scale unit make the table ~15 % of the pgbench data (~15 MB per unit).
    """
    create_database(conn, SOURCE_DB)
    log(f"pgbench -i -s {scale}")
    run([str(PG_BIN / "pgbench"), "-i", "-s", str(scale), "-q", *conn.args(SOURCE_DB)], env=conn.env())
    # A few transactions so that pgbench_history (a table without a primary key) is not empty.
    run([str(PG_BIN / "pgbench"), "-n", "-t", "500", "-c", "1", *conn.args(SOURCE_DB)], env=conn.env())
    rows = scale * wide_rows_per_scale
    log(f"wide table: {rows} rows")
    psql(conn, SOURCE_DB, f"""
        CREATE TABLE wide (id bigint PRIMARY KEY, a int, b int, c text, d text, e timestamptz, f numeric, g jsonb);
        INSERT INTO wide
        SELECT i, ((i::bigint * 7919) % 100000)::int, i % 1000, md5(i::text), 'row ' || i || repeat('x', (i % 40)),
               timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second',
               (i % 1000003)::numeric / 100,
               jsonb_build_object('i', i, 'tag', i % 7, 'ok', i % 2 = 0)
        FROM generate_series(1, {rows}) AS i;
        CREATE INDEX wide_a ON wide (a);
        CREATE INDEX wide_b_e ON wide (b, e);
        CREATE INDEX wide_c ON wide (c);
    """)
    psql(conn, SOURCE_DB, "VACUUM ANALYZE")


def load_many_tables(conn: Conn, tables: int) -> None:
    """`tables` tables of about 5 MB each (50,000 rows, a primary key and a second index):
    the shape where per-table work (schema, COPY start-up, index builds, verification)
    weighs more than one large stream."""
    create_database(conn, SOURCE_DB)
    log(f"{tables} tables of ~5 MB")
    for first in range(0, tables, 20):
        psql(conn, SOURCE_DB, "\n".join(f"""
            CREATE TABLE t{i:03d} (id bigint PRIMARY KEY, k int NOT NULL, v text, ts timestamptz);
            INSERT INTO t{i:03d} SELECT g, (g * 7919) % 100000, md5(g::text) || md5((g + {i})::text),
                   timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
            FROM generate_series(1, 50000) g;
            CREATE INDEX t{i:03d}_k ON t{i:03d} (k);""" for i in range(first, min(first + 20, tables))))
    psql(conn, SOURCE_DB, "VACUUM ANALYZE")


def load_lobs_and_wide_text(conn: Conn, scale: int) -> None:
    """Large objects and TOASTed text, about `scale` × 11 MB: a `docs` table whose rows
    carry 8 KB of barely compressible text, and 256 KB large objects."""
    create_database(conn, SOURCE_DB)
    docs, lobs = scale * 1000, scale * 10
    log(f"docs: {docs} rows of 8 KB text; {lobs} large objects of 256 KB")
    psql(conn, SOURCE_DB, f"""
        CREATE TABLE docs (id bigint PRIMARY KEY, title text NOT NULL, body text NOT NULL);
        INSERT INTO docs SELECT g, 'doc ' || g,
               (SELECT string_agg(md5((g * 1000 + r)::text), '') FROM generate_series(1, 256) r)
        FROM generate_series(1, {docs}) g;
        SELECT lo_from_bytea(0, (SELECT string_agg(decode(md5((o * 10000 + r)::text), 'hex'), ''::bytea)
                                 FROM generate_series(1, 16384) r))
        FROM generate_series(1, {lobs}) o;
    """)
    psql(conn, SOURCE_DB, "VACUUM ANALYZE")


DATASETS = {
    "pgbench": {"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "wide"},
    "many": {"t000", "t199"},
    "lobs": {"docs"},
}


DESCRIPTIONS = {
    "pgbench": lambda a: f"pgbench -i -s {a.scale}, 500 pgbench transactions, `wide` with {a.scale * a.wide_rows_per_scale} rows",
    "many": lambda a: "200 tables of 50,000 rows (~5 MB each), each with a primary key and a second index",
    "lobs": lambda a: f"`docs` with {a.scale * 1000} rows of 8 KB text, {a.scale * 10} large objects of 256 KB",
}


def dataset_sizes(conn: Conn) -> tuple[int, list[tuple[str, str]]]:
    total = int(psql(conn, "postgres", f"SELECT pg_database_size('{SOURCE_DB}')"))
    per_table = psql(conn, SOURCE_DB, """
        SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY pg_total_relation_size(oid) DESC""")
    return total, [tuple(l.split("\t")) for l in per_table.splitlines()]


def list_tables(conn: Conn, db: str) -> list[str]:
    return psql(conn, db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").splitlines()


def snapshot(conn: Conn, db: str, tables: list[str]) -> dict:
    """What must be equal on source and copy: per-table count + row-hash sum, indexes, constraints."""
    digests = {}
    for t in tables:
        # Order-independent: a sum of per-row hashes of the row's text form.
        digests[t] = psql(conn, db, f'SELECT count(*), sum(hashtextextended(t::text, 0)) FROM public."{t}" t')
    indexes = set(psql(conn, db, """
        SELECT i.indexrelid::regclass::text || ' ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace""").splitlines())
    constraints = set(psql(conn, db, """
        SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace""").splitlines())
    # Large objects: how many, and a digest of their contents in OID order.
    lobs = psql(conn, db, "SELECT count(*), md5(coalesce(string_agg(md5(lo_get(oid)), ',' ORDER BY oid), '')) "
                          "FROM pg_largeobject_metadata")
    return {"tables": sorted(tables), "digests": digests, "indexes": indexes, "constraints": constraints, "lobs": lobs}


def verify(src_snap: dict, conn: Conn, db: str) -> None:
    """Raise with the differences if the copy does not match the source."""
    copy, problems = harness.snapshot_copy(src_snap, list_tables(conn, db), lambda tables: snapshot(conn, db, tables))
    for t, d in src_snap["digests"].items():
        if copy["digests"].get(t) != d:
            problems.append(f"table {t}: source (count, hashsum) {d!r} copy {copy['digests'].get(t)!r}")
    for kind in ("indexes", "constraints"):
        if copy[kind] != src_snap[kind]:
            problems.append(f"{kind} differ: missing {sorted(src_snap[kind] - copy[kind])} "
                            f"extra {sorted(copy[kind] - src_snap[kind])}")
    if copy["lobs"] != src_snap["lobs"]:
        problems.append(f"large objects (count, digest): source {src_snap['lobs']!r} copy {copy['lobs']!r}")
    harness.raise_problems(db, problems)


def quiesce(conn: Conn) -> None:
    """Not timed: flush the destination's dirty buffers and the OS's, and let its archiver
    catch up, so runs start from the same state. The archiver copies every finished WAL
    segment (a 1 GB copy writes about 60); the backlog of the previous copy otherwise runs
    during the next one, whichever method that is."""
    psql(conn, "postgres", "CHECKPOINT")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready = psql(conn, "postgres", "SELECT count(*) FROM pg_catalog.pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")
        if ready == "0":
            break
        time.sleep(0.2)
    else:
        log("warning: the destination's archiver still had segments to archive after 300 s")
    run(["sync"])


# --------------------------------------------------------------------------------------
# The three methods. Each returns (seconds, extra-info dict); only the copy itself is timed.
# --------------------------------------------------------------------------------------


@dataclass
class Env:
    server: OpenRDS
    src_id: str
    dst_id: str
    src: Conn
    dst: Conn
    workdir: Path
    profile: bool = False


def method_openrds(e: Env, db: str, verification: str = "stream") -> tuple[float, dict]:
    e.server.use_verification(verification)
    quiesce(e.dst)
    with harness.Profile(e.workdir / f"perf-{db}.data" if e.profile else None, HERE / f"profile-{db}.txt"):
        secs, _, info = e.server.timed_import(e.dst_id, e.src_id, SOURCE_DB, db)
    return secs, info


def method_pgcopydb(e: Env, db: str) -> tuple[float, dict]:
    create_database(e.dst, db)  # pgcopydb needs an existing target database
    work = e.workdir / f"pgcopydb-{db}"
    quiesce(e.dst)
    t0 = time.monotonic()
    run(["pgcopydb", "clone", "--table-jobs", "2", "--index-jobs", "2", "--dir", str(work),
         "--source", e.src.uri(SOURCE_DB), "--target", e.dst.uri(db)])
    secs = time.monotonic() - t0
    shutil.rmtree(work, ignore_errors=True)
    return secs, {}


def method_pg_dump(e: Env, db: str) -> tuple[float, dict]:
    create_database(e.dst, db)
    dump = e.workdir / f"dump-{db}"
    quiesce(e.dst)
    t0 = time.monotonic()
    run([str(PG_BIN / "pg_dump"), "-Fd", "-j2", "-f", str(dump), *e.src.args(SOURCE_DB)], env=e.src.env())
    run([str(PG_BIN / "pg_restore"), "-j2", *e.dst.args(db), str(dump)], env=e.dst.env())
    secs = time.monotonic() - t0
    shutil.rmtree(dump, ignore_errors=True)
    return secs, {}


RUNNERS = {"openrds": method_openrds, "openrds-full": lambda e, db: method_openrds(e, db, "full"), "pgcopydb": method_pgcopydb, "pg_dump": method_pg_dump}
LABELS = {
    "openrds": "A. openrds ImportDatabaseBetweenInstances (default `stream` verification)",
    "openrds-full": "A2. openrds, `--import-verification full` (every table read back)",
    "pgcopydb": "B. pgcopydb clone --table-jobs 2 --index-jobs 2",
    "pg_dump": "C. pg_dump -Fd -j2 + pg_restore -j2",
}


def dest_db_name(method: str, rnd: int) -> str:
    return f"bench_r{rnd}" if method == "openrds" else f"bench_r{rnd}_{method.replace('-', '_')}"


# --------------------------------------------------------------------------------------
# Setup, report, main
# --------------------------------------------------------------------------------------


def stop_leftover_engines(workdir: Path) -> None:
    harness.stop_leftover_engines(workdir, (b"postgres",), wait=30)




def build_openrds() -> Path:
    log("cargo build --release -p openrds")
    run(["cargo", "build", "--release", "-p", "openrds"], capture=False)
    return REPO / "target" / "release" / "openrds"


def ensure_pgcopydb() -> None:
    if shutil.which("pgcopydb"):
        return
    log("pgcopydb missing: apt-get install -y pgcopydb")
    run(["apt-get", "install", "-y", "pgcopydb"], capture=False)


def tool_versions(binary: Path, given: bool) -> dict:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], text=True, capture_output=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                            "--", ".", ":(exclude)bench/import_pg"],  # the harness itself does not change the binary
                           text=True, capture_output=True).stdout.strip()
    pgcopydb = subprocess.run(["pgcopydb", "--version"], text=True, capture_output=True).stdout.strip().splitlines()
    return {
        # With --openrds the binary may not match the checkout, so name the file instead.
        "openrds": f"{first_line([str(binary), '--version'])} "
                   + (f"(binary {binary})" if given else f"(git {commit}{' + uncommitted changes' if dirty else ''})"),
        "pg_dump": first_line([str(PG_BIN / "pg_dump"), "--version"]),
        "pgcopydb": pgcopydb[0] if pgcopydb else "?",
        "cpus": str(os.cpu_count()),
        "kernel": os.uname().release,
    }


def report(args, size_bytes: int, per_table, results: list[dict], versions: dict, server_version: str) -> str:
    by_method = {m: [r["secs"] for r in results if r["method"] == m] for m in args.methods}
    med = {m: statistics.median(v) for m, v in by_method.items() if v}
    lines = [
        f"## Import benchmark, dataset {args.dataset}, scale {args.scale} ({size_bytes / 2**20:.0f} MiB)",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {args.rounds} round(s) after an untimed warm-up copy, "
        "each round starting one method later",
        f"- dataset: database `{SOURCE_DB}` ({DESCRIPTIONS[args.dataset](args)}), pg_database_size = {size_bytes} bytes "
        f"({size_bytes / 2**20:.0f} MiB): " + ", ".join(f"{t} {s}" for t, s in per_table[:8])
        + (f" and {len(per_table) - 8} more tables" if len(per_table) > 8 else ""),
        f"- server: {server_version}; {versions['openrds']}; {versions['pg_dump']}; {versions['pgcopydb']}; "
        f"{versions['cpus']} CPUs, Linux {versions['kernel']}",
        "- every copy verified (row counts, row-hash sums, index and constraint definitions, large objects) and dropped",
        "",
        "| method | runs (s) | median (s) | ÷ pgcopydb median | ÷ pg_dump median |",
        "|---|---|---|---|---|",
    ]
    for m in args.methods:
        if m not in med:
            continue
        ratios = [f"{med[m] / med[peer]:.2f}" if peer in med else "n/a" for peer in ("pgcopydb", "pg_dump")]
        lines.append(f"| {LABELS[m]} | {', '.join(f'{s:.2f}' for s in by_method[m])} | {med[m]:.2f} | {' | '.join(ratios)} |")
    ors = [r for r in results if r["method"].startswith("openrds")]
    if ors:
        peak = max(r["peak_rss_mb"] for r in ors)
        hwms = [r["hwm_mb"] for r in ors if r.get("hwm_mb") is not None]
        lines += ["", f"openrds `serve` peak RSS during the copies (VmRSS sampled every 50 ms, max over runs): "
                      f"{peak:.1f} MB" + (f"; VmHWM (reset before each run), max: {max(hwms):.1f} MB" if hwms else "")
                  + f". Server-reported import ElapsedMs, median: "
                  f"{statistics.median(r['server_elapsed_s'] for r in ors):.2f} s."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="pgbench",
                    help="pgbench: pgbench tables and a wide table (one large table dominates); many: 200 tables "
                         "of ~5 MB; lobs: large objects and 8 KB text rows. Default pgbench")
    ap.add_argument("--scale", type=int, default=60,
                    help="pgbench scale (60 ~ 1 GB, 300 ~ 5 GB), or for lobs ~11 MB units; default 60")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of A,B,C; default 3")
    ap.add_argument("--wide-rows-per-scale", type=int, default=7500,
                    help="rows of table `wide` per scale unit; 7500 ~ 15%% of the pgbench data (20000 ~ 40%%)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated subset of {','.join(METHODS)} (order within a round); default all")
    ap.add_argument("--openrds", type=Path, help="use this openrds binary instead of building target/release/openrds")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()),
                    help="where to create the temp dir (instances' data, dumps); needs ~3x the dataset size free")
    ap.add_argument("--profile", action="store_true",
                    help="record each openrds copy with `perf record -a` (summary in profile-<db>.txt here; "
                         "the timings of a profiled run are not for comparison)")
    ap.add_argument("--keep", action="store_true", help="leave server, instances and temp dir in place on exit (debug)")
    args = ap.parse_args()
    harness.check_args(ap, args, METHODS)

    binary = args.openrds.resolve() if args.openrds else build_openrds()
    if "pgcopydb" in args.methods:
        ensure_pgcopydb()
    versions = tool_versions(binary, args.openrds is not None)

    # Engines run as `postgres` and must traverse the temp dir (we run as root).
    workdir = Path(tempfile.mkdtemp(prefix="openrds-bench-", dir=args.tmp))
    os.chmod(workdir, 0o711)
    log(f"workdir {workdir}")
    server = OpenRDS(binary, workdir, free_port(), "27000-27099")
    ids: list[str] = []
    results: list[dict] = []
    try:
        server.start()
        ids = [server.create_instance("PostgreSQL", "15.0", "pg.x4.large.2c"), server.create_instance("PostgreSQL", "15.0", "pg.x4.large.2c")]
        for i in ids:
            server.wait_running(i)
        src_id, dst_id = ids
        e = Env(server, src_id, dst_id, admin_conn(server, src_id), admin_conn(server, dst_id), workdir, args.profile)
        log(f"source {src_id} port {e.src.port}, destination {dst_id} port {e.dst.port}, admin user {e.src.user}")
        server_version = psql(e.src, "postgres", "SELECT version()").split(" on ")[0]

        if args.dataset == "many":
            load_many_tables(e.src, 200)
        elif args.dataset == "lobs":
            load_lobs_and_wide_text(e.src, args.scale)
        else:
            load_dataset(e.src, args.scale, args.wide_rows_per_scale)
        size, per_table = dataset_sizes(e.src)
        log(f"pg_database_size('{SOURCE_DB}') = {size} bytes ({size / 2**20:.1f} MiB): {per_table}")
        tables = list_tables(e.src, SOURCE_DB)
        if missing := DATASETS[args.dataset] - set(tables):
            raise RuntimeError(f"source lacks tables {missing}")
        log("source digests")
        src_snap = snapshot(e.src, SOURCE_DB, tables)

        log("warm-up copy (not timed)")
        method_pg_dump(e, "bench_warmup")
        drop_database(e.dst, "bench_warmup")
        n = len(args.methods)
        for rnd in range(1, args.rounds + 1):
            for m in [args.methods[(i + rnd - 1) % n] for i in range(n)]:
                db = dest_db_name(m, rnd)
                secs, info = RUNNERS[m](e, db)
                verify(src_snap, e.dst, db)  # raises (aborting the run) on any difference
                drop_database(e.dst, db)
                server.discard_archived_logs(dst_id)
                results.append({"method": m, "round": rnd, "secs": secs, **info})
                rss = harness.rss_text(info) if m.startswith("openrds") else "-"
                print(f"RUN method={m:<12} round={rnd} seconds={secs:8.2f} verified=yes openrds_peak_rss={rss}", flush=True)

        md = report(args, size, per_table, results, versions, server_version)
        name = f"results-{args.scale}.md" if args.dataset == "pgbench" else f"results-{args.dataset}-{args.scale}.md"
        harness.publish_report(md, HERE / name)
        return 0
    finally:
        if args.keep:
            log(f"--keep: server pid {server.proc.pid if server.proc else None}, instances {ids}, workdir {workdir}")
        else:
            try:
                if ids and server.proc and server.proc.poll() is None:
                    server.delete_instances(ids)
            finally:
                server.stop()
                stop_leftover_engines(workdir)
                shutil.rmtree(workdir, ignore_errors=True)
                log("cleaned up (instances deleted, server stopped, workdir removed)")


if __name__ == "__main__":
    sys.exit(main())
