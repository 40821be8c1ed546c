"""Parameters through the official SDKs on both real engines: the curated list with its
ranges (DescribeParameterTemplates), a value set with ModifyParameter in effect in the
engine at once, one that needs a restart applied with Forcerestart, both kept across a
RestartDBInstance and a backup, DescribeParameters and DescribeModifyParameterLog showing
them, and the refusals."""

from __future__ import annotations

import json
import time

import pytest

from conftest import mariadb_connect, pg_connect, wait_status
from test_backups import take_backup

PASSWORD = "Sdk_Passw0rd!"

# Per engine: a value applied at once, one that waits for a restart, and how to read
# each back as a user of the engine.
CASES = {
    "PostgreSQL": {
        "now": ("statement_timeout", "60000"),
        "restart": ("max_locks_per_transaction", "128"),
        "read": "SELECT setting FROM pg_settings WHERE name = %s",
    },
    "MariaDB": {
        "now": ("wait_timeout", "600"),
        "restart": ("innodb_log_buffer_size", "33554432"),
        "read": "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = UPPER(%s)",
    },
}


@pytest.fixture(params=["PostgreSQL", "MariaDB"])
def instance(request, v3):
    engine = request.param
    fixture = request.getfixturevalue("pg_instance" if engine == "PostgreSQL" else "mariadb_instance")
    account = "param_reader"
    existing = [a["AccountName"] for a in v3.call("DescribeAccounts", DBInstanceId=fixture["id"])["Accounts"]["DBInstanceAccount"]]
    if account not in existing:
        v3.call("CreateAccount", DBInstanceId=fixture["id"], AccountName=account, AccountPassword=PASSWORD)
    return engine, fixture["id"], fixture["addr"], account


def engine_value(engine: str, addr, account: str, name: str) -> str:
    if engine == "PostgreSQL":
        with pg_connect(*addr, account, PASSWORD, "postgres") as conn:
            return conn.execute(CASES[engine]["read"], (name,)).fetchone()[0]
    conn = mariadb_connect(*addr, account, PASSWORD)
    try:
        with conn.cursor() as cur:
            cur.execute(CASES[engine]["read"], (name,))
            return str(cur.fetchone()[0])
    finally:
        conn.close()


def running(client, instance_id: str) -> dict[str, dict]:
    body = client.call("DescribeParameters", DBInstanceId=instance_id)
    return {p["ParameterName"]: p for p in body["RunningParameters"]["DBInstanceParameter"]}


def log(client, instance_id: str) -> list[dict]:
    start = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() - 3600))
    end = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + 60))
    return client.call("DescribeModifyParameterLog", DBInstanceId=instance_id, StartTime=start, EndTime=end)["Items"]["ParameterChangeLog"]


def test_templates_list_each_engine_s_parameters_with_ranges(client):
    for engine, version in (("PostgreSQL", "15.0"), ("MariaDB", "10.11")):
        body = client.call("DescribeParameterTemplates", Engine=engine, EngineVersion=version)
        records = {r["ParameterName"]: r for r in body["Parameters"]["TemplateRecord"]}
        assert body["Engine"] == engine and body["ParameterCount"] == str(len(records)), body
        name, _ = CASES[engine]["restart"]
        assert records[name]["ForceRestart"] == "true" and records[name]["CheckingCode"].startswith("["), records[name]
        assert records[CASES[engine]["now"][0]]["ForceRestart"] == "false"
    assert client.error("DescribeParameterTemplates", Engine="PostgreSQL", EngineVersion="9.6").code == "InvalidEngineVersion.NotSupported"


def test_values_take_effect_in_the_engine_and_survive_restarts_and_backups(v3, instance):
    engine, instance_id, addr, account = instance
    (now_name, now_value), (later_name, later_value) = CASES[engine]["now"], CASES[engine]["restart"]
    default_later = running(v3, instance_id)[later_name]["ParameterDefaultValue"]
    v3.call("ModifyParameter", DBInstanceId=instance_id, Parameters=json.dumps({now_name: now_value, later_name: later_value}))
    assert engine_value(engine, addr, account, now_name) == now_value, "applied at once"
    assert engine_value(engine, addr, account, later_name) == default_later, "waits for a restart"
    changes = {c["ParameterName"]: c for c in log(v3, instance_id)}
    assert changes[later_name]["Status"] == "Unapplied" and changes[later_name]["NewParameterValue"] == later_value, changes
    assert changes[now_name]["Status"] == "Applied", changes

    v3.call("ModifyParameter", DBInstanceId=instance_id, Parameters=json.dumps({later_name: later_value}), Forcerestart=True)
    wait_status(v3, instance_id, "Running")
    assert engine_value(engine, addr, account, later_name) == later_value, "in effect after the forced restart"
    assert all(c["Status"] == "Applied" for c in log(v3, instance_id) if c["ParameterName"] == later_name)

    v3.call("RestartDBInstance", DBInstanceId=instance_id)
    wait_status(v3, instance_id, "Running")
    shown = running(v3, instance_id)
    assert (shown[now_name]["ParameterValue"], shown[later_name]["ParameterValue"]) == (now_value, later_value), shown
    configured = v3.call("DescribeParameters", DBInstanceId=instance_id)["ConfigParameters"]["DBInstanceParameter"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in configured} == {now_name: now_value, later_name: later_value}
    # The engine's backup tool reads the instance's settings, parameters included.
    assert take_backup(v3, instance_id)["BackupStatus"] == "Success"


def test_refusals(client, instance):
    engine, instance_id, _, _ = instance
    name, _ = CASES[engine]["now"]
    for parameters in (json.dumps({name: "-5"}), json.dumps({"no_such_parameter": "1"}), "not json", "{}"):
        assert client.error("ModifyParameter", DBInstanceId=instance_id, Parameters=parameters).code == "InvalidParameter", parameters
    assert client.error("ModifyParameter", DBInstanceId=instance_id).code == "InvalidParameter"
    assert client.error("ModifyParameter", DBInstanceId=instance_id, Parameters=json.dumps({name: "60"}), SwitchTimeMode="MaintainTime").code == "InvalidParameter"
    assert client.error("DescribeParameters", DBInstanceId="pgm-doesnotexist000000").code == "InvalidDBInstanceId.NotFound"
