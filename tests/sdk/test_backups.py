"""Backups through both official SDKs on real PostgreSQL: CreateBackup returns a job id,
DescribeBackupTasks shows it while it runs, DescribeBackups lists the verified set with
Alibaba's field shapes, CloneDBInstance makes a new instance holding exactly the rows
committed before the backup (also after the source is deleted), DeleteBackup removes the
set, and every refusal comes in the API's envelope with its own code. MariaDB sets clone
too, and both engines restore to a point in time from their archived logs."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import account_with_database, create_mariadb, create_pg, delete_quietly, mariadb_connect, net_address, pg_connect, wait_gone, wait_status

PASSWORD = "Sdk_Passw0rd!"
BACKUP_TIMEOUT = 120.0


def instance_with_items(client, rows: int, engine: str = "PostgreSQL") -> str:
    """A Running instance with database `shop`, table `items` holding ids 1..rows."""
    mariadb = engine == "MariaDB"
    instance = (create_mariadb(client) if mariadb else create_pg(client))["DBInstanceId"]
    wait_status(client, instance, "Running")
    client.call("CreateAccount", DBInstanceId=instance, AccountName="owner1", AccountPassword=PASSWORD)
    client.call("CreateDatabase", DBInstanceId=instance, DBName="shop", CharacterSetName="utf8mb4" if mariadb else "UTF8",
                AccountName="owner1", AccountPrivilege="ReadWrite" if mariadb else "DBOwner")
    if mariadb:
        run(client, instance, engine, "CREATE TABLE items (id int PRIMARY KEY, note varchar(200)) ENGINE=InnoDB")
        run(client, instance, engine, f"INSERT INTO items SELECT seq, repeat('x', 200) FROM seq_1_to_{int(rows)}")
    else:
        run(client, instance, engine, "CREATE TABLE items (id int PRIMARY KEY, note text)")
        run(client, instance, engine, f"INSERT INTO items SELECT g, repeat('x', 200) FROM generate_series(1, {int(rows)}) g")
    return instance


def run(client, instance: str, engine: str, sql: str) -> list[tuple]:
    """Runs one statement on `shop` as owner1 through the engine's own driver; its rows."""
    addr = net_address(client, instance)
    if engine == "MariaDB":
        with mariadb_connect(*addr, "owner1", PASSWORD, "shop") as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    with pg_connect(*addr, "owner1", PASSWORD, "shop") as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def source(v3):
    instance = instance_with_items(v3, 1000)
    yield instance
    delete_quietly(v3, instance)


def insert_more(client, instance: str, n: int, engine: str = "PostgreSQL") -> None:
    more = f"seq_1_to_{int(n)}" if engine == "MariaDB" else f"generate_series(1, {int(n)}) AS s(seq)"
    run(client, instance, engine, f"INSERT INTO items SELECT m + seq, 'later' FROM (SELECT max(id) AS m FROM items) t, {more}")


def ids_in(client, instance: str, engine: str = "PostgreSQL") -> list[int]:
    return [r[0] for r in run(client, instance, engine, "SELECT id FROM items ORDER BY id")]


def wait_backup(client, instance: str, job_id: str) -> dict:
    deadline = time.monotonic() + BACKUP_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        jobs = client.call("DescribeBackupTasks", DBInstanceId=instance, BackupJobId=job_id)["Items"]["BackupJob"]
        assert [j["BackupJobId"] for j in jobs] == [job_id], jobs
        seen.append(jobs[0]["BackupStatus"])
        if jobs[0]["BackupStatus"] in ("Finished", "Failed"):
            return jobs[0]
        time.sleep(0.5)
    pytest.fail(f"backup job {job_id} did not end in {BACKUP_TIMEOUT}s: {seen[-5:]}")


def take_backup(client, instance: str) -> dict:
    body = client.call("CreateBackup", DBInstanceId=instance, BackupMethod="Physical", BackupType="FullBackup")
    job_id = body["BackupJobId"]
    assert isinstance(job_id, str) and job_id.isdigit(), body
    job = wait_backup(client, instance, job_id)
    assert job["BackupStatus"] == "Finished" and job["Process"] == "100", job
    sets = client.call("DescribeBackups", DBInstanceId=instance, BackupId=job["BackupId"])
    assert sets["TotalRecordCount"] == "1" and sets["PageRecordCount"] == "1", sets
    return sets["Items"]["Backup"][0]


