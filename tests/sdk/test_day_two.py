"""Day-two operations through the official SDKs on real PostgreSQL: stop and start,
ModifyDBInstanceSpec (the new class's settings in the running engine, storage at once),
deletion protection, the maintenance window, and descriptions of an instance, a database
and an account, each with its refusals."""

from __future__ import annotations

import psycopg
import pytest

from conftest import attribute, create_pg, delete_quietly, net_address, pg_connect, wait_gone, wait_status

PASSWORD = "Sdk_Passw0rd!"


@pytest.fixture(scope="module")
def instance(v3):
    """A Running instance with account owner1 and database shop holding a row."""
    instance = create_pg(v3)["DBInstanceId"]
    wait_status(v3, instance, "Running")
    v3.call("CreateAccount", DBInstanceId=instance, AccountName="owner1", AccountPassword=PASSWORD)
    v3.call("CreateDatabase", DBInstanceId=instance, DBName="shop", CharacterSetName="UTF8", AccountName="owner1", AccountPrivilege="DBOwner")
    with pg_connect(*net_address(v3, instance), "owner1", PASSWORD, "shop") as conn:
        conn.execute("CREATE TABLE kept (id int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    yield instance
    delete_quietly(v3, instance)


def setting(client, instance: str, name: str) -> str:
    with pg_connect(*net_address(client, instance), "owner1", PASSWORD, "shop") as conn:
        return conn.execute(f"SHOW {name}").fetchone()[0]


def test_a_stopped_instance_refuses_work_and_starts_again_with_its_data(client, instance):
    client.call("StopDBInstance", DBInstanceId=instance, RegionId="cn-hangzhou")
    wait_status(client, instance, "Stopped")
    with pytest.raises(psycopg.OperationalError):
        with pg_connect(*net_address(client, instance), "owner1", PASSWORD, "shop"):
            pass
    assert client.error("CreateDatabase", DBInstanceId=instance, DBName="more", CharacterSetName="UTF8").code == "OperationDenied.DBInstanceStatus"
    assert client.error("StopDBInstance", DBInstanceId=instance, RegionId="cn-hangzhou").code == "OperationDenied.DBInstanceStatus"
    client.call("StartDBInstance", DBInstanceId=instance)
    wait_status(client, instance, "Running")
    with pg_connect(*net_address(client, instance), "owner1", PASSWORD, "shop") as conn:
        assert conn.execute("SELECT id FROM kept").fetchall() == [(42,)]
    assert client.error("StartDBInstance", DBInstanceId=instance).code == "IncorrectDBInstanceState"


def test_a_new_class_is_in_effect_in_the_engine_and_storage_changes_at_once(v3, instance):
    before = attribute(v3, instance)
    buffers_before = setting(v3, instance, "shared_buffers")
    body = v3.call("ModifyDBInstanceSpec", DBInstanceId=instance, DBInstanceClass="pg.n2.small.1")
    assert body["DBInstanceId"] == instance and isinstance(body["OrderId"], int), body
    assert attribute(v3, instance)["DBInstanceStatus"] in ("DBInstanceClassChanging", "Running")
    after = wait_status(v3, instance, "Running")
    after = attribute(v3, instance)
    assert after["DBInstanceClass"] == "pg.n2.small.1" and after["DBInstanceMemory"] < before["DBInstanceMemory"], after
    assert setting(v3, instance, "shared_buffers") != buffers_before, "the engine runs with the new class's memory"
    assert int(setting(v3, instance, "max_connections")) <= after["MaxConnections"]
    with pg_connect(*net_address(v3, instance), "owner1", PASSWORD, "shop") as conn:
        assert conn.execute("SELECT id FROM kept").fetchall() == [(42,)]

    v3.call("ModifyDBInstanceSpec", DBInstanceId=instance, DBInstanceStorage=40)
    changed = attribute(v3, instance)
    assert changed["DBInstanceStorage"] == 40 and changed["DBInstanceStatus"] == "Running", changed

    v3.call("ModifyDBInstanceSpec", DBInstanceId=instance, DBInstanceClass=before["DBInstanceClass"], DBInstanceStorage=20)
    wait_status(v3, instance, "Running")
    assert attribute(v3, instance)["DBInstanceClass"] == before["DBInstanceClass"]


def test_spec_refusals(client, instance):
    assert client.error("ModifyDBInstanceSpec", DBInstanceId=instance).code == "InvalidParameter"
    assert client.error("ModifyDBInstanceSpec", DBInstanceId=instance, DBInstanceClass="mariadb.x4.large.2c").code == "InvalidDBInstanceClass.NotFound"
    assert client.error("ModifyDBInstanceSpec", DBInstanceId=instance, DBInstanceStorage=7).code == "InvalidDBInstanceStorage.Malformed"
    assert client.error("ModifyDBInstanceSpec", DBInstanceId=instance, DBInstanceStorage=25, EffectiveTime="MaintainTime").code == "InvalidParameter"
    assert client.error("ModifyDBInstanceSpec", DBInstanceId="pgm-doesnotexist000000", DBInstanceStorage=25).code == "InvalidDBInstanceId.NotFound"


def test_a_protected_instance_is_not_deleted(v3):
    instance = create_pg(v3, DeletionProtection=True)["DBInstanceId"]
    wait_status(v3, instance, "Running")
    created = attribute(v3, instance)
    assert created["DeletionProtection"] is True and created["MaintainTime"] == "02:00Z-06:00Z", created
    e = v3.error("DeleteDBInstance", DBInstanceId=instance)
    assert e.code == "OperationDenied.DeletionProtection" and e.status == 403, e
    assert v3.error("ModifyDBInstanceDeletionProtection", DBInstanceId=instance).code == "MissingDeletionProtection"
    assert v3.error("ModifyDBInstanceDeletionProtection", DBInstanceId=instance, DeletionProtection="maybe").code == "InvalidParameter"
    v3.call("ModifyDBInstanceDeletionProtection", DBInstanceId=instance, DeletionProtection=False)
    assert attribute(v3, instance)["DeletionProtection"] is False
    # A stopped instance can be released as it is.
    v3.call("StopDBInstance", DBInstanceId=instance, RegionId="cn-hangzhou")
    wait_status(v3, instance, "Stopped")
    v3.call("DeleteDBInstance", DBInstanceId=instance)
    wait_gone(v3, instance)


def test_the_maintenance_window_and_descriptions_are_kept_and_shown(client, instance):
    window = {"v3": "20:30Z-22:00Z"}.get(client.name, "21:00Z-23:30Z")
    client.call("ModifyDBInstanceMaintainTime", DBInstanceId=instance, MaintainTime=window)
    assert attribute(client, instance)["MaintainTime"] == window
    for bad in ("20:30-22:00", "20:15Z-22:00Z", "25:00Z-01:00Z"):
        assert client.error("ModifyDBInstanceMaintainTime", DBInstanceId=instance, MaintainTime=bad).code == "InvalidParameter", bad

    client.call("ModifyDBInstanceDescription", DBInstanceId=instance, DBInstanceDescription=f"orders {client.name}")
    listed = client.call("DescribeDBInstances", RegionId="cn-hangzhou", DBInstanceId=instance)["Items"]["DBInstance"]
    assert listed[0]["DBInstanceDescription"] == f"orders {client.name}", listed
    assert client.error("ModifyDBInstanceDescription", DBInstanceId=instance, DBInstanceDescription="x").code == "InvalidParameter"
    assert client.error("ModifyDBInstanceDescription", DBInstanceId=instance).code == "MissingDBInstanceDescription"

    client.call("ModifyDBDescription", DBInstanceId=instance, DBName="shop", DBDescription="the shop")
    dbs = client.call("DescribeDatabases", DBInstanceId=instance, DBName="shop")["Databases"]["Database"]
    assert dbs[0]["DBDescription"] == "the shop", dbs
    assert client.error("ModifyDBDescription", DBInstanceId=instance, DBName="nosuch", DBDescription="none").code == "InvalidDBName.NotFound"

    client.call("ModifyAccountDescription", DBInstanceId=instance, AccountName="owner1", AccountDescription="owns the shop")
    accounts = client.call("DescribeAccounts", DBInstanceId=instance, AccountName="owner1")["Accounts"]["DBInstanceAccount"]
    assert accounts[0]["AccountDescription"] == "owns the shop", accounts
    assert client.error("ModifyAccountDescription", DBInstanceId=instance, AccountName="nosuch", AccountDescription="none").code == "InvalidAccountName.NotFound"
