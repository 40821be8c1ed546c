#!/usr/bin/env python3
"""What log archiving costs normal writes: a write-heavy load (PostgreSQL `pgbench -N`,
MariaDB `mariadb-slap` writes) against one openrds instance, with its log archiving on (as
openrds runs every instance) and off, in alternating rounds on the same instance and data.

"Off" is made by this benchmark alone, as the instance's administrator: PostgreSQL
`ALTER SYSTEM SET archive_mode = off` (postgresql.auto.conf is read last), MariaDB
`skip-log-bin` in the instance's parameters.cnf (my.cnf includes it last), each followed by
RestartDBInstance; "on" undoes it the same way. openrds's sweep runs throughout.

    python3 bench/log_archiving/run.py --engine PostgreSQL --rounds 3 --seconds 30 --openrds BIN

Writes bench/log_archiving/results-<engine>.md. Python 3.11 stdlib only; needs pgbench /
mariadb-slap on PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import openrds_harness as harness  # noqa: E402
from openrds_harness import Login, OpenRDS, log, run  # noqa: E402

REPO = HERE.parent.parent
CLASSES = {"PostgreSQL": ("15.0", "pg.x4.large.2c"), "MariaDB": ("10.11", "mariadb.x4.large.2c")}


def psql(login: Login, sql: str, db: str = "postgres") -> str:
    env = dict(os.environ, PGPASSWORD=login.password)
    return run(["psql", "-h", login.host, "-p", str(login.port), "-U", login.user, "-d", db, "-XAtq", "-c", sql], env=env).stdout.strip()


def set_archiving(server: OpenRDS, engine: str, instance: str, login: Login, on: bool) -> None:
    if engine == "PostgreSQL":
        psql(login, "ALTER SYSTEM RESET archive_mode" if on else "ALTER SYSTEM SET archive_mode = off")
    else:
        idir = server.data_dir / "instances" / instance
        extra = idir / "parameters.cnf"
        if on:
            extra.unlink(missing_ok=True)
        else:
            conf = idir / "my.cnf"
            extra.write_text("[mysqld]\nskip-log-bin\n")
            st = conf.stat()
            os.chown(extra, st.st_uid, st.st_gid)
            os.chmod(extra, 0o640)
    server.call("RestartDBInstance", DBInstanceId=instance)
    time.sleep(1)
    server.wait_running(instance)
    if engine == "PostgreSQL":
        mode = psql(login, "SHOW archive_mode")
        if mode != ("on" if on else "off"):
            raise RuntimeError(f"archive_mode is {mode}, wanted {'on' if on else 'off'}")
    else:
        env = dict(os.environ, MYSQL_PWD=login.password)
        got = run(["mariadb", "--no-defaults", "-h", login.host, "-P", str(login.port), "-u", login.user, "-N", "-e", "SELECT @@log_bin"], env=env).stdout.strip()
        if got != ("1" if on else "0"):
            raise RuntimeError(f"log_bin is {got}, wanted {int(on)}")


def load(engine: str, login: Login, seconds: int, clients: int) -> float:
    """Transactions (PostgreSQL) or write queries (MariaDB) per second."""
    if engine == "PostgreSQL":
        env = dict(os.environ, PGPASSWORD=login.password)
        out = run(["pgbench", "-h", login.host, "-p", str(login.port), "-U", login.user, "-N", "-c", str(clients), "-j", "2",
                   "-T", str(seconds), "-n", "bench"], env=env).stdout
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
        if not m:
            raise RuntimeError(f"no tps in pgbench's output:\n{out}")
        return float(m.group(1))
    env = dict(os.environ, MYSQL_PWD=login.password)
    queries = 10000 * clients
    t0 = time.monotonic()
    run(["mariadb-slap", "--no-defaults", "-h", login.host, "-P", str(login.port), "-u", login.user, "--concurrency", str(clients),
         "--iterations", "1", "--number-of-queries", str(queries), "--auto-generate-sql", "--auto-generate-sql-load-type", "write",
         "--auto-generate-sql-add-autoincrement", "--engine", "innodb", "--create-schema", "slap"], env=env)
    return queries / (time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=sorted(CLASSES), default="PostgreSQL")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each state; default 3")
    ap.add_argument("--seconds", type=int, default=30, help="PostgreSQL: seconds of pgbench per round; default 30")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--scale", type=int, default=20, help="PostgreSQL: pgbench -i -s; default 20")
    ap.add_argument("--openrds", type=Path, default=REPO / "target" / "release" / "openrds")
    args = ap.parse_args()
    if not args.openrds.is_file():
        ap.error(f"{args.openrds} not found")
    tool = "pgbench" if args.engine == "PostgreSQL" else "mariadb-slap"
    if not shutil.which(tool):
        ap.error(f"{tool} is not on PATH")
    work = Path(tempfile.mkdtemp(prefix="openrds-bench-archiving-"))
    os.chmod(work, 0o711)
    server = OpenRDS(args.openrds, work, harness.free_port(), "26000-26099")
    server.start()
    version, klass = CLASSES[args.engine]
    instance = server.create_instance(args.engine, version, klass)
    results: dict[bool, list[float]] = {True: [], False: []}
    try:
        server.wait_running(instance)
        login = Login.admin_of(server, instance)
        if args.engine == "PostgreSQL":
            psql(login, "CREATE DATABASE bench")
            env = dict(os.environ, PGPASSWORD=login.password)
            run(["pgbench", "-h", login.host, "-p", str(login.port), "-U", login.user, "-i", "-q", "-s", str(args.scale), "bench"], env=env)
        for r in range(args.rounds):
            # Alternate which state goes first, so drift favours neither.
            for on in ((True, False) if r % 2 == 0 else (False, True)):
                set_archiving(server, args.engine, instance, login, on)
                rate = load(args.engine, login, args.seconds, args.clients)
                results[on].append(rate)
                log(f"round {r + 1}, archiving {'on' if on else 'off'}: {rate:.1f}/s")
        set_archiving(server, args.engine, instance, login, True)
    finally:
        server.delete_instances([instance])
        server.stop()
    on, off = statistics.median(results[True]), statistics.median(results[False])
    unit = "tps (pgbench -N)" if args.engine == "PostgreSQL" else "write queries/s (mariadb-slap)"
    md = (
        f"# Log archiving cost on writes, {args.engine}\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {klass}, {args.clients} clients, {args.rounds} rounds per state"
        + (f", {args.seconds} s each, pgbench scale {args.scale}" if args.engine == "PostgreSQL" else "")
        + f"; openrds {harness.first_line([str(args.openrds), '--version'])}\n\n"
        f"| archiving | runs ({unit}) | median |\n|---|---|---|\n"
        f"| on | {', '.join(f'{x:.1f}' for x in results[True])} | {on:.1f} |\n"
        f"| off | {', '.join(f'{x:.1f}' for x in results[False])} | {off:.1f} |\n\n"
        f"on / off = {on / off:.3f} ({(1 - on / off) * 100:.1f}% fewer with archiving)\n"
    )
    harness.publish_report(md, HERE / f"results-{args.engine}.md")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