def test_a_backup_is_listed_as_alibaba_shapes_it_and_a_clone_holds_what_it_held(client, source):
    before = ids_in(client, source)
    backup = take_backup(client, source)
    assert backup["BackupStatus"] == "Success" and backup["BackupMode"] == "Manual", backup
    assert backup["BackupMethod"] == "Physical" and backup["BackupType"] == "FullBackup", backup
    assert backup["DBInstanceId"] == source and backup["IsAvail"] == 1, backup
    assert isinstance(backup["BackupSize"], int) and backup["BackupSize"] > 1_000_000, backup
    assert isinstance(backup["ConsistentTime"], int) and abs(backup["ConsistentTime"] - time.time()) < 600, backup
    assert backup["BackupStartTime"].endswith("Z") and backup["BackupEndTime"] >= backup["BackupStartTime"], backup
    assert len(backup["Checksum"]) == 64, backup
    # Written after the backup: a clone from it must not have it.
    insert_more(client, source, 10)

    listed = client.call("DescribeBackups", DBInstanceId=source, BackupStatus="Success", BackupMode="Manual")
    assert backup["BackupId"] in [b["BackupId"] for b in listed["Items"]["Backup"]], listed

    clone = client.call("CloneDBInstance", DBInstanceId=source, BackupId=backup["BackupId"], PayType="Postpaid",
                        DBInstanceClass="pg.n2.small.1", DBInstanceStorage=20)
    clone_id = clone["DBInstanceId"]
    assert clone_id != source and clone["OrderId"], clone
    wait_status(client, clone_id, "Running", timeout=180)
    attrs = client.call("DescribeDBInstanceAttribute", DBInstanceId=clone_id)["Items"]["DBInstanceAttribute"][0]
    assert attrs["DBInstanceClass"] == "pg.n2.small.1" and attrs["Engine"] == "PostgreSQL", attrs
    assert ids_in(client, clone_id) == before, "the clone holds exactly what was committed before the backup"
    names = [d["DBName"] for d in client.call("DescribeDatabases", DBInstanceId=clone_id)["Databases"]["Database"]]
    assert names == ["shop"], names
    delete_quietly(client, clone_id)


def test_refusals_have_their_own_codes(client, source):
    assert client.error("CreateBackup", DBInstanceId=source, BackupMethod="Logical").code == "OperationDenied.BackupMethod"
    assert client.error("CreateBackup", DBInstanceId=source, BackupStrategy="db").code == "OperationDenied.BackupMethod"
    assert client.error("CreateBackup", DBInstanceId="pgm-doesnotexist000000").code == "InvalidDBInstanceId.NotFound"
    assert client.error("DescribeBackups", DBInstanceId=source, BackupStatus="Running").code == "InvalidParameter"
    e = client.error("DescribeBackups", DBInstanceId=source, StartTime="2026-01-02T00:00Z", EndTime="2026-01-01T00:00Z")
    assert e.code == "InvalidStartTimeAndEndTime.Malformed", e
    assert client.error("DeleteBackup", DBInstanceId=source, BackupId="999999").code == "InvalidBackupId.NotFound"
    assert client.error("CloneDBInstance", DBInstanceId=source, BackupId="999999", PayType="Postpaid").code == "InvalidBackupId.NotFound"
    assert client.error("CloneDBInstance", DBInstanceId=source, PayType="Postpaid").code == "InvalidParameter"
    assert client.error("CloneDBInstance", DBInstanceId=source, BackupId="1").code == "MissingPayType"
    # One job at a time per instance.
    first = client.call("CreateBackup", DBInstanceId=source)["BackupJobId"]
    e = client.error("CreateBackup", DBInstanceId=source)
    assert e.code == "OperationDenied.BackupJobExists" and e.status == 403, e
    running = client.call("DescribeBackupTasks", DBInstanceId=source)["Items"]["BackupJob"]
    assert [j["BackupJobId"] for j in running] in ([first], []), running
    assert wait_backup(client, source, first)["BackupStatus"] == "Finished"


def test_a_backup_outlives_its_instance_and_is_deleted_with_delete_backup(v3):
    instance = instance_with_items(v3, 1)
    backup = take_backup(v3, instance)
    v3.call("DeleteDBInstance", DBInstanceId=instance)
    wait_gone(v3, instance)

    # The instance is gone; its backup is still listed and restorable.
    listed = v3.call("DescribeBackups", DBInstanceId=instance)
    assert [b["BackupId"] for b in listed["Items"]["Backup"]] == [backup["BackupId"]], listed
    clone_id = v3.call("CloneDBInstance", DBInstanceId=instance, BackupId=backup["BackupId"], PayType="Postpaid")["DBInstanceId"]
    wait_status(v3, clone_id, "Running", timeout=180)
    assert ids_in(v3, clone_id) == [1]
    delete_quietly(v3, clone_id)

    v3.call("DeleteBackup", DBInstanceId=instance, BackupId=backup["BackupId"])
    # With its last backup gone, nothing of the deleted instance is left to name.
    assert v3.error("DescribeBackups", DBInstanceId=instance).code == "InvalidDBInstanceId.NotFound"
    assert v3.error("DeleteBackup", DBInstanceId=instance, BackupId=backup["BackupId"]).code == "InvalidDBInstanceId.NotFound"


