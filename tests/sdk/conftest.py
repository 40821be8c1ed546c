"""Runs a real `openrds serve` for the whole session and drives it with the official
Alibaba Cloud Python SDKs:

- `v3`: alibabacloud-tea-openapi's generic `call_api` (signature V3, ACS3-HMAC-SHA256),
  as every generated `alibabacloud_*` product SDK does by default;
- `v1`: aliyun-python-sdk-core's `AcsClient` + `CommonRequest` (signature V1, HMAC-SHA1).

Both wrappers return the parsed JSON body of a success and raise `ApiError` (code, HTTP
status, message, body) for an error envelope. Every instance created through them is
remembered and deleted when the session ends, before the server is stopped.

The server is not built here: `target/debug/openrds` must exist (`cargo build -p openrds`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "target" / "debug" / "openrds"

RDS_VERSION = "2014-08-15"
RAM_VERSION = "2015-05-01"
REGION = "cn-hangzhou"
ZONE = "cn-hangzhou-h"

ROOT_KEY_ID = "LTAIsdksuiteroot0000001"
ROOT_KEY_SECRET = "sdk-suite-root-secret-0123456789"

# What every test instance is created with (the reference's required parameters).
PG_CREATE = {
    "RegionId": REGION,
    "Engine": "PostgreSQL",
    "EngineVersion": "15.0",
    "DBInstanceClass": "pg.x4.large.2c",
    "DBInstanceStorage": "20",
    "DBInstanceNetType": "Intranet",
    "PayType": "Postpaid",
    "SecurityIPList": "127.0.0.1",
}

CREATE_TIMEOUT = 120.0
DELETE_TIMEOUT = 90.0

# Transient states an instance leaves by itself.
TRANSIENT = {"Creating", "Rebooting", "Deleting"}


# --------------------------------------------------------------------------------------
# Errors and the two clients
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error envelope as a client saw it."""

    def __init__(self, client: str, action: str, code: str, status: int, message: str, body: dict | None):
        super().__init__(f"{client} {action}: {code} (HTTP {status}): {message}")
        self.client = client
        self.action = action
        self.code = code
        self.status = status
        self.message = message
        self.body = body or {}


