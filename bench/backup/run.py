#!/usr/bin/env python3
"""Benchmark: openrds CreateBackup / CloneDBInstance vs the engine's bare backup tool and a
bare restore (copy + start), on the same instance and data.

PostgreSQL (`--engine PostgreSQL`, default):
  A. openrds CreateBackup (pg_basebackup + pg_verifybackup + an xxh3 manifest), from the
     call until DescribeBackupTasks reports `Finished`
  B. bare `pg_basebackup -Fp -X stream -c fast` against the same instance
  C. openrds CloneDBInstance from round's A set, from the call until the clone is `Running`
  D. bare restore: `cp -a` of B's directory + `pg_ctl start -w` on it
  E. `pg_verifybackup` alone on B's directory (reported, not in the ratios)
MariaDB (`--engine MariaDB`): B is `mariadb-backup --backup` + `--prepare`, D is a copy
of the prepared directory + `mariadbd` on it until it accepts a TCP connection; no E.

One untimed openrds backup warms everything first; each round then runs the two backups
(A, B; the first of them alternating every round), E, then the two restores (C, D, same
alternation). `sync` runs before every timed step (not timed). Every clone and every bare
restore is checked against the source (row count and a column sum). Results are medians.

Python 3.11 stdlib only. See README.md next to this file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import openrds_harness as harness  # noqa: E402
from openrds_harness import OpenRDS, first_line, free_port, log, run  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SOURCE_DB_PG = "bench"
METHODS = ("backup", "bare", "verify", "clone", "restore")
LABELS = {
    "PostgreSQL": {
        "backup": "A. openrds CreateBackup (pg_basebackup + pg_verifybackup + xxh3 manifest)",
        "bare": "B. pg_basebackup -Fp -X stream -c fast",
        "verify": "E. pg_verifybackup on B's directory (not in the ratios)",
        "clone": "C. openrds CloneDBInstance from A's set, until Running",
        "restore": "D. cp -a of B's directory + pg_ctl start -w",
    },
    "MariaDB": {
        "backup": "A. openrds CreateBackup (mariadb-backup --backup + --prepare + xxh3 manifest)",
        "bare": "B. mariadb-backup --backup + --prepare",
        "verify": "E. (none for MariaDB)",
        "clone": "C. openrds CloneDBInstance from A's set, until Running",
        "restore": "D. cp -a of B's prepared directory + mariadbd until it accepts TCP",
    },
}
TARGET_BACKUP = 1.2  # A / B
TARGET_CLONE = 1.5  # C / B
POLL = 0.2


# --------------------------------------------------------------------------------------
# Watching what openrds runs: its descendant processes and the instances' data dirs
# --------------------------------------------------------------------------------------


class Watcher:
    """Every 25 ms, notes the descendants of `root_pid` (name and argv, first and last
    seen) and when each `<instances>/<id>/data` directory first exists. Cheap: only the
    server's process tree is read, not all of /proc."""

    def __init__(self, root_pid: int, instances_dir: Path, interval: float = 0.025):
        self.root_pid, self.instances_dir, self.interval = root_pid, instances_dir, interval
        self.procs: dict[int, dict] = {}
        self.data_dirs: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _children(pid: int) -> list[int]:
        out = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                try:
                    out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def _scan(self) -> None:
        now = time.monotonic()
        pending, seen = self._children(self.root_pid), set()
        while pending:
            pid = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            if pid not in self.procs:
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    argv = [a.decode(errors="replace") for a in argv if a]
                except OSError:
                    continue
                self.procs[pid] = {"name": os.path.basename(argv[0]) if argv else "?", "argv": argv,
                                   "first": now, "last": now}
            else:
                self.procs[pid]["last"] = now
            pending += self._children(pid)
        try:
            for d in os.listdir(self.instances_dir):
                if d not in self.data_dirs and (self.instances_dir / d / "data").exists():
                    self.data_dirs[d] = now
        except OSError:
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._scan()
            self._stop.wait(self.interval)

    def __enter__(self) -> "Watcher":
        self._scan()  # what exists before counts as seen before
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def dump(self, t0: float, what: str) -> None:
        log(f"trace of {what} (seconds after the call):")
        for p in sorted(self.procs.values(), key=lambda p: p["first"]):
            if p["first"] >= t0:
                print(f"    {p['first'] - t0:7.2f} .. {p['last'] - t0:7.2f}  {' '.join(p['argv'])[:160]}", flush=True)
        for d, at in self.data_dirs.items():
            if at >= t0:
                print(f"    {at - t0:7.2f}  data dir of {d} exists", flush=True)

    def window(self, name: str, *, argv_has: str = "", since: float = 0.0) -> tuple[float, float] | None:
        """(first, last) seen of the processes called `name` (with `argv_has` in their argv)
        that appeared after `since`."""
        hits = [p for p in self.procs.values() if p["name"] == name and p["first"] >= since
                and (not argv_has or any(argv_has in a for a in p["argv"]))]
        if not hits:
            return None
        return min(p["first"] for p in hits), max(p["last"] for p in hits)


