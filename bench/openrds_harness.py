"""What the import benchmarks share: a real `openrds serve` child process driven through
`openrds rds` (which signs every call), the instances' admin credentials, and a sampler of
the server's peak RSS. Python 3.11 stdlib only; imported by bench/import_*/run.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY_ID = "LTAIbench000000000000000"
ACCESS_KEY_SECRET = "openrds-bench-secret-0000"
REGION = "cn-hangzhou"


def log(msg: str) -> None:
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], *, env: dict | None = None, check: bool = True, capture: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command; on failure raise with the full command and its output (fail loudly)."""
    p = subprocess.run(cmd, env=env, text=True, capture_output=capture, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(
            f"command failed (exit {p.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{(p.stdout or '')[-4000:]}\n--- stderr ---\n{(p.stderr or '')[-4000:]}"
        )
    return p


def first_line(cmd: list[str]) -> str:
    """The first line a tool prints (`--version`), or `?` if it cannot run."""
    try:
        p = subprocess.run(cmd, text=True, capture_output=True)
    except OSError:
        return "?"
    out = (p.stdout or p.stderr).strip()
    return out.splitlines()[0] if out else "?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenRDS:
    """The `openrds serve` child process and the `openrds rds` client."""

    def __init__(self, binary: Path, workdir: Path, api_port: int, engine_ports: str):
        self.binary = binary
        self.data_dir = workdir / "data"
        self.endpoint = f"127.0.0.1:{api_port}"
        self.engine_ports = engine_ports
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ, OPENRDS_ACCESS_KEY_ID=ACCESS_KEY_ID, OPENRDS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET)

    def start(self) -> None:
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--listen", self.endpoint, "--data-dir", str(self.data_dir),
             "--port-range", self.engine_ports],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        # The API is up once a harmless read succeeds.
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openrds serve exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            if self.call("DescribeDBInstances", RegionId=REGION, check=False) is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"openrds API did not come up on {self.endpoint}; see {self.log_path}")
            time.sleep(0.2)
        log(f"openrds serve pid {self.proc.pid} listening on {self.endpoint}")

    def use_verification(self, mode: str) -> None:
        """Serve imports with `--import-verification mode` (`stream` or `full`), restarting
        the server if it runs with the other (not timed; the engines keep running)."""
        if self.env.get("OPENRDS_IMPORT_VERIFICATION", "stream") == mode:
            return
        self.stop()
        self.env["OPENRDS_IMPORT_VERIFICATION"] = mode
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                log("openrds serve ignored SIGTERM for 60 s; killing it")
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def call(self, action: str, check: bool = True, **params) -> dict | None:
        """`openrds rds <Action> --Name value ...`; JSON on stdout, error envelope on stderr."""
        cmd = [str(self.binary), "rds", action, "--endpoint", self.endpoint,
               "--access-key-id", ACCESS_KEY_ID, "--access-key-secret", ACCESS_KEY_SECRET]
        for k, v in params.items():
            cmd += [f"--{k}", str(v)]
        p = subprocess.run(cmd, env=self.env, text=True, capture_output=True)
        if p.returncode != 0:
            if check:
                raise RuntimeError(f"openrds rds {action} failed (exit {p.returncode}): {params}\n{p.stderr}{p.stdout}")
            return None
        return json.loads(p.stdout)

    def create_instance(self, engine: str, version: str, klass: str) -> str:
        r = self.call("CreateDBInstance", RegionId=REGION, Engine=engine, EngineVersion=version,
                      DBInstanceClass=klass, DBInstanceStorage=200, DBInstanceNetType="Intranet",
                      PayType="Postpaid", SecurityIPList="127.0.0.1")
        return r["DBInstanceId"]

    def wait_running(self, instance_id: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        status = "?"
        while time.monotonic() < deadline:
            r = self.call("DescribeDBInstanceAttribute", DBInstanceId=instance_id)
            status = r["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"]
            if status == "Running":
                return
            time.sleep(0.5)
        raise RuntimeError(f"{instance_id} not Running after {timeout} s (last status {status}); see {self.log_path}")

    def admin_credentials(self, instance_id: str) -> tuple[int, str, str]:
        """(port, user, password) of the instance's internal administrator. The API does not
        expose them; the server keeps them in the instance's directory."""
        net = self.call("DescribeDBInstanceNetInfo", DBInstanceId=instance_id)
        port = int(net["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]["Port"])
        admin = json.loads((self.data_dir / "instances" / instance_id / "admin.json").read_text())
        return port, admin["user"], admin["password"]

    def discard_archived_logs(self, instance_id: str) -> None:
        """Removes the log files the server archived for `instance_id` (for point-in-time
        restores). Every copy into an instance leaves about its size in WAL or binary log
        there: the copies of one 5 GB run would fill this machine's disk."""
        log_dir = self.data_dir / "backups" / instance_id / "log"
        if log_dir.is_dir():
            for f in log_dir.iterdir():
                if f.is_file():
                    f.unlink(missing_ok=True)

    def delete_instances(self, ids: list[str]) -> None:
        for i in ids:
            self.call("DeleteDBInstance", DBInstanceId=i, check=False)
        # Wait until they are gone so that no engine still has files in the temp dir we remove.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = self.call("DescribeDBInstances", RegionId=REGION, check=False)
            if r is not None and not any(x["DBInstanceId"] in ids for x in r["Items"]["DBInstance"]):
                return
            time.sleep(0.5)
        log(f"warning: instances {ids} still listed 120 s after DeleteDBInstance")

    def timed_import(self, dest: str, source: str, src_db: str, dst_db: str) -> tuple[float, dict, dict]:
        """One import timed from the call to its end, with openrds's memory meanwhile; raises
        unless it succeeded. Returns (seconds, the final progress, memory and server figures)."""
        with RssSampler(self.proc.pid) as rss:
            t0 = time.monotonic()
            p = self.import_database(dest, source, src_db, dst_db)
            secs = time.monotonic() - t0
        if p["Status"] != "Success":
            raise RuntimeError(f"import {p.get('ImportId')} ended {p['Status']}: Error={p.get('Error')!r}\n"
                               + json.dumps(p, indent=1)[:4000])
        result = p.get("Result") or {}
        info = {"peak_rss_mb": rss.peak_kb / 1024, "hwm_mb": rss.hwm_kb / 1024 if rss.hwm_reset else None,
                "server_elapsed_s": (result.get("ElapsedMs") or 0) / 1000 if isinstance(result, dict) else 0}
        return secs, p, info

    def import_database(self, dest: str, source: str, src_db: str, dst_db: str) -> dict:
        """Start ImportDatabaseBetweenInstances and poll until it ends; returns the final progress."""
        r = self.call("ImportDatabaseBetweenInstances", DBInstanceId=dest, SourceDBInstanceId=source,
                      DBInfo=json.dumps({"DBNames": {src_db: dst_db}}))
        import_id = r["ImportId"]
        while True:
            p = self.call("DescribeImportProgress", DBInstanceId=dest, ImportId=import_id)
            if p["Status"] in ("Success", "Failed", "Canceled"):
                return p
            time.sleep(0.2)


class RssSampler:
    """Samples VmRSS of one process every 50 ms in a thread; VmHWM is reset first when possible."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.hwm_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        # Writing 5 to clear_refs resets the peak RSS (VmHWM) so it covers this run only (root, Linux >= 4.0).
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False

    def _field_kb(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        return 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_kb = max(self.peak_kb, self._field_kb("VmRSS"))
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.hwm_kb = self._field_kb("VmHWM")
        except OSError:
            self.hwm_kb = 0


def stop_leftover_engines(workdir: Path, names: tuple[bytes, ...], wait: float = 60.0) -> None:
    """SIGTERM any engine process (`names`: its executable's base names) still running on
    a data directory under `workdir`, and wait for it to go.

    `openrds serve` does not stop engines when it gets SIGTERM (instances outlive the API
    server), so if DeleteDBInstance did not run or did not finish (server crashed, run
    aborted early) the engines would survive the removal of their directory.
    """
    prefix = str(workdir).encode() + b"/"
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) in names and any(prefix in a for a in argv):
            pids.append(int(d.name))
    for pid in pids:
        log(f"stopping leftover engine pid {pid}")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists()]
        time.sleep(0.2)


@dataclass
class Login:
    """How tools reach one instance as its admin user."""

    host: str
    port: int
    user: str
    password: str

    @classmethod
    def admin_of(cls, server: "OpenRDS", instance_id: str):
        port, user, password = server.admin_credentials(instance_id)
        return cls(host="127.0.0.1", port=port, user=user, password=password)


def snapshot_copy(src_snap: dict, tables: list[str], take) -> tuple[dict, list[str]]:
    """The copy's snapshot (`take` of the source's tables the copy has) and, as the first
    problems found, a difference between the two table lists."""
    problems = []
    if sorted(tables) != src_snap["tables"]:
        problems.append(f"tables differ: source {src_snap['tables']} copy {sorted(tables)}")
    return take([t for t in src_snap["tables"] if t in tables]), problems


def raise_problems(db: str, problems: list[str]) -> None:
    """Fail the run, naming every difference found in the copy `db`."""
    if problems:
        raise RuntimeError(f"VERIFICATION OF {db} FAILED:\n  " + "\n  ".join(p[:1500] for p in problems))


class Profile:
    """`perf record -a` (every process, 499 Hz) into `out` around one timed copy when `out`
    is set; on exit writes `summary`: where the samples fell by process, and the top
    symbols."""

    def __init__(self, out: Path | None, summary: Path):
        self.out, self.summary = out, summary
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Profile":
        if self.out:
            self.proc = subprocess.Popen(["perf", "record", "-a", "-F", "499", "-g", "-o", str(self.out)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # perf attaches to every CPU before the copy starts
        return self

    def __exit__(self, *exc) -> None:
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=120)
        report = ["perf", "report", "-i", str(self.out), "--stdio", "--no-children", "--percent-limit", "0.5"]
        by_process = run([*report, "--sort", "comm", "-g", "none"], check=False)
        symbols = run([*report, "--sort", "comm,dso,sym", "-g", "none"], check=False)
        text = by_process.stdout + "\n" + "\n".join(symbols.stdout.splitlines()[:80])
        self.summary.write_text(text + "\n\n" + self.timeline())
        log(f"profile: {self.summary}")


    def timeline(self) -> str:
        """Share of the samples per process name in each half second: where the copy is
        serial (idle, `swapper`, high) and what runs on the critical path."""
        script = run(["perf", "script", "-i", str(self.out), "-F", "time,comm"], check=False)
        buckets: dict[int, dict[str, int]] = {}
        start = None
        for line in script.stdout.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            try:
                t = float(parts[-1].rstrip(":"))
            except ValueError:
                continue
            start = t if start is None else start
            comm = " ".join(parts[:-1])
            b = buckets.setdefault(int((t - start) * 2), {})
            b[comm] = b.get(comm, 0) + 1
        lines = ["# samples per process in each half second (idle is `swapper`)"]
        for k in sorted(buckets):
            total = sum(buckets[k].values())
            top = sorted(buckets[k].items(), key=lambda kv: -kv[1])[:5]
            lines.append(f"{k / 2:5.1f}s " + "  ".join(f"{c} {100 * n / total:.0f}%" for c, n in top))
        return "\n".join(lines) + "\n"


def rss_text(info: dict) -> str:
    """openrds's peak RSS during a timed import, and its VmHWM where it could be reset."""
    text = f"{info['peak_rss_mb']:.1f}MB"
    if info["hwm_mb"] is not None:
        text += f" (VmHWM {info['hwm_mb']:.1f}MB)"
    return text


def check_args(ap, args, methods: tuple[str, ...]) -> None:
    """The checks every benchmark's options share; `--methods` becomes a list."""
    if args.rounds < 1 or args.scale < 1:
        ap.error("--rounds and --scale must be at least 1")
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if unknown := [m for m in args.methods if m not in methods]:
        ap.error(f"unknown method(s): {unknown}")


def publish_report(md: str, out: Path) -> None:
    """Prints the report and writes it to `out`."""
    print("\n" + md)
    out.write_text(md)
    log(f"wrote {out}")
