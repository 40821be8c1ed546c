"""DescribeResourceUsage and DescribeErrorLogs through the official SDKs on real
PostgreSQL and MariaDB: the disk an instance uses split into data and the rest, its
backups and archived log, and the errors its server logged, with the session that caused
them where the engine's log says."""

from __future__ import annotations

import time

import psycopg
import pytest

from conftest import mariadb_connect, pg_connect
from test_backups import take_backup

PASSWORD = "Sdk_Passw0rd!"


@pytest.mark.parametrize("fixture", ["pg_instance", "mariadb_instance"])
def test_resource_usage_adds_up(request, client, fixture):
    instance = request.getfixturevalue(fixture)["id"]
    before = client.call("DescribeResourceUsage", DBInstanceId=instance)
    assert before["DBInstanceId"] == instance and before["DataSize"] >= 0 and before["LogSize"] > 0, before
    assert before["DiskUsed"] == before["DataSize"] + before["LogSize"], before
    take_backup(client, instance)
    after = client.call("DescribeResourceUsage", DBInstanceId=instance)
    assert after["BackupDataSize"] > before["BackupDataSize"], (before, after)
    assert after["BackupSize"] == after["BackupDataSize"] + after["BackupLogSize"], after


def test_a_failed_statement_shows_in_the_error_log_with_its_session(v3, pg_instance):
    instance = pg_instance["id"]
    names = [a["AccountName"] for a in v3.call("DescribeAccounts", DBInstanceId=instance)["Accounts"]["DBInstanceAccount"]]
    if "diag_user" not in names:
        v3.call("CreateAccount", DBInstanceId=instance, AccountName="diag_user", AccountPassword=PASSWORD)
    marker = f"no_such_table_{int(time.time())}"
    with pg_connect(*pg_instance["addr"], "diag_user", PASSWORD, "postgres") as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute(f"SELECT * FROM {marker}")
    start = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() - 120))
    end = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + 60))
    body = v3.call("DescribeErrorLogs", DBInstanceId=instance, StartTime=start, EndTime=end, PageSize=100)
    mine = [e for e in body["Items"]["ErrorLog"] if marker in e["ErrorInfo"]]
    assert len(mine) == 1, body
    assert (mine[0]["User"], mine[0]["Database"], mine[0]["UserIp"]) == ("diag_user", "postgres", "127.0.0.1"), mine
    assert mine[0]["CreateTime"].endswith("Z") and "STATEMENT" in mine[0]["ErrorInfo"], mine
    assert body["TotalRecordCount"] >= 1 and body["PageRecordCount"] == len(body["Items"]["ErrorLog"]), body
    assert v3.error("DescribeErrorLogs", DBInstanceId=instance, StartTime=end, EndTime=start).code == "InvalidStartTimeAndEndTime.Malformed"


@pytest.mark.parametrize("fixture", ["pg_instance", "mariadb_instance"])
def test_a_statement_of_a_second_or_more_is_a_slow_log_record(request, v1, fixture):
    instance = request.getfixturevalue(fixture)
    names = [a["AccountName"] for a in v1.call("DescribeAccounts", DBInstanceId=instance["id"])["Accounts"]["DBInstanceAccount"]]
    if "slow_user" not in names:
        v1.call("CreateAccount", DBInstanceId=instance["id"], AccountName="slow_user", AccountPassword=PASSWORD)
    started = time.time()
    if fixture == "pg_instance":
        with pg_connect(*instance["addr"], "slow_user", PASSWORD, "postgres") as conn:
            conn.execute("SELECT pg_sleep(1.2)")
        database, text = "postgres", "pg_sleep(1.2)"
    else:
        conn = mariadb_connect(*instance["addr"], "slow_user", PASSWORD)
        with conn.cursor() as cur:
            cur.execute("SELECT SLEEP(1.2)")
        conn.close()
        database, text = "", "SLEEP(1.2)"
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 5))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))
    deadline = time.monotonic() + 10
    while True:
        body = v1.call("DescribeSlowLogRecords", DBInstanceId=instance["id"], StartTime=start, EndTime=end)
        mine = [r for r in body["Items"]["SQLSlowRecord"] if text in r["SQLText"] and r["UserName"] == "slow_user"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(mine) == 1, body
    record = mine[0]
    assert 1100 <= record["QueryTimeMS"] < 5000 and record["QueryTimes"] == record["QueryTimeMS"] // 1000, record
    assert record["DBName"] == database and record["ExecutionStartTime"].endswith("Z") and len(record["SQLHash"]) == 16, record
    day = time.strftime("%Y-%m-%dZ", time.gmtime(started))
    stats = v1.call("DescribeSlowLogs", DBInstanceId=instance["id"], StartTime=day, EndTime=day, SortKey="TotalQueryTimes")
    template = [s for s in stats["Items"]["SQLSlowLog"] if text.replace("1.2", "?") in s["SQLText"]]
    assert template and template[0]["MySQLTotalExecutionCounts"] >= 1 and template[0]["MaxExecutionTimeMS"] >= 1100, stats
    again = v1.call("DescribeSlowLogRecords", DBInstanceId=instance["id"], StartTime=start, EndTime=end, SQLHASH=record["SQLHash"])
    assert [r["SQLHash"] for r in again["Items"]["SQLSlowRecord"]] == [record["SQLHash"]] * len(again["Items"]["SQLSlowRecord"]) and again["TotalRecordCount"] >= 1