@dataclass
class Registry:
    """Instances created during the session, with the client that created them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: dict[str, Any] = field(default_factory=dict)

    def add(self, instance_id: str, client: "Client") -> None:
        with self.lock:
            self.created.setdefault(instance_id, client)


class Client:
    """Common surface of both SDK wrappers."""

    name = "client"

    def __init__(self, endpoint: str, key_id: str, secret: str, registry: Registry):
        self.endpoint = endpoint
        self.key_id = key_id
        self.secret = secret
        self.registry = registry

    def _send(self, action: str, version: str, params: dict[str, str]) -> dict:
        raise NotImplementedError

    def call(self, action: str, version: str = RDS_VERSION, **params: Any) -> dict:
        clean = {k: _stringify(v) for k, v in params.items() if v is not None}
        body = self._send(action, version, clean)
        assert isinstance(body, dict), f"{self.name} {action}: body is not a JSON object: {body!r}"
        if action in ("CreateDBInstance", "CloneDBInstance", "RecoveryDBInstance") and body.get("DBInstanceId"):
            self.registry.add(body["DBInstanceId"], self)
        return body

    def ram(self, action: str, **params: Any) -> dict:
        return self.call(action, RAM_VERSION, **params)

    def error(self, action: str, version: str = RDS_VERSION, **params: Any) -> ApiError:
        """Calls and returns the error it must fail with; fails the test on success."""
        try:
            body = self.call(action, version, **params)
        except ApiError as e:
            return e
        pytest.fail(f"{self.name} {action} {params} succeeded but an error was expected: {body}")

    def with_key(self, key_id: str, secret: str) -> "Client":
        return type(self)(self.endpoint, key_id, secret, self.registry)


def _stringify(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


class V3Client(Client):
    """alibabacloud-tea-openapi 0.4.6, `call_api` with an RPC `Params` (signature V3)."""

    name = "v3"

    def __init__(self, endpoint: str, key_id: str, secret: str, registry: Registry):
        super().__init__(endpoint, key_id, secret, registry)
        from alibabacloud_tea_openapi.client import Client as OpenApiClient
        from alibabacloud_tea_openapi.models import Config

        self._client = OpenApiClient(
            Config(
                access_key_id=key_id,
                access_key_secret=secret,
                endpoint=endpoint,
                protocol="http",
                region_id=REGION,
                read_timeout=120000,
                connect_timeout=10000,
            )
        )

    def _send(self, action: str, version: str, params: dict[str, str]) -> dict:
        from alibabacloud_tea_openapi import exceptions as tea_exceptions
        from alibabacloud_tea_openapi.models import OpenApiRequest, Params
        from alibabacloud_tea_openapi.utils import Utils
        from darabonba.runtime import RuntimeOptions

        api = Params(
            action=action,
            version=version,
            protocol="HTTP",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )
        request = OpenApiRequest(query=Utils.query(params))
        try:
            response = self._client.call_api(api, request, RuntimeOptions())
        except tea_exceptions.AlibabaCloudException as e:
            data = e.data if isinstance(e.data, dict) else {}
            raise ApiError(
                self.name, action, e.code, e.status_code, data.get("Message") or e.message, data
            ) from None
        assert response.get("statusCode") == 200, f"v3 {action}: status {response.get('statusCode')}"
        return response["body"]


class V1Client(Client):
    """aliyun-python-sdk-core, `AcsClient` + `CommonRequest` (signature V1, HMAC-SHA1)."""

    name = "v1"

    def __init__(self, endpoint: str, key_id: str, secret: str, registry: Registry, method: str = "GET"):
        super().__init__(endpoint, key_id, secret, registry)
        from aliyunsdkcore.client import AcsClient

        self.method = method
        self._client = AcsClient(key_id, secret, REGION, auto_retry=False, timeout=120, connect_timeout=10)

    def _send(self, action: str, version: str, params: dict[str, str]) -> dict:
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest()
        request.set_domain(self.endpoint)
        request.set_protocol_type("http")
        request.set_method(self.method)
        request.set_version(version)
        request.set_action_name(action)
        for k, v in params.items():
            request.add_query_param(k, v)
        try:
            raw = self._client.do_action_with_exception(request)
        except ServerException as e:
            body: dict = {}
            try:
                # The SDK keeps no body; the message is the envelope's Message.
                body = {"Code": e.get_error_code(), "Message": e.get_error_msg(), "RequestId": e.get_request_id()}
            except Exception:  # pragma: no cover - defensive
                pass
            raise ApiError(self.name, action, e.get_error_code(), e.get_http_status(), e.get_error_msg(), body) from None
        return json.loads(raw)


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    host: str
    port: int
    root: Path
    data_dir: Path
    log_path: Path
    registry: Registry

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(text[-lines:])

    def tenant_add(self, name: str) -> dict:
        """`openrds tenant add`: another account with its own root key."""
        out = subprocess.run(
            [str(BINARY), "tenant", "add", "--data-dir", str(self.data_dir), "--name", name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            pytest.fail(f"openrds tenant add failed ({out.returncode}): {out.stderr}")
        try:
            doc = json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            pytest.fail(f"openrds tenant add printed no JSON: {out.stdout!r}")
        for k in ("AccountId", "AccountName", "AccessKeyId", "AccessKeySecret"):
            assert k in doc, f"tenant add output lacks {k}: {doc}"
        return doc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_range() -> str:
    wanted = os.environ.get("OPENRDS_TEST_PORT_RANGE", "25000-25999")
    lo, hi = (int(x) for x in wanted.split("-"))
    return f"{lo}-{hi}"


_SERVER: Server | None = None


@pytest.fixture(scope="session")
def server() -> Server:
    global _SERVER
    if not BINARY.is_file() or not os.access(BINARY, os.X_OK):
        pytest.fail(
            f"{BINARY} is missing: build the server first with `cargo build -p openrds` "
            "(this suite runs the binary; it does not build it)."
        )
    root = Path(tempfile.mkdtemp(prefix="openrds-sdk-"))
    # Engines run as an unprivileged user that must pass through to its own directory.
    os.chmod(root, 0o711)
    data_dir = root / "data"
    log_path = root / "server.log"
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "OPENRDS_ACCESS_KEY_ID": ROOT_KEY_ID,
            "OPENRDS_ACCESS_KEY_SECRET": ROOT_KEY_SECRET,
            "RUST_LOG": env.get("RUST_LOG", "info,tokio_postgres=warn"),
        }
    )
    for k in ("OPENRDS_DATA_DIR", "OPENRDS_LISTEN", "OPENRDS_PORT_RANGE", "OPENRDS_ENDPOINT"):
        env.pop(k, None)
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [
            str(BINARY),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(data_dir),
            "--port-range",
            _port_range(),
            # test_performance.py reads samples within seconds, not minutes.
            "--performance-sample-secs",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=str(root),
    )
    srv = Server(process, "127.0.0.1", port, root, data_dir, log_path, Registry())
    _SERVER = srv
    deadline = time.monotonic() + 30
    while not port_accepts("127.0.0.1", port, 0.5):
        if process.poll() is not None:
            log.close()
            pytest.fail(f"openrds serve exited with {process.returncode} before listening:\n{srv.log_tail()}")
        if time.monotonic() > deadline:
            process.kill()
            log.close()
            pytest.fail(f"openrds serve did not listen on 127.0.0.1:{port} within 30 s:\n{srv.log_tail()}")
        time.sleep(0.1)
    try:
        yield srv
    finally:
        try:
            _delete_everything(srv)
        finally:
            _stop_server(srv)
            log.close()
            _stop_stray_engines(srv)
            if os.environ.get("OPENRDS_TEST_KEEP") != "1":
                shutil.rmtree(root, ignore_errors=True)


def _status(client: Client, instance_id: str) -> str | None:
    """The instance's status, or None once it is gone."""
    try:
        body = client.call("DescribeDBInstanceAttribute", DBInstanceId=instance_id)
    except ApiError as e:
        if e.code == "InvalidDBInstanceId.NotFound":
            return None
        raise
    return body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"]


