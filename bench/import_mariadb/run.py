#!/usr/bin/env python3
"""Benchmark: openrds ImportDatabaseBetweenInstances vs mariadb-dump | mariadb vs mydumper/myloader (MariaDB).

All methods copy the same source database (`shop`, ~1 GB: three sysbench tables, a wide
`docs` table with secondary indexes and edge-case values, a table without a primary key,
a view, a procedure and a trigger) between the same two openrds-managed MariaDB 10.11
instances into `shop_copy`. The order of the methods rotates every round so that drift in
machine state (page cache, background I/O) hits every method alike. Every copy is
verified against the source and dropped before the next run.

`--dev-local` runs the non-openrds methods against the system MariaDB on 127.0.0.1:3306
(root, empty password; `shop` -> `shop_copy` on the same server), without openrds.

Python 3.11 stdlib only. See README.md next to this file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import openrds_harness as harness  # noqa: E402
from openrds_harness import OpenRDS, first_line, free_port, log, run  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SOURCE_DB = "shop"
COPY_DB = "shop_copy"
METHODS = ("openrds", "mariadb-dump", "mydumper", "mydumper-r200k", "mydumper-r200k-nolog")
BASELINE_METHODS = ("mariadb-dump", "mydumper", "mydumper-r200k", "mydumper-r200k-nolog")
# The myloader configurations the target is measured against: those whose rows reach the
# binary log, as every copy into the instance by any of its API accounts does (see
# mydumper_run). The unlogged one is shown beside them for reference.
TARGET_MYDUMPERS = ("mydumper", "mydumper-r200k")
EXPECTED_TABLES = {"sbtest1", "sbtest2", "sbtest3", "docs", "events_nopk"}
# Rows per MB of dataset, from the 997 MB baseline dataset (perf-baseline-mariadb.md):
# sbtest1..3 1,056,910 rows each, docs 189,393, events_nopk 531,303 (1,000 of them duplicates).
SBTEST_ROWS_PER_MB = 1056.91
DOCS_ROWS_PER_MB = 189.393
EVENTS_ROWS_PER_MB = 531.303
# Targets of the issue.
TARGET_VS_MYDUMPER = 0.70
TARGET_VS_DUMP = 0.35
TARGET_RSS_MB = 150.0
DEV_LOCAL = ("127.0.0.1", 3306, "root", "")




# --------------------------------------------------------------------------------------
# openrds server and API (same approach as bench/import_pg/run.py: the `openrds rds`
# client signs the calls)
# --------------------------------------------------------------------------------------


class Conn(harness.Login):
    """How tools reach one MariaDB server as its admin user."""

    def env(self) -> dict:
        # The password goes through MYSQL_PWD (read by mariadb, mariadb-dump, mydumper and
        # myloader alike) so it never shows up in `ps` or in our logs.
        e = dict(os.environ)
        e.pop("MYSQL_PWD", None)
        if self.password:
            e["MYSQL_PWD"] = self.password
        return e

    def args(self) -> list[str]:
        """Connection options for mariadb / mariadb-dump (long options)."""
        return [f"--host={self.host}", f"--port={self.port}", f"--user={self.user}", "--protocol=TCP"]

    def mydumper_args(self) -> list[str]:
        return ["-h", self.host, "-P", str(self.port), "-u", self.user]


def admin_conn(server: OpenRDS, instance_id: str) -> Conn:
    return Conn.admin_of(server, instance_id)


# --------------------------------------------------------------------------------------
# SQL helpers, dataset, verification
# --------------------------------------------------------------------------------------


def sql(conn: Conn, db: str | None, query: str) -> str:
    """Run SQL with the mariadb client (batch, no column names, tab-separated); stop at the first error."""
    cmd = ["mariadb", *conn.args(), "--default-character-set=utf8mb4", "--batch", "--skip-column-names"]
    if db:
        cmd.append(db)
    # Through stdin, so that DELIMITER works and long statements do not hit argv limits.
    p = run(cmd, env=conn.env(), input=query)
    return p.stdout.rstrip("\n")


def rows(conn: Conn, db: str | None, query: str) -> list[list[str]]:
    out = sql(conn, db, query)
    return [line.split("\t") for line in out.splitlines()] if out else []


def db_charset(conn: Conn, db: str) -> tuple[str, str]:
    r = rows(conn, None, f"SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                         f"WHERE SCHEMA_NAME = '{db}'")
    if not r:
        raise RuntimeError(f"database {db} does not exist")
    return r[0][0], r[0][1]


def create_database(conn: Conn, db: str, charset: tuple[str, str]) -> None:
    sql(conn, None, f"CREATE DATABASE `{db}` CHARACTER SET {charset[0]} COLLATE {charset[1]}")


def drop_database(conn: Conn, db: str) -> None:
    sql(conn, None, f"DROP DATABASE IF EXISTS `{db}`")


def digit_groups(n: int) -> str:
    """sysbench's c/pad: n groups of 11 random digits joined by '-'."""
    return "CONCAT_WS('-', " + ", ".join(["LPAD(FLOOR(RAND() * 99999999999), 11, '0')"] * n) + ")"