def test_a_mariadb_backup_clones_with_what_it_held(v1, mariadb_instance):
    instance = mariadb_instance["id"]
    owner, db = account_with_database(v1, instance, PASSWORD, "utf8mb4", "ReadWrite")
    addr = net_address(v1, instance)
    with mariadb_connect(*addr, owner, PASSWORD, db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, note varchar(200)) ENGINE=InnoDB")
        cur.execute("INSERT INTO items SELECT seq, repeat('m', 100) FROM seq_1_to_2000")
    backup = take_backup(v1, instance)
    assert backup["Engine"] == "MariaDB" and backup["BackupStatus"] == "Success", backup
    with mariadb_connect(*addr, owner, PASSWORD, db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items VALUES (99999, 'after the backup')")
    clone_id = v1.call("CloneDBInstance", DBInstanceId=instance, BackupId=backup["BackupId"], PayType="Postpaid")["DBInstanceId"]
    wait_status(v1, clone_id, "Running", timeout=180)
    with mariadb_connect(*net_address(v1, clone_id), owner, PASSWORD, db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), max(id) FROM items")
        assert cur.fetchone() == (2000, 2000), "the clone holds exactly what was committed before the backup"
    delete_quietly(v1, clone_id)


def test_a_backup_taken_while_writes_run_is_consistent(v3):
    """One row per transaction, ids in order, committed while the backup runs: the clone
    holds a prefix of them, with no gap (a torn copy would miss some and keep later ones)."""
    instance = instance_with_items(v3, 100)
    stop = threading.Event()
    committed: list[int] = []

    def writer():
        with pg_connect(*net_address(v3, instance), "owner1", PASSWORD, "shop") as conn:
            n = 100
            while not stop.is_set():
                n += 1
                conn.execute("INSERT INTO items VALUES (%s, 'during')", (n,))
                committed.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.5)
        backup = take_backup(v3, instance)
    finally:
        stop.set()
        thread.join()
    clone_id = v3.call("CloneDBInstance", DBInstanceId=instance, BackupId=backup["BackupId"], PayType="Postpaid")["DBInstanceId"]
    wait_status(v3, clone_id, "Running", timeout=180)
    held = ids_in(v3, clone_id)
    assert held == list(range(1, len(held) + 1)), "a prefix of the committed rows, without gaps"
    assert 100 < len(held) < committed[-1], (len(held), committed[-1])
    delete_quietly(v3, clone_id)
    delete_quietly(v3, instance)


@pytest.mark.parametrize("engine", ["PostgreSQL", "MariaDB"])
def test_a_clone_to_a_point_in_time_holds_exactly_the_rows_committed_before_it(v3, engine):
    instance = instance_with_items(v3, 10, engine)
    take_backup(v3, instance)
    insert_more(v3, instance, 5, engine)          # ids 11..15, committed before the target
    target = int(time.time()) + 1
    time.sleep(target + 1.2 - time.time())
    insert_more(v3, instance, 5, engine)          # ids 16..20, committed after it
    restore_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(target))
    e = v3.error("CloneDBInstance", DBInstanceId=instance, RestoreTime="2020-01-01T00:00:00Z", PayType="Postpaid")
    assert e.code == "InvalidParameter" and "earliest" in e.message, e
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert v3.error("CloneDBInstance", DBInstanceId=instance, RestoreTime=future, PayType="Postpaid").code == "InvalidParameter"
    assert v3.error("CloneDBInstance", DBInstanceId=instance, RestoreTime="yesterday", PayType="Postpaid").code == "InvalidParameter"

    clone_id = v3.call("CloneDBInstance", DBInstanceId=instance, RestoreTime=restore_time, PayType="Postpaid")["DBInstanceId"]
    wait_status(v3, clone_id, "Running", timeout=180)
    assert ids_in(v3, clone_id, engine) == list(range(1, 16)), "every row committed by the restore time, none after"
    run(v3, clone_id, engine, "INSERT INTO items VALUES (1000, 'the clone takes writes')")
    delete_quietly(v3, clone_id)

    hour_ago = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() - 3600))
    in_a_minute = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + 60))
    logs = v3.call("DescribeLogBackupFiles", DBInstanceId=instance, StartTime=hour_ago, EndTime=in_a_minute)
    files = logs["Items"]["BinLogFile"]
    if engine == "MariaDB":
        assert files and all(f["FileName"].startswith("mariadb-bin.") and f["FileSize"] > 0 for f in files), logs
    else:
        assert files and all(f["FileSize"] == 16 * 1024 * 1024 for f in files if not f["FileName"].endswith((".backup", ".history"))), logs
    assert logs["TotalRecordCount"] == len(files) and logs["TotalFileSize"] == sum(f["FileSize"] for f in files), logs
    assert all(f["LogBeginTime"] <= f["LogEndTime"] for f in files), files
    e = v3.error("DescribeLogBackupFiles", DBInstanceId=instance, StartTime=in_a_minute, EndTime=hour_ago)
    assert e.code == "InvalidStartTimeAndEndTime.Malformed", e

    # After the source is deleted, its archived log still reaches its last moment: a
    # moment after the deletion restores all it held.
    v3.call("DeleteDBInstance", DBInstanceId=instance)
    wait_gone(v3, instance)
    time.sleep(1.1)
    late = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))
    clone_id = v3.call("CloneDBInstance", DBInstanceId=instance, RestoreTime=late, PayType="Postpaid")["DBInstanceId"]
    wait_status(v3, clone_id, "Running", timeout=180)
    assert ids_in(v3, clone_id, engine) == list(range(1, 21))
    delete_quietly(v3, clone_id)