def _delete_everything(srv: Server) -> None:
    """Deletes every instance the session created and waits until all are gone."""
    if srv.process.poll() is not None:
        return
    pending = dict(srv.registry.created)
    deadline = time.monotonic() + CREATE_TIMEOUT + DELETE_TIMEOUT
    problems = []
    while pending and time.monotonic() < deadline:
        for instance_id, client in list(pending.items()):
            try:
                status = _status(client, instance_id)
                if status is None:
                    del pending[instance_id]
                elif status == "Running":
                    client.call("DeleteDBInstance", DBInstanceId=instance_id)
            except ApiError as e:
                if e.code not in ("OperationDenied.DBInstanceStatus", "InvalidDBInstanceId.NotFound"):
                    problems.append(str(e))
                    del pending[instance_id]
            except Exception as e:  # connection trouble: the server is going away
                problems.append(f"{instance_id}: {e!r}")
                del pending[instance_id]
        if pending:
            time.sleep(0.5)
    if pending or problems:
        print(f"\nopenrds test teardown: left behind {sorted(pending)}; problems: {problems}")


def _stop_server(srv: Server) -> None:
    if srv.process.poll() is None:
        srv.process.send_signal(signal.SIGTERM)
        try:
            srv.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            print("\nopenrds serve did not stop within 40 s of SIGTERM; killing it")
            srv.process.kill()
            srv.process.wait(timeout=10)


def _stop_stray_engines(srv: Server) -> None:
    """Engines outlive the server by design; any left under this session's data
    directory (an instance whose deletion failed) is stopped so nothing leaks."""
    for pidfile in srv.data_dir.rglob("postmaster.pid"):
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if str(srv.data_dir) in cmdline:
            print(f"\nstopping stray engine {pid} of {pidfile.parent}")
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """On failure, show the end of the server's log: most failures are explained there."""
    if exitstatus != 0 and _SERVER is not None:
        terminalreporter.section("openrds serve log (last lines)")
        terminalreporter.write_line(_SERVER.log_tail(80))


# --------------------------------------------------------------------------------------
# Client fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def v3(server: Server) -> V3Client:
    return V3Client(server.endpoint, ROOT_KEY_ID, ROOT_KEY_SECRET, server.registry)


@pytest.fixture(scope="session")
def v1(server: Server) -> V1Client:
    return V1Client(server.endpoint, ROOT_KEY_ID, ROOT_KEY_SECRET, server.registry)