# --------------------------------------------------------------------------------------
# Engines: how to reach them, load data, check a copy, run the bare tools
# --------------------------------------------------------------------------------------


def mtime_offset(path: Path, t0_wall: float, t0_mono: float) -> float | None:
    """When `path` was last written, in seconds after (t0_wall, t0_mono)."""
    try:
        return path.stat().st_mtime - t0_wall
    except OSError:
        return None


class Pg:
    name = "PostgreSQL"
    version = "15.0"
    klass = "pg.x4.large.2c"
    ports = "27200-27299"
    engine_procs = (b"postgres",)

    class Conn(harness.Login):
        def env(self) -> dict:
            e = dict(os.environ)
            e["PGPASSWORD"] = self.password
            return e

        def args(self, db: str) -> list[str]:
            return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db]

    def __init__(self, args):
        self.args = args

    def sql(self, c: "Pg.Conn", q: str, db: str = SOURCE_DB_PG) -> str:
        return run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", *c.args(db), "-c", q],
                   env=c.env()).stdout.strip()

    def server_version(self, c) -> str:
        return self.sql(c, "SELECT version()", "postgres").split(" on ")[0]

    def load(self, c) -> str:
        self.sql(c, f'CREATE DATABASE "{SOURCE_DB_PG}"', "postgres")
        log(f"pgbench -i -s {self.args.scale}")
        run([str(PG_BIN / "pgbench"), "-i", "-s", str(self.args.scale), "-q", *c.args(SOURCE_DB_PG)], env=c.env())
        # Some transactions, so that sum(abalance), the clones' check, is not 0.
        run([str(PG_BIN / "pgbench"), "-n", "-t", "2000", "-c", "1", *c.args(SOURCE_DB_PG)], env=c.env())
        self.sql(c, "CHECKPOINT", "postgres")
        return f"pgbench -i -s {self.args.scale} and 2000 pgbench transactions, in database `{SOURCE_DB_PG}`"

    def sizes(self, c) -> tuple[int, str]:
        db = int(self.sql(c, f"SELECT pg_database_size('{SOURCE_DB_PG}')", "postgres"))
        cluster = int(self.sql(c, "SELECT sum(pg_database_size(oid)) FROM pg_database", "postgres"))
        return cluster, f"pg_database_size('{SOURCE_DB_PG}') = {db / 2**20:.0f} MiB, all databases {cluster / 2**20:.0f} MiB"

    def fingerprint(self, c) -> str:
        return self.sql(c, "SELECT count(*), sum(abalance) FROM pgbench_accounts")

    def fingerprint_sql(self) -> str:
        return "SELECT count(*), sum(abalance) FROM pgbench_accounts"

    def bare_backup(self, c, dest: Path) -> dict:
        t0 = time.monotonic()
        run([str(PG_BIN / "pg_basebackup"), "-h", c.host, "-p", str(c.port), "-U", c.user, "-D", str(dest),
             "-Fp", "-X", "stream", "-c", "fast", "--no-password"], env=c.env())
        return {"secs": time.monotonic() - t0}

    def verify(self, dest: Path) -> float:
        t0 = time.monotonic()
        run([str(PG_BIN / "pg_verifybackup"), str(dest)])
        return time.monotonic() - t0

    def bare_restore(self, c, backup: Path, root: Path) -> tuple[float, str, dict]:
        """cp -a into root/data + chown + pg_ctl start -w, timed; then the check and the
        stop, untimed. `root` is the engine user's (for the log)."""
        port = free_port()
        dest = root / "data"
        t0 = time.monotonic()
        run(["cp", "-a", str(backup), str(dest)])
        run(["chown", "-R", "postgres:postgres", str(dest)])
        t1 = time.monotonic()
        run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(dest), "-l", str(root / "server.log"),
             "-o", f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", "-w", "-t", "300", "start"])
        secs = time.monotonic() - t0
        try:
            fp = self.fingerprint(self.Conn(c.host, port, c.user, c.password))
        finally:
            run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(dest), "-m", "fast", "-w", "stop"],
                check=False)
        return secs, fp, {"copy + chown": t1 - t0, "server start": t0 + secs - t1}