def dataset_counts(scale_mb: int) -> dict:
    ev = max(20, round(EVENTS_ROWS_PER_MB * scale_mb))
    dups = min(1000, ev // 20)
    return {"sbtest": max(10, round(SBTEST_ROWS_PER_MB * scale_mb)),
            "docs": max(200, round(DOCS_ROWS_PER_MB * scale_mb)),
            "events": ev - dups, "events_dups": dups}


def load_dataset(conn: Conn, scale_mb: int) -> dict:
    """Build `shop` server-side (INSERT ... SELECT ... FROM seq_1_to_N), two tables at a time.

    Row counts scale linearly from the baseline's 997 MB dataset. `docs` carries the edge
    cases a copier gets wrong: a real NULL next to the literal strings 'NULL' and '\\N',
    tabs, newlines, CR, backslashes and NUL bytes in TEXT and JSON, DATETIME(6), DECIMAL,
    nullable INT/DATETIME, and 128 random bytes of BLOB; its AUTO_INCREMENT sits 1,000,000
    above max(id). `events_nopk` has no primary key and no index, and exact duplicate rows.
    """
    n = dataset_counts(scale_mb)
    create_database(conn, SOURCE_DB, ("utf8mb4", "utf8mb4_general_ci"))
    ddl = f"""
CREATE TABLE docs (
  id INT NOT NULL AUTO_INCREMENT,
  sku VARCHAR(32) NOT NULL,
  title VARCHAR(200) NULL,
  body TEXT NOT NULL,
  attrs JSON NULL,
  created DATETIME(6) NOT NULL,
  updated DATETIME NULL,
  price DECIMAL(12,2) NOT NULL,
  qty INT NULL,
  raw BLOB NULL,
  PRIMARY KEY (id),
  KEY docs_sku (sku),
  KEY docs_created_price (created, price)
) ENGINE=InnoDB;
CREATE TABLE events_nopk (
  ts DATETIME NOT NULL,
  kind VARCHAR(16) NOT NULL,
  user_id INT NULL,
  payload VARCHAR(255) NULL
) ENGINE=InnoDB;
"""
    for i in (1, 2, 3):
        ddl += f"""CREATE TABLE sbtest{i} (
  id INT NOT NULL AUTO_INCREMENT,
  k INT NOT NULL DEFAULT 0,
  c CHAR(120) NOT NULL DEFAULT '',
  pad CHAR(60) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY k_1 (k)
) ENGINE=InnoDB;
"""
    sql(conn, SOURCE_DB, ddl)

    fills = {}
    for i in (1, 2, 3):
        fills[f"sbtest{i}"] = (
            f"INSERT INTO sbtest{i} (id, k, c, pad) SELECT seq, FLOOR(1 + RAND() * {n['sbtest']}), "
            f"{digit_groups(10)}, {digit_groups(5)} FROM seq_1_to_{n['sbtest']}")
    fills["docs"] = f"""
INSERT INTO docs (id, sku, title, body, attrs, created, updated, price, qty, raw)
SELECT seq,
  CONCAT('SKU-', LPAD(seq MOD 5000, 5, '0')),
  CASE seq MOD 97 WHEN 0 THEN NULL WHEN 1 THEN 'NULL' WHEN 2 THEN '\\\\N' WHEN 3 THEN ''
       ELSE CONCAT('Title ', seq, ' «ünïcødé» ', LEFT(MD5(RAND()), 12)) END,
  CONCAT('doc ', seq, '\\tcol2\\tC:\\\\path\\\\to\\\\file\\nsecond line\\r\\n',
         IF(seq MOD 101 = 0, '\\\\N', ''), IF(seq MOD 113 = 0, CHAR(0 USING utf8mb4), ''),
         IF(seq MOD 7 = 0, 'NULL', ''), ' ', REPEAT(MD5(RAND()), 11)),
  IF(seq MOD 50 = 0, NULL,
     JSON_OBJECT('i', seq, 'tag', seq MOD 7, 'ok', seq MOD 2 = 0,
                 'note', IF(seq MOD 3 = 0, 'tab\\there "quoted" \\\\ back', 'line\\nbreak'),
                 'tags', JSON_ARRAY('a', seq MOD 11, NULL))),
  TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq SECOND + INTERVAL (seq * 7919) MOD 1000000 MICROSECOND,
  IF(seq MOD 4 = 0, NULL, TIMESTAMP('2025-01-01 00:00:00') + INTERVAL seq MINUTE),
  ROUND(RAND() * 100000, 2) - 5000,
  IF(seq MOD 10 = 0, NULL, seq MOD 1000),
  IF(seq MOD 25 = 0, NULL, RANDOM_BYTES(128))
FROM seq_1_to_{n['docs']}"""
    fills["events_nopk"] = f"""
INSERT INTO events_nopk (ts, kind, user_id, payload)
SELECT TIMESTAMP('2024-06-01 00:00:00') + INTERVAL (seq DIV 3) SECOND,
  ELT(1 + seq MOD 5, 'view', 'click', 'cart', 'buy', 'refund'),
  IF(seq MOD 17 = 0, NULL, FLOOR(RAND() * 100000)),
  IF(seq MOD 13 = 0, NULL, CONCAT(MD5(RAND()), MD5(RAND()), '-', seq))
FROM seq_1_to_{n['events']}"""

    def fill(table: str) -> tuple[str, float]:
        t0 = time.monotonic()
        sql(conn, SOURCE_DB, fills[table])
        return table, time.monotonic() - t0

    log(f"dataset: sbtest1..3 {n['sbtest']} rows each, docs {n['docs']}, "
        f"events_nopk {n['events']} + {n['events_dups']} duplicates")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for table, secs in pool.map(fill, ["docs", "sbtest1", "sbtest2", "sbtest3", "events_nopk"]):
            log(f"  {table} filled in {secs:.1f} s")
    sql(conn, SOURCE_DB, f"""
INSERT INTO events_nopk SELECT * FROM events_nopk ORDER BY ts LIMIT {n['events_dups']};
SELECT MAX(id) + 1000001 INTO @ai FROM docs;
SET @s = CONCAT('ALTER TABLE docs AUTO_INCREMENT = ', @ai);
PREPARE st FROM @s; EXECUTE st; DEALLOCATE PREPARE st;
CREATE VIEW doc_totals AS SELECT sku, COUNT(*) AS n, SUM(price) AS total, MAX(created) AS last_created
  FROM docs GROUP BY sku;
DELIMITER $$
CREATE PROCEDURE doc_stats(IN p_sku VARCHAR(32))
BEGIN
  DECLARE v_n INT;
  SELECT COUNT(*) INTO v_n FROM docs WHERE sku = p_sku;
  SELECT p_sku AS sku, v_n AS n, SUM(price) AS total, SUM(qty IS NULL) AS null_qty FROM docs WHERE sku = p_sku;
END$$
CREATE TRIGGER docs_bu BEFORE UPDATE ON docs FOR EACH ROW
BEGIN
  SET NEW.updated = NOW();
END$$
DELIMITER ;
ANALYZE TABLE sbtest1, sbtest2, sbtest3, docs, events_nopk;
""")
    log(f"dataset built in {time.monotonic() - t0:.1f} s")
    return n


def dataset_sizes(conn: Conn) -> tuple[int, list[tuple[str, int, int]]]:
    per_table = [(t, int(r), int(b)) for t, r, b in rows(conn, None, f"""
        SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = '{SOURCE_DB}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 3 DESC""")]
    return sum(b for _, _, b in per_table), per_table


def list_tables(conn: Conn, db: str) -> list[str]:
    return [r[0] for r in rows(conn, None, f"SELECT TABLE_NAME FROM information_schema.TABLES "
                                          f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1")]


def norm_ws(s: str) -> str:
    """Collapse whitespace: mydumper 0.10 adds a space before line breaks in routine/trigger bodies."""
    return " ".join(s.split())


def snapshot(conn: Conn, db: str, tables: list[str]) -> dict:
    """What must be equal on source and copy.

    Per table: COUNT(*) and CHECKSUM TABLE (order-independent), SHOW CREATE TABLE without
    the AUTO_INCREMENT clause, and AUTO_INCREMENT itself. Schema objects: the view's
    definition (database name masked, so a view still pointing at the source shows up)
    and its result, the procedure and trigger bodies (whitespace-normalised) and
    sql_mode, and the result of CALL doc_stats('SKU-00042').
    """
    q = "".join(f"SELECT '{t}', COUNT(*) FROM `{t}`;\n" for t in tables)
    counts = {t: c for t, c in rows(conn, db, q)} if tables else {}
    sums = {}
    if tables:
        for name, value in rows(conn, db, "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables)):
            sums[name.split(".", 1)[1]] = value
    creates, autoinc = {}, {}
    for t in tables:
        ddl = rows(conn, db, f"SHOW CREATE TABLE `{t}`")[0][1].replace("\\n", "\n")
        creates[t] = re.sub(r" AUTO_INCREMENT=\d+", "", ddl)
    for t, ai in rows(conn, None, f"SELECT TABLE_NAME, IFNULL(AUTO_INCREMENT, '-') FROM information_schema.TABLES "
                                  f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE'"):
        autoinc[t] = ai
    mask = lambda s: s.replace(f"`{db}`", "`<db>`")  # noqa: E731
    views = {n: mask(d) for n, d in rows(conn, None, f"SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
                                                    f"WHERE TABLE_SCHEMA = '{db}'")}
    view_result = sql(conn, db, "SELECT COUNT(*), SUM(n), SUM(total), MAX(last_created) FROM doc_totals") \
        if "doc_totals" in views else None
    routines = {}
    for name, kind, body, mode, definer in rows(conn, None, f"""
            SELECT ROUTINE_NAME, ROUTINE_TYPE, REPLACE(REPLACE(ROUTINE_DEFINITION, '\\n', ' '), '\\t', ' '), SQL_MODE, DEFINER
            FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db}'"""):
        routines[name] = (kind, norm_ws(mask(body)), mode)
    triggers = {}
    for name, tbl, timing, event, body, mode in rows(conn, None, f"""
            SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION,
                   REPLACE(REPLACE(ACTION_STATEMENT, '\\n', ' '), '\\t', ' '), SQL_MODE
            FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}'"""):
        triggers[name] = (tbl, timing, event, norm_ws(mask(body)), mode)
    call = sql(conn, db, "CALL doc_stats('SKU-00042')") if "doc_stats" in routines else None
    return {"tables": sorted(tables), "counts": counts, "checksums": sums, "creates": creates, "autoinc": autoinc,
            "views": views, "view_result": view_result, "routines": routines, "triggers": triggers, "call": call}


def verify(src_snap: dict, conn: Conn, db: str) -> None:
    """Raise with the differences if the copy does not match the source."""
    copy, problems = harness.snapshot_copy(src_snap, list_tables(conn, db), lambda tables: snapshot(conn, db, tables))
    for t in src_snap["tables"]:
        for kind in ("counts", "checksums", "creates", "autoinc"):
            if copy[kind].get(t) != src_snap[kind][t]:
                problems.append(f"table {t}: {kind} source {src_snap[kind][t]!r} copy {copy[kind].get(t)!r}")
    for kind in ("views", "view_result", "routines", "triggers", "call"):
        if copy[kind] != src_snap[kind]:
            problems.append(f"{kind} differ: source {src_snap[kind]!r} copy {copy[kind]!r}")
    for kind, names in (("views", {"doc_totals"}), ("routines", {"doc_stats"}), ("triggers", {"docs_bu"})):
        if missing := names - set(copy[kind]):
            problems.append(f"{kind} missing in {db}: {sorted(missing)}")
    harness.raise_problems(db, problems)


class Quiescer:
    """Not timed: write the destination's dirty InnoDB pages out and `sync`, so runs start alike.

    Sets innodb_max_dirty_pages_pct(_lwm) to 0 and raises innodb_io_capacity until
    Innodb_buffer_pool_pages_dirty is ~0 (at most 120 s), then restores the settings.
    Needs SUPER (or BINLOG ADMIN/ SYSTEM VARIABLES ADMIN); without it only `sync` runs.
    """

    VARS = ("innodb_max_dirty_pages_pct_lwm", "innodb_max_dirty_pages_pct", "innodb_io_capacity_max", "innodb_io_capacity")

    def __init__(self, conn: Conn):
        self.conn = conn
        self.ok = True

    def __call__(self) -> None:
        if self.ok:
            try:
                self._flush()
            except RuntimeError as e:
                self.ok = False
                log(f"warning: cannot force dirty pages out on {self.conn.port} ({str(e).splitlines()[0]}); only `sync` from now on")
        run(["sync"])

    def _flush(self) -> None:
        saved = dict(rows(self.conn, None, "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES "
                                           "WHERE VARIABLE_NAME IN (" + ", ".join(f"'{v.upper()}'" for v in self.VARS) + ")"))
        saved = {k.lower(): v for k, v in saved.items()}
        try:
            sql(self.conn, None, "SET GLOBAL innodb_io_capacity_max = 20000; SET GLOBAL innodb_io_capacity = 10000; "
                                 "SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0; SET GLOBAL innodb_max_dirty_pages_pct = 0")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                dirty = int(rows(self.conn, None, "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")[0][1])
                if dirty < 10:
                    break
                time.sleep(0.2)
        finally:
            # Order matters: capacity before capacity_max when lowering, pct before lwm when raising.
            restore = [f"SET GLOBAL {v} = {saved[v]}" for v in ("innodb_io_capacity", "innodb_io_capacity_max",
                                                                  "innodb_max_dirty_pages_pct", "innodb_max_dirty_pages_pct_lwm")
                       if v in saved]
            sql(self.conn, None, ";\n".join(restore))


# --------------------------------------------------------------------------------------
# The methods. Each returns (seconds, extra-info dict); only the copy itself is timed.
# --------------------------------------------------------------------------------------


@dataclass
class Env:
    server: OpenRDS | None
    src_id: str | None
    dst_id: str | None
    src: Conn
    dst: Conn
    workdir: Path
    charset: tuple[str, str]
    quiesce: Quiescer
    profile: bool = False


def find_key(obj, pred, path="") -> list[tuple[str, object]]:
    """All (path, value) of keys of a JSON value for which pred(key) holds."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else k
            if pred(k):
                out.append((p, v))
            out += find_key(v, pred, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += find_key(v, pred, f"{path}[{i}]")
    return out


def method_openrds(e: Env) -> tuple[float, dict]:
    e.quiesce()
    with harness.Profile(e.workdir / "perf-openrds.data" if e.profile else None, HERE / "profile-openrds.txt"):
        secs, p, info = e.server.timed_import(e.dst_id, e.src_id, SOURCE_DB, COPY_DB)
    # The source's write block (MariaDB's brief global read lock for the snapshot), if reported.
    info["write_block"] = find_key(p, lambda k: "WriteBlock" in k or "Lock" in k)  # PascalCase: "Blocks" does not match
    return secs, info


def method_mariadb_dump(e: Env) -> tuple[float, dict]:
    create_database(e.dst, COPY_DB, e.charset)  # not timed, like the PG harness's CREATE DATABASE
    e.quiesce()
    t0 = time.monotonic()
    dump = subprocess.Popen(["mariadb-dump", *e.src.args(), "--single-transaction", "--routines", "--triggers",
                             "--events", SOURCE_DB], env=e.src.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.run(["mariadb", *e.dst.args(), COPY_DB], env=e.dst.env(), stdin=dump.stdout,
                          capture_output=True, text=True)
    dump.stdout.close()
    dump_err = dump.stderr.read().decode(errors="replace")
    dump.wait()
    secs = time.monotonic() - t0
    if dump.returncode != 0 or load.returncode != 0:
        raise RuntimeError(f"mariadb-dump | mariadb failed: dump exit {dump.returncode}, load exit {load.returncode}\n"
                           f"--- mariadb-dump stderr ---\n{dump_err[-3000:]}\n--- mariadb stderr ---\n{load.stderr[-3000:]}")
    return secs, {}


def mydumper_run(e: Env, extra: list[str], log_rows: bool = True) -> tuple[float, dict]:
    """mydumper, then myloader. myloader's default is `SET SQL_LOG_BIN=0`, which needs
    SUPER or BINLOG ADMIN: no API account of an instance holds either (so for every user
    of the service that statement fails, myloader goes on, and its rows are logged), and
    only the internal administrator this harness logs in as can. `log_rows` (`-e`) makes
    myloader do here what it does for a user: log every row, as openrds's import does so
    that point-in-time restores after it hold the copy. Unlogged, the copy skips writing
    about as many bytes again as it loads, and a restore to any time after it lacks it."""
    create_database(e.dst, COPY_DB, e.charset)  # not timed; myloader -B would create it with the server default
    dump_dir = Path(tempfile.mkdtemp(prefix="mydumper-", dir=e.workdir)) / "dump"
    e.quiesce()
    try:
        t0 = time.monotonic()
        run(["mydumper", *e.src.mydumper_args(), "-t", "2", "-G", "-R", "-E", "-B", SOURCE_DB, "-o", str(dump_dir),
             "-v", "2", *extra], env=e.src.env())
        t1 = time.monotonic()
        run(["myloader", *e.dst.mydumper_args(), "-t", "2", "-s", SOURCE_DB, "-B", COPY_DB, "-d", str(dump_dir),
             "-v", "2", *(["-e"] if log_rows else [])], env=e.dst.env())
        t2 = time.monotonic()
        dump_mb = sum(f.stat().st_size for f in dump_dir.iterdir()) / 1e6
    finally:
        shutil.rmtree(dump_dir.parent, ignore_errors=True)
    return t2 - t0, {"dump_s": t1 - t0, "load_s": t2 - t1, "dump_mb": dump_mb}


def method_mydumper(e: Env) -> tuple[float, dict]:
    return mydumper_run(e, [])


def method_mydumper_r200k(e: Env) -> tuple[float, dict]:
    return mydumper_run(e, ["-r", "200000"])


def method_mydumper_r200k_nolog(e: Env) -> tuple[float, dict]:
    return mydumper_run(e, ["-r", "200000"], log_rows=False)


RUNNERS = {"openrds": method_openrds, "mariadb-dump": method_mariadb_dump, "mydumper": method_mydumper,
           "mydumper-r200k": method_mydumper_r200k, "mydumper-r200k-nolog": method_mydumper_r200k_nolog}
LABELS = {
    "openrds": "A. openrds ImportDatabaseBetweenInstances",
    "mariadb-dump": "B. mariadb-dump --single-transaction --routines --triggers --events \\| mariadb",
    "mydumper": "C. mydumper -t 2 -G -R -E + myloader -t 2 -e",
    "mydumper-r200k": "D. mydumper -t 2 -G -R -E -r 200000 + myloader -t 2 -e",
    "mydumper-r200k-nolog": "E. as D without `-e`: rows not in the binary log (needs BINLOG ADMIN, which no API account has)",
}


# --------------------------------------------------------------------------------------
# Setup, report, main
# --------------------------------------------------------------------------------------


def stop_leftover_engines(workdir: Path) -> None:
    harness.stop_leftover_engines(workdir, (b"mariadbd", b"mysqld"), wait=60)




def ensure_mydumper() -> None:
    if shutil.which("mydumper") and shutil.which("myloader"):
        return
    log("mydumper missing: apt-get install -y mydumper")
    run(["apt-get", "install", "-y", "mydumper"], capture=False)


def tool_versions(binary: Path | None) -> dict:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], text=True, capture_output=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                            "--", ".", ":(exclude)bench/import_mariadb"],  # the harness itself does not change the binary
                           text=True, capture_output=True).stdout.strip()
    mem_kb = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:")), 0)
    return {
        "openrds": (f"{first_line([str(binary), '--version'])} (binary {binary}; git {commit}"
                    f"{' + uncommitted changes' if dirty else ''})") if binary else "not used (--dev-local)",
        "mariadb-dump": first_line(["mariadb-dump", "--version"]),
        "mydumper": first_line(["mydumper", "--version"]),
        "cpus": str(os.cpu_count()),
        "mem": f"{mem_kb / 2**20:.0f} GiB",
        "kernel": os.uname().release,
    }


def fmt_ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:.2f}" if num is not None and den else "n/a"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**PASS**" if ok else "**FAIL**")


def report(args, counts: dict, size_bytes: int, per_table, results: list[dict], versions: dict,
           server_version: str) -> str:
    by_method = {m: [r["secs"] for r in results if r["method"] == m] for m in args.methods}
    med = {m: statistics.median(v) for m, v in by_method.items() if v}
    mydumpers = {m: med[m] for m in TARGET_MYDUMPERS if m in med}
    best_my = min(mydumpers, key=mydumpers.get) if mydumpers else None
    o = med.get("openrds")
    where = ("**dev-local**: source and destination are both the system MariaDB on 127.0.0.1:3306 "
             f"(`{SOURCE_DB}` -> `{COPY_DB}` on one server); openrds not run"
             if args.dev_local else "two openrds-managed `mariadb.x4.large.2c` MariaDB 10.11 instances")
    lines = [
        f"## MariaDB import benchmark, scale {args.scale} MB ({size_bytes / 1e6:.0f} MB)"
        + (" — dev-local" if args.dev_local else ""),
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {args.rounds} round(s), "
        f"method order rotates every round ({', '.join(args.methods)} first round)",
        f"- where: {where}",
        f"- dataset: database `{SOURCE_DB}` (--scale {args.scale}): sbtest1..3 {counts['sbtest']} rows each, "
        f"docs {counts['docs']}, events_nopk {counts['events'] + counts['events_dups']} "
        f"({counts['events_dups']} duplicates), view doc_totals, procedure doc_stats, trigger docs_bu; "
        f"data_length + index_length = {size_bytes} bytes ({size_bytes / 1e6:.0f} MB): "
        + ", ".join(f"{t} {b / 1e6:.0f} MB" for t, _, b in per_table),
        f"- server: {server_version}; {versions['openrds']}; {versions['mariadb-dump']}; {versions['mydumper']}; "
        f"{versions['cpus']} CPUs, {versions['mem']}, Linux {versions['kernel']}",
        "- every copy verified (COUNT(*) and CHECKSUM TABLE per table, SHOW CREATE TABLE, AUTO_INCREMENT, "
        "view definition and result, procedure and trigger bodies, CALL doc_stats) and dropped; "
        "dirty pages flushed + `sync` before each run (not timed)",
        "",
        "| method | runs (s) | median (s) | min-max (s) | MB/s | openrds / method |",
        "|---|---|---|---|---|---|",
    ]
    for m in args.methods:
        if m not in med:
            continue
        v = by_method[m]
        extra = ""
        if m.startswith("mydumper"):
            rs = [r for r in results if r["method"] == m]
            extra = (f" (dump {statistics.median(r['dump_s'] for r in rs):.1f} + load "
                     f"{statistics.median(r['load_s'] for r in rs):.1f} s, {statistics.median(r['dump_mb'] for r in rs):.0f} MB of files)")
        lines.append(f"| {LABELS[m]}{extra} | {', '.join(f'{s:.2f}' for s in v)} | {med[m]:.2f} | "
                     f"{min(v):.2f}-{max(v):.2f} | {size_bytes / 1e6 / med[m]:.0f} | {fmt_ratio(o, med[m])} |")
    lines.append("")
    if best_my:
        lines.append(f"Best mydumper/myloader configuration that logs its rows: `{best_my}` ({mydumpers[best_my]:.2f} s).")
    if "mydumper-r200k-nolog" in med and o is not None:
        lines.append(f"For reference, against myloader with the binary log off (E, {med['mydumper-r200k-nolog']:.2f} s): "
                     f"{o / med['mydumper-r200k-nolog']:.2f} ×; openrds logs every row it loads.")
    ors = [r for r in results if r["method"] == "openrds"]
    peak = None
    if ors:
        peak = max(r["peak_rss_mb"] for r in ors)
        hwms = [r["hwm_mb"] for r in ors if r.get("hwm_mb") is not None]
        lines.append(f"openrds `serve` peak RSS during the copies (VmRSS sampled every 50 ms, max over runs): "
                     f"{peak:.1f} MB" + (f"; VmHWM (reset before each run), max: {max(hwms):.1f} MB" if hwms else "")
                     + f". Server-reported import ElapsedMs, median: "
                     f"{statistics.median(r['server_elapsed_s'] for r in ors):.2f} s.")
        wb = [r["write_block"] for r in ors if r.get("write_block")]
        if wb:
            lines.append("Source write block reported by openrds, per run: "
                         + "; ".join(", ".join(f"{k}={v}" for k, v in w) for w in wb) + ".")
        else:
            lines.append("Source write block: not reported by DescribeImportProgress (no key containing WriteBlock/Lock).")
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    r1 = o / mydumpers[best_my] if o is not None and best_my else None
    r2 = o / med["mariadb-dump"] if o is not None and "mariadb-dump" in med else None
    lines.append(f"| openrds median ≤ {TARGET_VS_MYDUMPER} × best logged mydumper/myloader | "
                 f"{f'{r1:.2f} ×' if r1 is not None else 'n/a'} | {verdict(None if r1 is None else r1 <= TARGET_VS_MYDUMPER)} |")
    lines.append(f"| openrds median ≤ {TARGET_VS_DUMP} × mariadb-dump \\| mariadb | "
                 f"{f'{r2:.2f} ×' if r2 is not None else 'n/a'} | {verdict(None if r2 is None else r2 <= TARGET_VS_DUMP)} |")
    lines.append(f"| peak RSS of `openrds serve` ≤ {TARGET_RSS_MB:.0f} MB | "
                 f"{f'{peak:.1f} MB' if peak is not None else 'n/a'} | {verdict(None if peak is None else peak <= TARGET_RSS_MB)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=1000, help="approximate dataset size in MB; default 1000 (~1 GB)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all methods; default 3")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated subset of {','.join(METHODS)} (order of the first round); default all")
    ap.add_argument("--openrds", type=Path, default=REPO / "target" / "release" / "openrds",
                    help="openrds binary; default target/release/openrds (build it first: cargo build --release -p openrds)")
    ap.add_argument("--engine-version", default="10.11", help="EngineVersion of the two instances; default 10.11")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()),
                    help="where to create the temp dir (instances' data, dumps); needs ~4x the dataset size free")
    ap.add_argument("--profile", action="store_true",
                    help="perf record -a over each openrds copy; summary in bench/import_mariadb/profile-openrds.txt")
    ap.add_argument("--keep", action="store_true",
                    help="leave server, instances, temp dir (and in --dev-local the databases) in place on exit (debug)")
    ap.add_argument("--dev-local", action="store_true",
                    help="no openrds: source and destination are the system MariaDB on 127.0.0.1:3306 (root, no password)")
    args = ap.parse_args()
    harness.check_args(ap, args, METHODS)
    if args.dev_local and "openrds" in args.methods:
        log("--dev-local: skipping method openrds")
        args.methods = [m for m in args.methods if m != "openrds"]
    if not args.methods:
        ap.error("no method left to run")

    binary = None
    if not args.dev_local:
        binary = args.openrds.resolve()
        if not binary.is_file():
            ap.error(f"{binary} not found; build it (cargo build --release -p openrds) or pass --openrds")
    if any(m.startswith("mydumper") for m in args.methods):
        ensure_mydumper()
    versions = tool_versions(binary)

    # Engines run as an unprivileged user and must traverse the temp dir (we run as root).
    workdir = Path(tempfile.mkdtemp(prefix="openrds-bench-mdb-", dir=args.tmp))
    os.chmod(workdir, 0o711)
    log(f"workdir {workdir}")
    server = OpenRDS(binary, workdir, free_port(), "27100-27199") if binary else None
    ids: list[str] = []
    results: list[dict] = []
    src = dst = None
    try:
        if args.dev_local:
            h, p, u, pw = DEV_LOCAL
            src = dst = Conn(h, p, u, pw)
            e_ids = (None, None)
            for db in (SOURCE_DB, COPY_DB):
                if rows(src, None, f"SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'"):
                    log(f"dev-local: dropping existing database {db} on {h}:{p}")
                    drop_database(src, db)
        else:
            server.start()
            try:
                ids.append(server.create_instance("MariaDB", args.engine_version, "mariadb.x4.large.2c"))
                ids.append(server.create_instance("MariaDB", args.engine_version, "mariadb.x4.large.2c"))
            except RuntimeError as ex:
                if "InvalidEngine.NotSupported" in str(ex) or "EngineVersion" in str(ex):
                    log(f"this openrds ({binary}) cannot create MariaDB {args.engine_version} instances; "
                        "build one with MariaDB support, or use --dev-local for the baseline methods")
                raise
            for i in ids:
                server.wait_running(i)
            e_ids = tuple(ids)
            src, dst = admin_conn(server, ids[0]), admin_conn(server, ids[1])
            log(f"source {ids[0]} port {src.port}, destination {ids[1]} port {dst.port}, admin user {src.user}")
        server_version = sql(src, None, "SELECT CONCAT('MariaDB ', VERSION(), ', innodb_buffer_pool_size ', "
                                        "@@innodb_buffer_pool_size DIV 1048576, ' MiB')")

        counts = load_dataset(src, args.scale)
        size, per_table = dataset_sizes(src)
        log(f"source `{SOURCE_DB}` data_length + index_length = {size} bytes ({size / 1e6:.1f} MB): "
            + ", ".join(f"{t} {r} rows ~{b / 1e6:.0f} MB" for t, r, b in per_table))
        tables = list_tables(src, SOURCE_DB)
        if missing := EXPECTED_TABLES - set(tables):
            raise RuntimeError(f"source lacks tables {missing}")
        charset = db_charset(src, SOURCE_DB)
        log("source digests")
        src_snap = snapshot(src, SOURCE_DB, tables)
        e = Env(server, e_ids[0], e_ids[1], src, dst, workdir, charset, Quiescer(dst), args.profile)

        n = len(args.methods)
        for rnd in range(1, args.rounds + 1):
            order = [args.methods[(i + rnd - 1) % n] for i in range(n)]
            for m in order:
                drop_database(e.dst, COPY_DB)  # not timed
                secs, info = RUNNERS[m](e)
                try:
                    verify(src_snap, e.dst, COPY_DB)  # raises (aborting the run) on any difference
                except RuntimeError:
                    print(f"RUN method={m:<14} round={rnd} seconds={secs:8.2f} verified=NO  <<<<<<<<<< FAILED",
                          flush=True)
                    raise
                drop_database(e.dst, COPY_DB)
                results.append({"method": m, "round": rnd, "secs": secs, **info})
                extra = ""
                if m == "openrds":
                    extra = f" openrds_peak_rss={harness.rss_text(info)}"
                    if info["write_block"]:
                        extra += " " + " ".join(f"{k}={v}" for k, v in info["write_block"])
                elif m.startswith("mydumper"):
                    extra = f" dump={info['dump_s']:.2f}s load={info['load_s']:.2f}s files={info['dump_mb']:.0f}MB"
                print(f"RUN method={m:<14} round={rnd} seconds={secs:8.2f} verified=yes{extra}", flush=True)

        md = report(args, counts, size, per_table, results, versions, server_version)
        harness.publish_report(md, HERE / (f"results-devlocal-{args.scale}.md" if args.dev_local else f"results-{args.scale}.md"))
        return 0
    finally:
        if args.keep:
            log(f"--keep: server pid {server.proc.pid if server and server.proc else None}, instances {ids}, "
                f"workdir {workdir}")
        else:
            try:
                if args.dev_local and src is not None:
                    for db in (COPY_DB, SOURCE_DB):
                        try:
                            drop_database(src, db)
                        except RuntimeError as ex:
                            log(f"warning: could not drop {db}: {ex}")
                elif ids and server and server.proc and server.proc.poll() is None:
                    server.delete_instances(ids)
            finally:
                if server:
                    server.stop()
                    stop_leftover_engines(workdir)
                shutil.rmtree(workdir, ignore_errors=True)
                log("cleaned up" + (" (shop and shop_copy dropped)" if args.dev_local
                                    else " (instances deleted, server stopped, workdir removed)"))


if __name__ == "__main__":
    sys.exit(main())
