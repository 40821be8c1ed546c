"""ImportDatabaseBetweenInstances and its task calls through both official SDKs: the
DBInfo JSON travels as a query parameter signed by V3 and V1, the ImportId is a decimal
string, the listing and progress calls find the task from either instance, and the copy
is checked inside the destination server with psycopg."""

from __future__ import annotations

import json

import pytest

from conftest import create_pg, delete_quietly, net_address, pg_connect, unique, wait_import, wait_status

PASSWORD = "Sdk_Passw0rd!"


@pytest.fixture(scope="module")
def pair(v3):
    """A source with database `shop` (owned by a Normal account) and a destination."""
    ids = [create_pg(v3)["DBInstanceId"] for _ in range(2)]
    for i in ids:
        wait_status(v3, i, "Running")
        v3.call("CreateAccount", DBInstanceId=i, AccountName="owner1", AccountPassword=PASSWORD)
    src, dst = ids
    v3.call("CreateDatabase", DBInstanceId=src, DBName="shop", CharacterSetName="UTF8",
            AccountName="owner1", AccountPrivilege="DBOwner")
    with pg_connect(*net_address(v3, src), "owner1", PASSWORD, "shop") as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g || E'\\tü', g / 7.0 FROM generate_series(1, 5000) g")
        conn.execute("CREATE VIEW cheap AS SELECT * FROM items WHERE price < 10")
    yield {"src": src, "dst": dst}
    for i in ids:
        delete_quietly(v3, i)


def rows(client, instance_id: str, db: str) -> list[tuple]:
    with pg_connect(*net_address(client, instance_id), "owner1", PASSWORD, db) as conn:
        return conn.execute("SELECT id, name, price::text FROM items ORDER BY id").fetchall()


def test_import_with_each_sdk_renames_and_copies_exactly(client, pair):
    target = unique("copy_")
    body = client.call("ImportDatabaseBetweenInstances", DBInstanceId=pair["dst"], SourceDBInstanceId=pair["src"],
                       DBInfo=json.dumps({"DBNames": {"shop": target}}), RegionId="cn-hangzhou")
    import_id = body["ImportId"]
    assert isinstance(import_id, str) and import_id.isdigit(), body
    assert body["RequestId"]
    done = wait_import(client, pair["dst"], import_id)
    assert done["Status"] == "Success", done
    assert rows(client, pair["dst"], target) == rows(client, pair["src"], "shop")
    tables = done["Result"]["Databases"][0]["Tables"]
    assert [t["Name"] for t in tables] == ["items"] and tables[0]["Verified"] is True, tables

    for instance in (pair["src"], pair["dst"]):
        listed = client.call("DescibeImportsFromDatabase", DBInstanceId=instance, ImportId=import_id)
        items = listed["Items"]["ImportResultFromDB"]
        assert [str(i["ImportId"]) for i in items] == [import_id], listed
        assert items[0]["ImportDataStatus"] == "Success", items
    sql = client.call("DescribeImportsForSQLServer", DBInstanceId=pair["dst"], ImportId=import_id)
    assert sql["Items"]["SQLServerImport"][0]["ImportStatus"] == "Success", sql


def test_the_array_form_keeps_names_and_a_finished_task_cannot_be_canceled(v1, pair):
    # The array form copies under the same name, so it goes to a fresh database name on
    # the destination only once.
    db = unique("same_")
    v1.call("CreateDatabase", DBInstanceId=pair["src"], DBName=db, CharacterSetName="UTF8",
            AccountName="owner1", AccountPrivilege="DBOwner")
    body = v1.call("ImportDatabaseBetweenInstances", DBInstanceId=pair["dst"], SourceDBInstanceId=pair["src"],
                   DBInfo=json.dumps({"DBNames": [db]}))
    done = wait_import(v1, pair["dst"], body["ImportId"])
    assert done["Status"] == "Success", done
    names = {d["DBName"] for d in v1.call("DescribeDatabases", DBInstanceId=pair["dst"])["Databases"]["Database"]}
    assert db in names
    err = v1.error("CancelImport", DBInstanceId=pair["dst"], ImportId=body["ImportId"])
    assert (err.code, err.status) == ("IncorrectImportState", 403)
    err = v1.error("CancelImport", DBInstanceId=pair["dst"], ImportId="999999")
    assert (err.code, err.status) == ("InvalidImportId.NotFound", 404)


@pytest.mark.parametrize(
    "info, code, status",
    [
        ("not json", "InvalidDBInfo.Malformed", 400),
        ('{"DBNames":{}}', "InvalidDBInfo.Malformed", 400),
        ('{"DBNames":{"shop":"aa","shop2":"aa"}}', "InvalidDBName.Duplicate", 400),
        ('{"DBNames":{"nosuchdb":"copy"}}', "InvalidDBName.NotFound", 404),
    ],
)
def test_bad_dbinfo_is_refused_and_changes_nothing(client, pair, info, code, status):
    err = client.error("ImportDatabaseBetweenInstances", DBInstanceId=pair["dst"], SourceDBInstanceId=pair["src"], DBInfo=info)
    assert (err.code, err.status) == (code, status), err
    for instance in (pair["src"], pair["dst"]):
        attr = client.call("DescribeDBInstanceAttribute", DBInstanceId=instance)
        assert attr["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"] == "Running"


def test_missing_dbinfo_and_same_instance_are_refused(client, pair):
    err = client.error("ImportDatabaseBetweenInstances", DBInstanceId=pair["dst"], SourceDBInstanceId=pair["src"])
    assert (err.code, err.status) == ("MissingDBInfo", 400)
    err = client.error("ImportDatabaseBetweenInstances", DBInstanceId=pair["src"], SourceDBInstanceId=pair["src"],
                       DBInfo='{"DBNames":{"shop":"copy"}}')
    assert (err.code, err.status) == ("InvalidParameter", 400)
