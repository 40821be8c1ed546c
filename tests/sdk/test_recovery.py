"""RecoveryDBInstance through the official SDKs on real PostgreSQL: databases of a backup
set, or of a moment with the archived log, restored into an existing instance (renamed,
`Restoring` meanwhile, the task an import of the target, nothing else of the target
touched, the private server it copies from never seen) or into a new instance that keeps
only the databases named; a cancel leaves the target as it was; refusals have their codes."""

from __future__ import annotations

import time

import pytest

from conftest import attribute, create_pg, delete_quietly, net_address, pg_connect, wait_status
from test_backups import PASSWORD, ids_in, insert_more, instance_with_items, take_backup

RESTORE_TIMEOUT = 240.0


def wait_task(client, instance: str, task_id: str) -> dict:
    deadline = time.monotonic() + RESTORE_TIMEOUT
    while time.monotonic() < deadline:
        task = client.call("DescribeImportProgress", DBInstanceId=instance, ImportId=task_id)
        if task["Status"] in ("Success", "Failed", "Canceled"):
            return task
        time.sleep(0.5)
    pytest.fail(f"recovery task {task_id} did not end in {RESTORE_TIMEOUT}s: {task}")


def databases(client, instance: str) -> list[str]:
    return sorted(d["DBName"] for d in client.call("DescribeDatabases", DBInstanceId=instance)["Databases"]["Database"])


def listed_ids(client) -> set[str]:
    body = client.call("DescribeDBInstances", RegionId="cn-hangzhou", PageSize=100)
    return {i["DBInstanceId"] for i in body["Items"]["DBInstance"]}


@pytest.fixture(scope="module")
def source(v3):
    """`shop.items` 1..100 and a second database `crm`, a backup set of them, then more
    rows in shop (not in the set)."""
    instance = instance_with_items(v3, 100)
    v3.call("CreateDatabase", DBInstanceId=instance, DBName="crm", CharacterSetName="UTF8", AccountName="owner1", AccountPrivilege="DBOwner")
    with pg_connect(*net_address(v3, instance), "owner1", PASSWORD, "crm") as conn:
        conn.execute("CREATE TABLE leads (id int PRIMARY KEY)")
    backup = take_backup(v3, instance)
    insert_more(v3, instance, 10)
    yield instance, backup["BackupId"]
    delete_quietly(v3, instance)


@pytest.fixture(scope="module")
def target(v3):
    """An instance with data of its own, which every restore must leave as it is."""
    instance = create_pg(v3)["DBInstanceId"]
    wait_status(v3, instance, "Running")
    v3.call("CreateAccount", DBInstanceId=instance, AccountName="owner1", AccountPassword=PASSWORD)
    v3.call("CreateDatabase", DBInstanceId=instance, DBName="shop", CharacterSetName="UTF8", AccountName="owner1", AccountPrivilege="DBOwner")
    with pg_connect(*net_address(v3, instance), "owner1", PASSWORD, "shop") as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO items VALUES (-1, 'the target''s own row')")
    yield instance
    delete_quietly(v3, instance)


def restored_ids(client, instance: str, db: str) -> list[int]:
    with pg_connect(*net_address(client, instance), "owner1", PASSWORD, db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]


def test_a_backup_s_database_is_restored_into_an_existing_instance_under_a_new_name(client, source, target):
    instance, backup_id = source
    before = listed_ids(client)
    before_dbs = databases(client, target)
    restored = f"shop_{client.name}"
    body = client.call("RecoveryDBInstance", DBInstanceId=instance, BackupId=backup_id, TargetDBInstanceId=target,
                       DbNames=f'{{"shop":"{restored}"}}')
    assert body["DBInstanceId"] == target and body["OrderId"].isdigit(), body
    assert attribute(client, target)["DBInstanceStatus"] == "Restoring"
    # Not Running meanwhile: nothing else changes the target while it is restored into.
    assert client.error("CreateBackup", DBInstanceId=target).code == "IncorrectDBInstanceState"
    assert listed_ids(client) == before, "the server the databases are copied from is openrds's own"
    task = wait_task(client, target, body["OrderId"])
    assert task["Status"] == "Success" and task["DBNames"] == [{"Source": "shop", "Destination": restored}], task
    assert client.error("DescribeDBInstanceAttribute", DBInstanceId=task["SourceDBInstanceId"]).code == "InvalidDBInstanceId.NotFound"
    wait_status(client, target, "Running")
    assert restored_ids(client, target, restored) == list(range(1, 101)), "exactly what the set held"
    assert restored_ids(client, target, "shop") == [-1], "the target's own database is untouched"
    assert databases(client, target) == sorted(before_dbs + [restored]), "only the database asked for"
    assert listed_ids(client) == before