def test_the_backup_policy_is_shaped_as_alibaba_s_and_its_schedule_takes_automatic_backups(client):
    instance = create_pg(client)["DBInstanceId"]
    wait_status(client, instance, "Running")
    policy = client.call("DescribeBackupPolicy", DBInstanceId=instance)
    assert policy["PreferredBackupPeriod"].split(",") == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"], policy
    assert policy["BackupRetentionPeriod"] == 7 and policy["LogBackupRetentionPeriod"] == 7, policy
    assert policy["BackupLog"] == "Enable" and policy["EnableBackupLog"] == "1", policy
    start, end = policy["PreferredBackupTime"].split("-")
    assert start.endswith("Z") and end.endswith("Z") and policy["PreferredNextBackupTime"].endswith("Z"), policy

    for params, name in [
        ({"PreferredBackupTime": "25:00Z-26:00Z"}, "PreferredBackupTime"),
        ({"PreferredBackupPeriod": "Monday"}, "PreferredBackupPeriod"),
        ({"PreferredBackupPeriod": "Mon,Tue"}, "PreferredBackupPeriod"),
        ({"BackupRetentionPeriod": "3"}, "BackupRetentionPeriod"),
        ({"LogBackupRetentionPeriod": "30"}, "LogBackupRetentionPeriod"),
        ({"BackupLog": "Maybe"}, "BackupLog"),
    ]:
        e = client.error("ModifyBackupPolicy", DBInstanceId=instance, **params)
        assert e.code == "InvalidParameter" and name in e.message, (params, e)
    assert client.call("DescribeBackupPolicy", DBInstanceId=instance)["PreferredBackupTime"] == policy["PreferredBackupTime"], "nothing changed"

    # A window opening at the next minute, every day: the schedule takes one backup in it.
    now = time.time()
    opens = now - now % 60 + 60
    window = time.strftime("%H:%MZ", time.gmtime(opens)) + "-" + time.strftime("%H:%MZ", time.gmtime(opens + 3600))
    changed = client.call("ModifyBackupPolicy", DBInstanceId=instance, PreferredBackupTime=window,
                          PreferredBackupPeriod="Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
                          BackupRetentionPeriod="30", LogBackupRetentionPeriod="14")
    assert changed["PreferredBackupTime"] == window and changed["BackupRetentionPeriod"] == 30, changed
    deadline = opens + 90
    automated = []
    while time.time() < deadline and not automated:
        automated = client.call("DescribeBackups", DBInstanceId=instance, BackupMode="Automated")["Items"]["Backup"]
        time.sleep(1)
    assert [b["BackupMode"] for b in automated] == ["Automated"], (automated, window)
    assert automated[0]["BackupStatus"] == "Success" and automated[0]["BackupInitiator"] == "System", automated
    time.sleep(12)
    again = client.call("DescribeBackups", DBInstanceId=instance, BackupMode="Automated")["Items"]["Backup"]
    assert len(again) == 1, "one automatic backup per window"
    delete_quietly(client, instance)