@pytest.fixture(params=["v3", "v1"])
def client(request, v3: V3Client, v1: V1Client) -> Client:
    """Each test using it runs once per official client."""
    return {"v3": v3, "v1": v1}[request.param]


@pytest.fixture(scope="session")
def call_v3(v3: V3Client) -> Callable[..., dict]:
    return v3.call


@pytest.fixture(scope="session")
def call_v1(v1: V1Client) -> Callable[..., dict]:
    return v1.call


@pytest.fixture(scope="session")
def other_account(server: Server) -> dict:
    """A second tenant (its own root key) made with `openrds tenant add`."""
    return server.tenant_add(f"other-{uuid.uuid4().hex[:8]}")


# --------------------------------------------------------------------------------------
# Instance helpers
# --------------------------------------------------------------------------------------


def attribute(client: Client, instance_id: str) -> dict:
    body = client.call("DescribeDBInstanceAttribute", DBInstanceId=instance_id)
    items = body["Items"]["DBInstanceAttribute"]
    assert len(items) == 1, f"DescribeDBInstanceAttribute returned {len(items)} items: {body}"
    return items[0]


def wait_status(client: Client, instance_id: str, wanted: str, timeout: float = CREATE_TIMEOUT) -> dict:
    """Polls until the instance is `wanted`; fails on timeout or if it disappears."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            attr = attribute(client, instance_id)
        except ApiError as e:
            pytest.fail(f"{instance_id} failed while waiting for {wanted} (states seen {seen}): {e}\n{_server_log()}")
        status = attr["DBInstanceStatus"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return attr
        if time.monotonic() > deadline:
            pytest.fail(f"{instance_id} is not {wanted} after {timeout:.0f} s (states seen {seen})\n{_server_log()}")
        time.sleep(0.25)


def wait_gone(client: Client, instance_id: str, timeout: float = DELETE_TIMEOUT) -> list[str]:
    """Polls until DescribeDBInstanceAttribute says NotFound; returns the states seen."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        status = _status(client, instance_id)
        if status is None:
            return seen
        if not seen or seen[-1] != status:
            seen.append(status)
        if time.monotonic() > deadline:
            pytest.fail(f"{instance_id} still exists after {timeout:.0f} s (states seen {seen})\n{_server_log()}")
        time.sleep(0.25)


def _server_log() -> str:
    return "server log:\n" + _SERVER.log_tail(40) if _SERVER else ""


def create_pg(client: Client, **overrides: Any) -> dict:
    params = dict(PG_CREATE)
    params.update(overrides)
    body = client.call("CreateDBInstance", **params)
    assert body.get("DBInstanceId"), f"CreateDBInstance returned no DBInstanceId: {body}"
    return body


def delete_quietly(client: Client, instance_id: str) -> None:
    """Starts deleting an instance if it is Running; the session teardown waits for it."""
    try:
        if _status(client, instance_id) == "Running":
            client.call("DeleteDBInstance", DBInstanceId=instance_id)
    except ApiError:
        pass


@pytest.fixture(scope="module")
def pg_instance(server: Server, v3: V3Client) -> dict:
    """One Running PostgreSQL 15 instance for the module (created with the V3 client);
    deletion starts when the module ends."""
    body = create_pg(v3)
    attr = wait_status(v3, body["DBInstanceId"], "Running")
    yield {"id": body["DBInstanceId"], "create": body, "attr": attr, "addr": net_address(v3, body["DBInstanceId"])}
    delete_quietly(v3, body["DBInstanceId"])


@pytest.fixture(scope="module")
def addr(request) -> tuple[str, int]:
    """The address of the module's instance: the fixture its `INSTANCE` names."""
    return request.getfixturevalue(request.module.INSTANCE)["addr"]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def pg_connect(host: str, port: int | str, user: str, password: str, dbname: str):
    """A real libpq connection (psycopg 3) to an instance, autocommit."""
    import psycopg

    return psycopg.connect(
        host=host, port=int(port), user=user, password=password, dbname=dbname, connect_timeout=10, autocommit=True
    )


def account_with_database(client: Client, instance_id: str, password: str, charset: str, privilege: str) -> tuple[str, str]:
    """A new Normal account and a new database it holds `privilege` on: (account, database)."""
    owner, db = unique("owner_"), unique("appdb")
    client.call("CreateAccount", DBInstanceId=instance_id, AccountName=owner, AccountPassword=password)
    client.call("CreateDatabase", DBInstanceId=instance_id, DBName=db, CharacterSetName=charset,
                AccountName=owner, AccountPrivilege=privilege)
    return owner, db