class Maria:
    name = "MariaDB"
    version = "10.11"
    klass = "mariadb.x4.large.2c"
    ports = "27300-27399"
    engine_procs = (b"mariadbd", b"mysqld")

    def __init__(self, args):
        self.args = args
        # The import benchmark's dataset (bench/import_mariadb/run.py), loaded from its module.
        spec = importlib.util.spec_from_file_location("import_mariadb_run", HERE.parent / "import_mariadb" / "run.py")
        self.mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = self.mod  # its dataclasses look themselves up there
        spec.loader.exec_module(self.mod)
        self.Conn = self.mod.Conn
        self.db = self.mod.SOURCE_DB

    def sql(self, c, q: str, db: str | None = None) -> str:
        return self.mod.sql(c, db, q)

    def server_version(self, c) -> str:
        return self.sql(c, "SELECT CONCAT('MariaDB ', VERSION(), ', innodb_buffer_pool_size ', "
                           "@@innodb_buffer_pool_size DIV 1048576, ' MiB')")

    def load(self, c) -> str:
        n = self.mod.load_dataset(c, self.args.scale)
        return (f"bench/import_mariadb's dataset at --scale {self.args.scale} (database `{self.db}`: sbtest1..3 "
                f"{n['sbtest']} rows each, docs {n['docs']}, events_nopk {n['events'] + n['events_dups']})")

    def sizes(self, c) -> tuple[int, str]:
        size, per_table = self.mod.dataset_sizes(c)
        return size, (f"data_length + index_length of `{self.db}` = {size / 1e6:.0f} MB: "
                      + ", ".join(f"{t} {b / 1e6:.0f} MB" for t, _, b in per_table))

    def fingerprint_sql(self) -> str:
        return (f"SELECT (SELECT CONCAT(COUNT(*), '/', SUM(k)) FROM {self.db}.sbtest1), "
                f"(SELECT CONCAT(COUNT(*), '/', SUM(k)) FROM {self.db}.sbtest3), "
                f"(SELECT CONCAT(COUNT(*), '/', SUM(price)) FROM {self.db}.docs), (SELECT COUNT(*) FROM {self.db}.events_nopk)")

    def fingerprint(self, c) -> str:
        return self.sql(c, self.fingerprint_sql())

    def bare_backup(self, c, dest: Path, datadir: Path) -> dict:
        """mariadb-backup --backup then --prepare (openrds prepares too); the password in an
        option file, as openrds does."""
        opts = dest.parent / f"{dest.name}.cnf"
        opts.write_text(f"[mariadb-backup]\npassword = \"{c.password}\"\n")
        os.chmod(opts, 0o600)
        tool = shutil.which("mariadb-backup")
        t0 = time.monotonic()
        run([tool, f"--defaults-file={opts}", "--backup", f"--target-dir={dest}", f"--datadir={datadir}",
             "--protocol=tcp", f"--host={c.host}", f"--port={c.port}", f"--user={c.user}"])
        t1 = time.monotonic()
        run([tool, f"--defaults-file={dest / 'backup-my.cnf'}", "--prepare", f"--target-dir={dest}"])
        t2 = time.monotonic()
        opts.unlink()
        return {"secs": t2 - t0, "backup_s": t1 - t0, "prepare_s": t2 - t1}

    def bare_restore(self, c, backup: Path, root: Path, instance_cnf: Path) -> tuple[float, str, dict]:
        """cp -a + chown + mariadbd (as mysql, --no-defaults, the instance's buffer pool and
        redo log sizes) until it accepts a TCP connection; then the check and the stop."""
        port = free_port()
        sock = Path(tempfile.gettempdir()) / f"bench-backup-{port}.sock"
        cnf = {}
        for line in instance_cnf.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                cnf[k.strip()] = v.strip()
        dest = root / "data"
        t0 = time.monotonic()
        run(["cp", "-a", str(backup), str(dest)])
        run(["chown", "-R", "mysql:mysql", str(dest)])
        t1 = time.monotonic()
        errlog = root / "server.err"
        proc = subprocess.Popen(
            ["runuser", "-u", "mysql", "--", "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={dest}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={root / 'server.pid'}",
             f"--log-error={errlog}", "--skip-grant-tables", "--skip-log-bin",
             f"--innodb-buffer-pool-size={cnf.get('innodb_buffer_pool_size', '128M')}",
             f"--innodb-log-file-size={cnf.get('innodb_log_file_size', '96M')}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"bare mariadbd exited with {proc.returncode}:\n" +
                                   (errlog.read_text()[-3000:] if errlog.exists() else ""))
            if time.monotonic() > deadline:
                raise RuntimeError("bare mariadbd did not accept connections in 300 s")
            time.sleep(0.02)
        secs = time.monotonic() - t0
        try:
            fp = self.sql(self.Conn("127.0.0.1", port, "root", ""), self.fingerprint_sql())
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            sock.unlink(missing_ok=True)
        return secs, fp, {"copy + chown": t1 - t0, "server start": t0 + secs - t1}


# --------------------------------------------------------------------------------------
# openrds calls
# --------------------------------------------------------------------------------------


@dataclass
class Env:
    server: OpenRDS
    eng: object
    src_id: str
    src: object
    workdir: Path
    fingerprint: str
    methods: list = field(default_factory=list)
    trace: bool = False
    sets: dict = field(default_factory=dict)  # round -> backup set id (A), for C
    bares: dict = field(default_factory=dict)  # round -> bare backup dir (B), for D and E


def timed_backup(e: Env) -> tuple[float, dict]:
    """CreateBackup, polled with DescribeBackupTasks every 0.2 s until Finished."""
    s = e.server
    run(["sync"])
    with harness.RssSampler(s.proc.pid) as rss, Watcher(s.proc.pid, s.data_dir / "instances") as w:
        t0w, t0 = time.time(), time.monotonic()
        job = s.call("CreateBackup", DBInstanceId=e.src_id)["BackupJobId"]
        while True:
            items = s.call("DescribeBackupTasks", DBInstanceId=e.src_id, BackupJobId=job)["Items"]["BackupJob"]
            st = items[0]["BackupStatus"] if items else "?"
            if st == "Finished":
                break
            if st == "Failed":
                raise RuntimeError(f"backup job {job} failed: {json.dumps(items[0])}")
            time.sleep(POLL)
        secs = time.monotonic() - t0
    if e.trace:
        w.dump(t0, f"backup {job}")
    loc = s.data_dir / "backups" / e.src_id
    bdir = sorted(loc.glob(f"{job}-*"))[-1]
    info = {"set": job, "peak_rss_mb": rss.peak_kb / 1024, "hwm_mb": rss.hwm_kb / 1024 if rss.hwm_reset else None}
    # Where the time went: the tool's processes as seen, the files' mtimes.
    admin_at = mtime_offset(bdir / "admin.json", t0w, t0)
    manifest_at = mtime_offset(bdir / "openrds-manifest", t0w, t0)
    phases = {}
    if e.eng.name == "PostgreSQL":
        bb = w.window("pg_basebackup")
        vb = w.window("pg_verifybackup")
        if bb:
            phases["until pg_basebackup starts"] = bb[0] - t0
            phases["pg_basebackup"] = (admin_at if admin_at is not None else bb[1] - t0) - (bb[0] - t0)
        if vb:
            # openrds runs pg_verifybackup and its xxh3 manifest side by side: both from
            # the end of pg_basebackup, the pair ending when the later one does.
            phases["pg_verifybackup"] = vb[1] - vb[0]
            if manifest_at is not None:
                phases["xxh3 manifest (beside pg_verifybackup)"] = manifest_at - (vb[0] - t0)
                phases["verification, both"] = max(manifest_at, vb[1] - t0) - (vb[0] - t0)
    else:
        bk = w.window("mariadb-backup", argv_has="--backup")
        pr = w.window("mariadb-backup", argv_has="--prepare")
        if bk:
            phases["until mariadb-backup starts"] = bk[0] - t0
            phases["mariadb-backup --backup"] = bk[1] - bk[0]
        if pr:
            phases["--prepare"] = pr[1] - pr[0]
            if manifest_at is not None:
                phases["xxh3 manifest"] = manifest_at - (pr[1] - t0)
    if manifest_at is not None:
        done = manifest_at if e.eng.name != "PostgreSQL" or not vb else max(manifest_at, vb[1] - t0)
        phases["after verification until Finished seen"] = secs - done
    info["phases"] = phases
    info["size"] = sum(f.stat().st_size for f in bdir.rglob("*") if f.is_file())
    return secs, info


def timed_clone(e: Env, set_id: str) -> tuple[float, dict]:
    """CloneDBInstance from `set_id`, polled every 0.2 s until the clone is Running; then
    the check, and the clone deleted (untimed)."""
    s = e.server
    run(["sync"])
    with harness.RssSampler(s.proc.pid) as rss, Watcher(s.proc.pid, s.data_dir / "instances") as w:
        t0 = time.monotonic()
        clone_id = s.call("CloneDBInstance", DBInstanceId=e.src_id, BackupId=set_id, PayType="Postpaid")["DBInstanceId"]
        t_api = time.monotonic() - t0
        status = "?"
        while True:
            r = s.call("DescribeDBInstanceAttribute", DBInstanceId=clone_id, check=False)
            if r:
                status = r["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"]
                if status == "Running":
                    break
            elif time.monotonic() - t0 > 5:
                raise RuntimeError(f"clone {clone_id} disappeared (a failed clone leaves no instance); see {s.log_path}")
            if time.monotonic() - t0 > 900:
                raise RuntimeError(f"clone {clone_id} not Running after 900 s (last {status})")
            time.sleep(POLL)
        secs = time.monotonic() - t0
    if e.trace:
        w.dump(t0, f"clone {clone_id}")
    phases = {"CloneDBInstance call": t_api}
    data_at = w.data_dirs.get(clone_id)
    # The copy and the chown run inside openrds; the first process it starts once the
    # clone's data directory exists is the server's start (through its confinement).
    later = [p["first"] for p in w.procs.values() if data_at and p["first"] > data_at]
    st = (min(later),) if later else None
    if e.eng.name == "PostgreSQL":
        vb = w.window("pg_verifybackup", since=t0)
        if vb:
            phases["xxh3 manifest check (+ instance setup)"] = vb[0] - t0 - t_api
            phases["pg_verifybackup"] = vb[1] - vb[0]
            if data_at:
                phases["instance user and dirs"] = data_at - vb[1]
    elif data_at:
        phases["xxh3 manifest check (+ instance setup)"] = data_at - t0 - t_api
    if data_at and st:
        phases["copy + chown"] = st[0] - data_at
    if st:
        phases["server start until Running seen"] = t0 + secs - st[0]
    try:
        port, user, pw = s.admin_credentials(clone_id)
        fp = e.eng.fingerprint(e.eng.Conn("127.0.0.1", port, user, pw))
    finally:
        s.delete_instances([clone_id])
    if fp != e.fingerprint:
        raise RuntimeError(f"CLONE {clone_id} DIFFERS: source {e.fingerprint!r} clone {fp!r}")
    return secs, {"clone": clone_id, "phases": phases, "peak_rss_mb": rss.peak_kb / 1024,
                  "hwm_mb": rss.hwm_kb / 1024 if rss.hwm_reset else None}


def delete_set(e: Env, set_id) -> None:
    e.server.call("DeleteBackup", DBInstanceId=e.src_id, BackupId=set_id)


# --------------------------------------------------------------------------------------
# The methods of one round
# --------------------------------------------------------------------------------------


def m_backup(e: Env, rnd: int) -> tuple[float, dict]:
    secs, info = timed_backup(e)
    if "clone" in e.methods:
        e.sets[rnd] = info["set"]  # deleted after this round's clone
    else:
        delete_set(e, info["set"])
    return secs, info


def m_bare(e: Env, rnd: int) -> tuple[float, dict]:
    dest = e.workdir / f"bare-{rnd}"
    run(["sync"])
    if e.eng.name == "PostgreSQL":
        info = e.eng.bare_backup(e.src, dest)
    else:
        info = e.eng.bare_backup(e.src, dest, e.server.data_dir / "instances" / e.src_id / "data")
    e.bares[rnd] = dest
    info["size"] = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    return info.pop("secs"), info


def m_verify(e: Env, rnd: int) -> tuple[float, dict]:
    run(["sync"])
    return e.eng.verify(e.bares[rnd]), {}


def m_clone(e: Env, rnd: int) -> tuple[float, dict]:
    set_id = e.sets.pop(rnd)
    try:
        return timed_clone(e, set_id)
    finally:
        delete_set(e, set_id)


def m_restore(e: Env, rnd: int) -> tuple[float, dict]:
    dest = e.workdir / f"restore-{rnd}"  # the engine user's: its logs go there
    dest.mkdir()
    shutil.chown(dest, "postgres" if e.eng.name == "PostgreSQL" else "mysql")
    run(["sync"])
    try:
        if e.eng.name == "PostgreSQL":
            secs, fp, phases = e.eng.bare_restore(e.src, e.bares[rnd], dest)
        else:
            secs, fp, phases = e.eng.bare_restore(e.src, e.bares[rnd], dest, e.server.data_dir / "instances" / e.src_id / "my.cnf")
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    if fp != e.fingerprint:
        raise RuntimeError(f"BARE RESTORE DIFFERS: source {e.fingerprint!r} restore {fp!r}")
    return secs, {"phases": phases}


RUNNERS = {"backup": m_backup, "bare": m_bare, "verify": m_verify, "clone": m_clone, "restore": m_restore}


def round_order(methods: list[str], rnd: int) -> list[str]:
    """Backups first (A, B: which one leads alternates), then E, then restores (C, D, same)."""
    flip = rnd % 2 == 0
    pair = lambda a, b: [x for x in ((b, a) if flip else (a, b)) if x in methods]  # noqa: E731
    return pair("backup", "bare") + [m for m in ("verify",) if m in methods] + pair("clone", "restore")


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def tool_versions(binary: Path, engine: str, built_from: str | None) -> dict:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], text=True, capture_output=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":(exclude)bench"], text=True, capture_output=True).stdout.strip()
    mem_kb = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:")), 0)
    tool = (first_line([str(PG_BIN / "pg_basebackup"), "--version"]) if engine == "PostgreSQL"
            else first_line(["mariadb-backup", "--version"]))
    source = built_from or f"git {commit}{' + uncommitted changes' if dirty else ''}"
    return {"openrds": f"{first_line([str(binary), '--version'])} (binary {binary}; {source})",
            "tool": tool, "cpus": str(os.cpu_count()), "mem": f"{mem_kb / 2**20:.0f} GiB", "kernel": os.uname().release}