def test_a_moment_s_database_is_restored_into_an_existing_instance(v3, target):
    instance = instance_with_items(v3, 10)
    take_backup(v3, instance)
    insert_more(v3, instance, 5)                  # ids 11..15, committed before the moment
    moment = int(time.time()) + 1
    time.sleep(moment + 1.2 - time.time())
    insert_more(v3, instance, 5)                  # ids 16..20, after it
    restore_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    body = v3.call("RecoveryDBInstance", DBInstanceId=instance, RestoreTime=restore_time, TargetDBInstanceId=target,
                   DbNames='{"shop":"shop_at_moment"}')
    task = wait_task(v3, target, body["OrderId"])
    assert task["Status"] == "Success", task
    assert restored_ids(v3, target, "shop_at_moment") == list(range(1, 16)), "every row committed by the moment, none after"
    delete_quietly(v3, instance)


def test_into_a_new_instance_only_the_databases_named_are_kept(v1, source):
    instance, backup_id = source
    body = v1.call("RecoveryDBInstance", DBInstanceId=instance, BackupId=backup_id, DbNames="shop", PayType="Postpaid")
    new_id = body["DBInstanceId"]
    assert new_id not in (instance,) and body["OrderId"], body
    wait_status(v1, new_id, "Running", timeout=RESTORE_TIMEOUT)
    assert databases(v1, new_id) == ["shop"]
    assert restored_ids(v1, new_id, "shop") == list(range(1, 101))
    delete_quietly(v1, new_id)


def test_a_canceled_restore_leaves_the_target_as_it_was(v3, source, target):
    instance, backup_id = source
    before = databases(v3, target)
    body = v3.call("RecoveryDBInstance", BackupId=backup_id, TargetDBInstanceId=target, DbNames='{"crm":"crm_canceled"}')
    v3.call("CancelImport", DBInstanceId=target, ImportId=body["OrderId"])
    task = wait_task(v3, target, body["OrderId"])
    assert task["Status"] == "Canceled", task
    wait_status(v3, target, "Running")
    assert databases(v3, target) == before


def test_refusals_have_their_own_codes(client, source, target):
    instance, backup_id = source
    call = dict(DBInstanceId=instance, BackupId=backup_id, TargetDBInstanceId=target)
    assert client.error("RecoveryDBInstance", **call).code == "MissingDbNames"
    e = client.error("RecoveryDBInstance", DbNames="shop", **call)
    assert e.code == "InvalidDBName.Duplicate" and "shop" in e.message, e
    assert client.error("RecoveryDBInstance", DbNames='{"shop":"template1"}', **call).code == "InvalidDBName.Format"
    assert client.error("RecoveryDBInstance", DbNames="a,,b", **call).code == "InvalidParameter"
    assert client.error("RecoveryDBInstance", DBInstanceId=instance, DbNames="shop", TargetDBInstanceId=target).code == "InvalidParameter"
    assert client.error("RecoveryDBInstance", DbNames="shop", BackupId="999999", TargetDBInstanceId=target).code == "InvalidBackupId.NotFound"
    assert client.error("RecoveryDBInstance", DbNames="x", BackupId=backup_id, TargetDBInstanceId="pgm-doesnotexist000000").code == "InvalidDBInstanceId.NotFound"
    e = client.error("RecoveryDBInstance", DbNames='{"shop":"renamed"}', DBInstanceId=instance, BackupId=backup_id)
    assert e.code == "InvalidParameter" and "TargetDBInstanceId" in e.message, e
    # A database the set does not hold: the task fails, the target is as it was.
    body = client.call("RecoveryDBInstance", DbNames="nosuchdb", **call)
    task = wait_task(client, target, body["OrderId"])
    assert task["Status"] == "Failed" and "nosuchdb" in task["Error"], task
    wait_status(client, target, "Running")
    assert "nosuchdb" not in databases(client, target)