def net_address(client: Client, instance_id: str) -> tuple[str, int]:
    body = client.call("DescribeDBInstanceNetInfo", DBInstanceId=instance_id)
    infos = body["DBInstanceNetInfos"]["DBInstanceNetInfo"]
    assert infos, f"DescribeDBInstanceNetInfo has no address: {body}"
    return infos[0]["ConnectionString"], int(infos[0]["Port"])


# --------------------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------------------

# What every MariaDB test instance is created with: a dedicated class, so that it may take
# part in ImportDatabaseBetweenInstances.
MARIADB_CREATE = {
    "RegionId": REGION,
    "Engine": "MariaDB",
    "EngineVersion": "10.11",
    "DBInstanceClass": "mariadb.x4.large.2c",
    "DBInstanceStorage": "20",
    "DBInstanceNetType": "Intranet",
    "PayType": "Postpaid",
    "SecurityIPList": "127.0.0.1",
}


def create_mariadb(client: Client, **overrides: Any) -> dict:
    params = dict(MARIADB_CREATE)
    params.update(overrides)
    body = client.call("CreateDBInstance", **params)
    assert body.get("DBInstanceId"), f"CreateDBInstance returned no DBInstanceId: {body}"
    return body


def mariadb_connect(host: str, port: int | str, user: str, password: str, database: str | None = None):
    """A real MySQL-protocol connection (PyMySQL) to an instance over TCP, utf8mb4, autocommit."""
    import pymysql

    return pymysql.connect(
        host=host,
        port=int(port),
        user=user,
        password=password,
        database=database,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=10,
        read_timeout=60,
        write_timeout=60,
    )


@pytest.fixture(scope="module")
def mariadb_instance(server: Server, v3: V3Client) -> dict:
    """One Running MariaDB 10.11 instance (mariadb.x4.large.2c) for the module, created
    with the V3 client; deletion starts when the module ends."""
    body = create_mariadb(v3)
    attr = wait_status(v3, body["DBInstanceId"], "Running")
    yield {"id": body["DBInstanceId"], "create": body, "attr": attr, "addr": net_address(v3, body["DBInstanceId"])}
    delete_quietly(v3, body["DBInstanceId"])


@pytest.fixture(scope="module")
def mariadb_pair(server: Server, v1: V1Client) -> dict:
    """Two Running MariaDB 10.11 instances (mariadb.x4.large.2c), a source and a destination
    for imports, created with the V1 client; deletion starts when the module ends."""
    ids = [create_mariadb(v1)["DBInstanceId"] for _ in range(2)]
    for i in ids:
        wait_status(v1, i, "Running")
    yield {"src": ids[0], "dst": ids[1]}
    for i in ids:
        delete_quietly(v1, i)


# What the databases and accounts tests of both engines read back.


def describe_account(client, instance_id: str, name: str) -> dict:
    body = client.call("DescribeAccounts", DBInstanceId=instance_id, AccountName=name)
    accounts = body["Accounts"]["DBInstanceAccount"]
    assert [a["AccountName"] for a in accounts] == [name], body
    return accounts[0]


def privileges(client, instance_id: str, name: str) -> dict[str, str]:
    acct = describe_account(client, instance_id, name)
    return {p["DBName"]: p["AccountPrivilege"] for p in acct["DatabasePrivileges"]["DatabasePrivilege"]}


def databases(client, instance_id: str, **filters) -> dict[str, dict]:
    body = client.call("DescribeDatabases", DBInstanceId=instance_id, PageSize=100, **filters)
    return {d["DBName"]: d for d in body["Databases"]["Database"]}


IMPORT_ENDED = {"Success", "Failed", "Canceled"}


def wait_import(client, instance_id: str, import_id: str, timeout: float = 180.0) -> dict:
    """DescribeImportProgress until the task ended; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        p = client.call("DescribeImportProgress", DBInstanceId=instance_id, ImportId=import_id)
        if p["Status"] in IMPORT_ENDED:
            return p
        assert time.monotonic() < deadline, f"import {import_id} did not end: {p}"
        time.sleep(0.2)