def verdict(x: float | None, target: float) -> str:
    return "n/a" if x is None else ("**met**" if x <= target else "**NOT met**")


def phase_medians(rs: list[dict]) -> str:
    keys = []
    for r in rs:
        keys += [k for k in r.get("phases", {}) if k not in keys]
    parts = []
    for k in keys:
        v = [r["phases"][k] for r in rs if k in r.get("phases", {})]
        parts.append(f"{k} {statistics.median(v):.2f} s")
    return ", ".join(parts)


def report(args, eng, dataset: str, sizes: str, results: list[dict], versions: dict, server_version: str) -> str:
    by = {m: [r for r in results if r["method"] == m] for m in args.methods}
    med = {m: statistics.median(r["secs"] for r in v) for m, v in by.items() if v}
    a, b, c, d = (med.get(m) for m in ("backup", "bare", "clone", "restore"))
    lines = [
        f"## Backup benchmark, {eng.name}, scale {args.scale}",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {args.rounds} round(s) after an "
        "untimed warm-up backup; each round: the two backups (which leads alternates), "
        + ("E, " if eng.name == "PostgreSQL" else "") + "then the two restores (same alternation); `sync` before each timed step",
        f"- dataset: {dataset}; {sizes}",
        f"- server: {server_version}; {versions['openrds']}; {versions['tool']}; "
        f"{versions['cpus']} CPUs, {versions['mem']}, Linux {versions['kernel']}",
        "- every clone and every bare restore checked against the source (`" + eng.fingerprint_sql() + "`)",
        "",
        "| method | runs (s) | median (s) | ÷ B median | ÷ D median |",
        "|---|---|---|---|---|",
    ]
    for m in args.methods:
        if m not in med:
            continue
        extra = ""
        if m == "bare" and eng.name == "MariaDB":
            extra = (f" (backup {statistics.median(r['backup_s'] for r in by[m]):.2f} + prepare "
                     f"{statistics.median(r['prepare_s'] for r in by[m]):.2f} s)")
        lines.append(f"| {LABELS[eng.name][m]}{extra} | {', '.join(format(r['secs'], '.2f') for r in by[m])} | {med[m]:.2f} | "
                     f"{f'{med[m] / b:.2f}' if b else 'n/a'} | {f'{med[m] / d:.2f}' if d else 'n/a'} |")
    lines += ["", "| ratio | target | measured | verdict |", "|---|---|---|---|",
              f"| A / B (openrds backup ÷ bare tool) | ≤ {TARGET_BACKUP} | {f'{a / b:.2f}' if a and b else 'n/a'} | "
              f"{verdict(a / b if a and b else None, TARGET_BACKUP)} |",
              f"| C / B (openrds clone ÷ bare backup tool) | ≤ {TARGET_CLONE} | {f'{c / b:.2f}' if c and b else 'n/a'} | "
              f"{verdict(c / b if c and b else None, TARGET_CLONE)} |",
              f"| C / D (openrds clone ÷ bare copy + start), for information | – | {f'{c / d:.2f}' if c and d else 'n/a'} | – |",
              ""]
    if by.get("backup"):
        rs = by["backup"]
        sizes_b = [r["size"] for r in rs]
        lines.append(f"Where openrds's backup time goes (medians; from the tool processes openrds runs, sampled every "
                     f"25 ms, and the backup files' mtimes): {phase_medians(rs)}. Backup set size {statistics.median(sizes_b) / 2**20:.0f} MiB.")
    if by.get("bare") and "size" in by["bare"][0]:
        lines.append(f"Bare backup size {statistics.median(r['size'] for r in by['bare']) / 2**20:.0f} MiB.")
    if by.get("clone"):
        lines.append(f"Where openrds's clone time goes (medians, same sampling): {phase_medians(by['clone'])}.")
    if by.get("restore"):
        lines.append(f"The bare restore D (medians): {phase_medians(by['restore'])}.")
    ors = [r for r in results if r["method"] in ("backup", "clone")]
    if ors:
        hwms = [r["hwm_mb"] for r in ors if r.get("hwm_mb") is not None]
        lines.append(f"openrds `serve` peak RSS during A and C (VmRSS sampled every 50 ms, max over runs): "
                     f"{max(r['peak_rss_mb'] for r in ors):.1f} MB" + (f"; VmHWM (reset before each run), max: {max(hwms):.1f} MB" if hwms else "") + ".")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def ensure_mariadb_backup() -> None:
    if shutil.which("mariadb-backup"):
        return
    log("mariadb-backup missing: apt-get install -y mariadb-backup")
    run(["apt-get", "install", "-y", "mariadb-backup"], capture=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=("PostgreSQL", "MariaDB"), default="PostgreSQL")
    ap.add_argument("--scale", type=int, default=None,
                    help="PostgreSQL: pgbench scale (default 60, ~1 GB); MariaDB: dataset MB (default 1000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; default 3")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}; default all "
                    "(clone needs backup, restore and verify need bare)")
    ap.add_argument("--openrds", type=Path, default=REPO / "target" / "release" / "openrds",
                    help="openrds binary; default target/release/openrds (cargo build --release -p openrds)")
    ap.add_argument("--built-from", help="what the --openrds binary was built from, for the report "
                    "(default: this checkout's commit, and whether it has uncommitted changes)")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the temp dir goes; needs ~5x the dataset size free")
    ap.add_argument("--trace", action="store_true",
                    help="print the processes openrds ran during each timed backup and clone, with their times")
    ap.add_argument("--keep", action="store_true", help="leave server, instances and temp dir in place on exit (debug)")
    args = ap.parse_args()
    if args.scale is None:
        args.scale = 60 if args.engine == "PostgreSQL" else 1000
    harness.check_args(ap, args, METHODS)
    if args.engine == "MariaDB":
        args.methods = [m for m in args.methods if m != "verify"]
    if "clone" in args.methods and "backup" not in args.methods or \
            ({"restore", "verify"} & set(args.methods) and "bare" not in args.methods):
        ap.error("clone needs backup; restore and verify need bare")
    binary = args.openrds.resolve()
    if not binary.is_file():
        ap.error(f"{binary} not found; build it (cargo build --release -p openrds) or pass --openrds")
    eng = Pg(args) if args.engine == "PostgreSQL" else Maria(args)
    if args.engine == "MariaDB":
        ensure_mariadb_backup()
    versions = tool_versions(binary, args.engine, args.built_from)

    # Engines run as their own users and must traverse the temp dir (we run as root).
    workdir = Path(tempfile.mkdtemp(prefix="openrds-bench-backup-", dir=args.tmp))
    os.chmod(workdir, 0o711)
    log(f"workdir {workdir}")
    server = OpenRDS(binary, workdir, free_port(), eng.ports)
    ids: list[str] = []
    results: list[dict] = []
    e = None
    try:
        server.start()
        ids.append(server.create_instance(eng.name, eng.version, eng.klass))
        server.wait_running(ids[0])
        port, user, pw = server.admin_credentials(ids[0])
        src = eng.Conn("127.0.0.1", port, user, pw)
        log(f"source {ids[0]} port {port}, admin user {user}")
        server_version = eng.server_version(src)
        dataset = eng.load(src)
        size, sizes = eng.sizes(src)
        log(sizes)
        fp = eng.fingerprint(src)
        log(f"source fingerprint {fp!r}")
        e = Env(server, eng, ids[0], src, workdir, fp, list(args.methods), trace=args.trace)

        log("warm-up backup (not timed)")
        _, info = timed_backup(e)
        delete_set(e, info["set"])
        for rnd in range(1, args.rounds + 1):
            for m in round_order(args.methods, rnd):
                secs, info = RUNNERS[m](e, rnd)
                results.append({"method": m, "round": rnd, "secs": secs, **info})
                extra = ""
                if info.get("phases"):
                    extra = " " + "; ".join(f"{k}={v:.2f}" for k, v in info["phases"].items())
                if "peak_rss_mb" in info:
                    extra += f" openrds_peak_rss={harness.rss_text(info)}"
                if "prepare_s" in info:
                    extra += f" backup={info['backup_s']:.2f} prepare={info['prepare_s']:.2f}"
                print(f"RUN method={m:<8} round={rnd} seconds={secs:8.2f}{extra}", flush=True)
            if rnd in e.bares:
                shutil.rmtree(e.bares.pop(rnd), ignore_errors=True)

        md = report(args, eng, dataset, sizes, results, versions, server_version)
        harness.publish_report(md, HERE / f"results-{eng.name}-{args.scale}.md")
        return 0
    finally:
        if args.keep:
            log(f"--keep: server pid {server.proc.pid if server.proc else None}, instances {ids}, workdir {workdir}")
        else:
            try:
                if server.proc and server.proc.poll() is None:
                    # Clones of a failed round too: every instance this server has.
                    r = server.call("DescribeDBInstances", RegionId=harness.REGION, check=False)
                    all_ids = [x["DBInstanceId"] for x in r["Items"]["DBInstance"]] if r else ids
                    server.delete_instances(sorted(set(all_ids) | set(ids)))
            finally:
                server.stop()
                harness.stop_leftover_engines(workdir, eng.engine_procs, wait=60)
                shutil.rmtree(workdir, ignore_errors=True)
                log("cleaned up (instances deleted, server stopped, workdir removed)")


if __name__ == "__main__":
    sys.exit(main())
