"""MariaDB 10.11 instances through both official SDKs: creation and its refusals, the
network address, databases with each character set, accounts and the five privileges, and
ImportDatabaseBetweenInstances between two MariaDB instances. Every result is checked
inside the real MariaDB server with PyMySQL."""

from __future__ import annotations

import json

import pymysql
import pytest

from conftest import (
    account_with_database,
    IMPORT_ENDED,
    MARIADB_CREATE,
    REGION,
    attribute,
    databases,
    describe_account,
    mariadb_connect,
    net_address,
    privileges,
    unique,
    wait_import,
)

PASSWORD = "Sdk_Passw0rd!"
# The instance the conftest's `addr` fixture gives the address of.
INSTANCE = "mariadb_instance"
SYSTEM_DBS = {"mysql", "information_schema", "performance_schema", "sys"}
INTERNAL_ACCOUNTS = {"root", "mysql", "mariadb.sys", "admin", "openrds_admin"}
# MariaDB's "access denied" error numbers: database (1044), login (1045, and 1698, which
# the server answers instead for a user it does not know when the handshake switched
# authentication plugins), table (1142), column (1143), global privilege (1227), routine (1370).
DENIED = {1044, 1045, 1142, 1143, 1227, 1370, 1698}
# utf8 is an alias of utf8mb3 in MariaDB 10.6 and later: the engine reports either name,
# while the API reports the name Alibaba documents (the one the database was created with).
ENGINE_CHARSETS = {"utf8mb4": {"utf8mb4"}, "utf8": {"utf8", "utf8mb3"}, "latin1": {"latin1"}, "gbk": {"gbk"}}


# --- helpers ------------------------------------------------------------------------------


def query(conn, sql: str, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def execute(conn, sql: str, args=None) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, args)


def refused(conn, sql: str, args=None) -> pymysql.MySQLError:
    """Runs `sql`, which the engine must refuse for lack of a privilege."""
    with pytest.raises(pymysql.MySQLError) as info:
        with conn.cursor() as cur:
            cur.execute(sql, args)
    assert info.value.args and info.value.args[0] in DENIED, f"{sql!r} failed, but not for lack of a privilege: {info.value!r}"
    return info.value


def login_refused(addr, user: str, password: str, database: str | None = None) -> pymysql.MySQLError:
    with pytest.raises(pymysql.MySQLError) as info:
        mariadb_connect(*addr, user, password, database).close()
    assert info.value.args and info.value.args[0] in DENIED, f"the login failed, but not as refused: {info.value!r}"
    return info.value


def status(client, instance_id: str) -> str:
    return attribute(client, instance_id)["DBInstanceStatus"]


def new_account(client, instance_id: str, prefix: str, **extra) -> str:
    name = unique(f"{prefix}_{client.name}_")
    client.call("CreateAccount", DBInstanceId=instance_id, AccountName=name, AccountPassword=PASSWORD, **extra)
    return name


def granted(client, instance_id: str, prefix: str, db: str, privilege: str) -> str:
    """A new account holding `privilege` on `db`, as DescribeAccounts shows it."""
    name = new_account(client, instance_id, prefix)
    client.call("GrantAccountPrivilege", DBInstanceId=instance_id, AccountName=name, DBName=db, AccountPrivilege=privilege)
    assert privileges(client, instance_id, name) == {db: privilege}
    return name


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def appdb(v3, mariadb_instance, addr) -> dict:
    """A utf8mb4 database made with a ReadWrite account, holding table `items` with one row."""
    owner, db = account_with_database(v3, mariadb_instance["id"], PASSWORD, "utf8mb4", "ReadWrite")
    with mariadb_connect(*addr, owner, PASSWORD, db) as conn:
        execute(conn, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50))")
        execute(conn, "INSERT INTO items VALUES (1, 'one')")
    return {"owner": owner, "db": db}


@pytest.fixture(scope="module")
def superacct(v1, mariadb_instance) -> str:
    """The instance's Super account, created with the V1 SDK."""
    name = unique("super_")
    v1.call("CreateAccount", DBInstanceId=mariadb_instance["id"], AccountName=name, AccountPassword=PASSWORD,
            AccountType="Super", AccountDescription="sdk super")
    return name


@pytest.fixture(scope="module")
def checker(v3, mariadb_instance) -> str:
    """A Normal account that new databases are granted to ReadOnly, to look at them from inside."""
    name = unique("checker_")
    v3.call("CreateAccount", DBInstanceId=mariadb_instance["id"], AccountName=name, AccountPassword=PASSWORD)
    return name


# --- CreateDBInstance, DescribeDBInstanceAttribute, DescribeDBInstanceNetInfo ---------------


def test_create_mariadb_returns_an_rm_id_address_and_port_and_reaches_running(mariadb_instance):
    body = mariadb_instance["create"]
    assert body["DBInstanceId"].startswith("rm-"), body
    assert body["ConnectionString"] == "127.0.0.1" and 25000 <= int(body["Port"]) <= 25999, body
    assert "Code" not in body and body["RequestId"], body
    assert mariadb_instance["attr"]["DBInstanceStatus"] == "Running"


def test_mariadb_instances_created_with_v1_reach_running(v1, mariadb_pair):
    for instance_id in (mariadb_pair["src"], mariadb_pair["dst"]):
        a = attribute(v1, instance_id)
        assert a["DBInstanceStatus"] == "Running" and a["Engine"] == "MariaDB", a


def test_describe_attribute_reports_mariadb_10_11(client, mariadb_instance):
    a = attribute(client, mariadb_instance["id"])
    assert a["DBInstanceId"] == mariadb_instance["id"]
    assert a["DBInstanceStatus"] == "Running"
    assert a["Engine"] == "MariaDB", a["Engine"]
    assert a["EngineVersion"] == "10.11", a["EngineVersion"]
    assert a["DBInstanceClass"] == "mariadb.x4.large.2c" and a["DBInstanceClassType"] == "d", a
    assert int(a["DBInstanceMemory"]) == 16384 and str(a["DBInstanceCPU"]) == "4", a
    assert int(a["MaxConnections"]) > 0
    assert int(a["DBInstanceStorage"]) == 20
    assert a["RegionId"] == REGION
    assert a["ConnectionString"] == "127.0.0.1" and a["Port"] == mariadb_instance["create"]["Port"], a


def test_describe_instances_filters_by_engine_mariadb(client, mariadb_instance):
    mine = client.call("DescribeDBInstances", RegionId=REGION, Engine="MariaDB", PageSize=100)
    ids = {i["DBInstanceId"]: i for i in mine["Items"]["DBInstance"]}
    assert mariadb_instance["id"] in ids, mine
    assert all(i["Engine"] == "MariaDB" for i in ids.values()), mine
    assert ids[mariadb_instance["id"]]["DBInstanceClass"] == "mariadb.x4.large.2c"
    pg = client.call("DescribeDBInstances", RegionId=REGION, Engine="PostgreSQL", PageSize=100)
    assert mariadb_instance["id"] not in {i["DBInstanceId"] for i in pg["Items"]["DBInstance"]}, pg


def test_net_info_address_takes_a_pymysql_login_of_an_account_made_by_create_account(client, mariadb_instance):
    body = client.call("DescribeDBInstanceNetInfo", DBInstanceId=mariadb_instance["id"])
    infos = body["DBInstanceNetInfos"]["DBInstanceNetInfo"]
    assert len(infos) == 1, body
    ip, port = infos[0]["IPAddress"], int(infos[0]["Port"])
    assert ip == "127.0.0.1" and str(port) == mariadb_instance["create"]["Port"], infos[0]
    name = new_account(client, mariadb_instance["id"], "net")
    with mariadb_connect(ip, port, name, PASSWORD) as conn:
        (user, version), = query(conn, "SELECT CURRENT_USER(), VERSION()")
    assert user.split("@")[0] == name, user
    assert version.startswith("10.11.") and "MariaDB" in version, version


# --- refusals of CreateDBInstance ---------------------------------------------------------


def _count(client) -> int:
    return client.call("DescribeDBInstances", RegionId=REGION, PageSize=100)["TotalRecordCount"]


@pytest.mark.parametrize("version", ["10.6", "10.3"])
def test_unavailable_engine_version_is_refused_naming_10_11(client, server, version):
    before = _count(client)
    e = client.error("CreateDBInstance", **{**MARIADB_CREATE, "EngineVersion": version})
    assert (e.code, e.status) == ("InvalidEngineVersion.NotSupported", 400), e
    assert version in e.message and "10.11" in e.message, e.message
    assert _count(client) <= before, "a refused CreateDBInstance created an instance"


def test_engine_mysql_is_refused_clearly(client, server):
    e = client.error("CreateDBInstance", **{**MARIADB_CREATE, "Engine": "MySQL", "DBInstanceClass": "mysql.x4.large.2c",
                                            "EngineVersion": "8.0"})
    assert (e.code, e.status) == ("InvalidEngine.NotSupported", 400), e
    assert "MySQL" in e.message and "MariaDB" in e.message, e.message


def test_unknown_engine_is_refused_naming_the_engines_offered(client, server):
    e = client.error("CreateDBInstance", **{**MARIADB_CREATE, "Engine": "Sybase"})
    assert (e.code, e.status) == ("InvalidEngine.NotSupported", 400), e
    assert "Sybase" in e.message and "MariaDB" in e.message and "PostgreSQL" in e.message, e.message


def test_postgresql_class_with_engine_mariadb_is_refused(client, server):
    e = client.error("CreateDBInstance", **{**MARIADB_CREATE, "DBInstanceClass": "pg.x4.large.2c"})
    assert (e.code, e.status) == ("InvalidDBInstanceClass.NotFound", 400), e
    assert "pg.x4.large.2c" in e.message and "mariadb.x4.large.2c" in e.message, e.message


# --- databases ----------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["utf8mb4", "utf8", "latin1", "gbk"])
def test_create_database_with_each_character_set(client, mariadb_instance, addr, checker, charset):
    db = unique(f"cs{charset}{client.name}")
    body = client.call("CreateDatabase", DBInstanceId=mariadb_instance["id"], DBName=db, CharacterSetName=charset,
                       DBDescription=f"sdk {charset} db", AccountName=checker, AccountPrivilege="ReadOnly")
    assert "Code" not in body
    d = databases(client, mariadb_instance["id"], DBName=db)[db]
    assert d["CharacterSetName"] == charset, d
    assert d["Engine"] == "MariaDB" and d["DBStatus"] == "Running", d
    assert d["DBDescription"] == f"sdk {charset} db" and d["DBInstanceId"] == mariadb_instance["id"], d
    with mariadb_connect(*addr, checker, PASSWORD, db) as conn:
        (engine_charset,), = query(conn, "SELECT @@character_set_database")
    assert engine_charset in ENGINE_CHARSETS[charset], f"the engine shows {engine_charset} for {charset}"


@pytest.mark.parametrize("charset", ["UTF8,C,C", "klingon", "utf16", ""])
def test_bad_character_set_is_refused(client, mariadb_instance, charset):
    db = unique("badcs")
    e = client.error("CreateDatabase", DBInstanceId=mariadb_instance["id"], DBName=db, CharacterSetName=charset)
    if charset == "":
        # An empty required parameter is missing or malformed; either way it is refused with 400.
        assert e.status == 400, e
    else:
        assert (e.code, e.status) == ("InvalidCharacterSetName.Format", 400), e
    assert db not in databases(client, mariadb_instance["id"])


def test_duplicate_database_is_refused(client, mariadb_instance, appdb):
    e = client.error("CreateDatabase", DBInstanceId=mariadb_instance["id"], DBName=appdb["db"], CharacterSetName="utf8mb4")
    assert (e.code, e.status) == ("InvalidDBName.Duplicate", 400), e
    assert appdb["db"] in e.message


def test_database_made_by_a_super_account_over_sql_is_described_and_system_databases_are_not(
        client, mariadb_instance, addr, superacct):
    db = unique(f"bysql{client.name}")
    with mariadb_connect(*addr, superacct, PASSWORD) as conn:
        execute(conn, f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    listed = databases(client, mariadb_instance["id"])
    assert db in listed, f"{db} made by SQL is not described: {sorted(listed)}"
    assert listed[db]["DBStatus"] == "Running" and listed[db]["CharacterSetName"] == "utf8mb4", listed[db]
    assert not SYSTEM_DBS & set(listed), f"system databases are described: {sorted(SYSTEM_DBS & set(listed))}"


def test_delete_database_removes_it(client, mariadb_instance, addr, superacct):
    db = unique(f"doomed{client.name}")
    client.call("CreateDatabase", DBInstanceId=mariadb_instance["id"], DBName=db, CharacterSetName="utf8mb4")
    assert db in databases(client, mariadb_instance["id"])
    client.call("DeleteDatabase", DBInstanceId=mariadb_instance["id"], DBName=db)
    assert db not in databases(client, mariadb_instance["id"])
    with mariadb_connect(*addr, superacct, PASSWORD) as conn:
        assert query(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,)) == [(0,)]
    e = client.error("DeleteDatabase", DBInstanceId=mariadb_instance["id"], DBName=db)
    assert (e.code, e.status) == ("InvalidDBName.NotFound", 404), e


# --- accounts -----------------------------------------------------------------------------


def test_create_normal_account_is_described(client, mariadb_instance):
    name = new_account(client, mariadb_instance["id"], "normal", AccountDescription="sdk normal")
    acct = describe_account(client, mariadb_instance["id"], name)
    assert acct["AccountType"] == "Normal" and acct["AccountStatus"] == "Available", acct
    assert acct["AccountDescription"] == "sdk normal" and acct["DBInstanceId"] == mariadb_instance["id"], acct
    assert acct["DatabasePrivileges"]["DatabasePrivilege"] == [], acct


def test_super_account_is_described_as_super(client, mariadb_instance, superacct):
    acct = describe_account(client, mariadb_instance["id"], superacct)
    assert acct["AccountType"] == "Super" and acct["AccountStatus"] == "Available", acct
    assert acct["AccountDescription"] == "sdk super"


def test_super_account_reaches_every_database(addr, appdb, superacct):
    with mariadb_connect(*addr, superacct, PASSWORD, appdb["db"]) as conn:
        assert query(conn, "SELECT id, name FROM items WHERE id = 1") == [(1, "one")]


def test_describe_accounts_lists_every_account_without_internal_ones(client, mariadb_instance, appdb, superacct):
    body = client.call("DescribeAccounts", DBInstanceId=mariadb_instance["id"])
    names = [a["AccountName"] for a in body["Accounts"]["DBInstanceAccount"]]
    assert appdb["owner"] in names and superacct in names, names
    assert not INTERNAL_ACCOUNTS & set(names) and not any(n.startswith("openrds") for n in names), names


def test_normal_account_cannot_create_databases_before_a_grant(client, mariadb_instance, addr):
    name = new_account(client, mariadb_instance["id"], "nogrant")
    with mariadb_connect(*addr, name, PASSWORD) as conn:
        refused(conn, f"CREATE DATABASE `{unique('nope')}`")


def test_grant_read_only_allows_select_and_refuses_insert(client, mariadb_instance, addr, appdb):
    reader = new_account(client, mariadb_instance["id"], "ro")
    body = client.call("GrantAccountPrivilege", DBInstanceId=mariadb_instance["id"], AccountName=reader,
                       DBName=appdb["db"], AccountPrivilege="ReadOnly")
    assert "Code" not in body
    assert privileges(client, mariadb_instance["id"], reader) == {appdb["db"]: "ReadOnly"}
    with mariadb_connect(*addr, reader, PASSWORD, appdb["db"]) as conn:
        assert query(conn, "SELECT id, name FROM items WHERE id = 1") == [(1, "one")]
        refused(conn, "INSERT INTO items VALUES (%s, 'ro')", (900,))
        refused(conn, "UPDATE items SET name = 'ro' WHERE id = 1")
        refused(conn, "DELETE FROM items")
        refused(conn, f"CREATE TABLE {unique('ro_')} (x INT)")


def test_grant_read_write_allows_insert_and_create_table(client, mariadb_instance, addr, appdb):
    writer = granted(client, mariadb_instance["id"], "rw", appdb["db"], "ReadWrite")
    row_id, table = 100 + (0 if client.name == "v3" else 1), unique(f"rw_{client.name}_")
    with mariadb_connect(*addr, writer, PASSWORD, appdb["db"]) as conn:
        execute(conn, "INSERT INTO items VALUES (%s, 'written')", (row_id,))
        assert query(conn, "SELECT name FROM items WHERE id = %s", (row_id,)) == [("written",)]
        execute(conn, f"CREATE TABLE {table} (x INT PRIMARY KEY)")
        execute(conn, f"INSERT INTO {table} VALUES (1)")
        assert query(conn, f"SELECT x FROM {table}") == [(1,)]


def test_grant_ddl_only_allows_create_table_and_refuses_select_and_insert(client, mariadb_instance, addr, appdb):
    ddl = granted(client, mariadb_instance["id"], "ddl", appdb["db"], "DDLOnly")
    table = unique(f"ddl_{client.name}_")
    with mariadb_connect(*addr, ddl, PASSWORD, appdb["db"]) as conn:
        execute(conn, f"CREATE TABLE {table} (x INT PRIMARY KEY)")
        execute(conn, f"ALTER TABLE {table} ADD COLUMN y INT")
        refused(conn, "SELECT id FROM items")
        refused(conn, "INSERT INTO items VALUES (%s, 'ddl')", (901,))
        refused(conn, f"INSERT INTO {table} VALUES (1, 1)")
        refused(conn, f"SELECT x FROM {table}")
        refused(conn, "UPDATE items SET name = 'ddl'")
        refused(conn, "DELETE FROM items")
        execute(conn, f"DROP TABLE {table}")


def test_grant_dml_only_allows_insert_and_refuses_create_table(client, mariadb_instance, addr, appdb):
    dml = granted(client, mariadb_instance["id"], "dml", appdb["db"], "DMLOnly")
    row_id = 200 + (0 if client.name == "v3" else 1)
    with mariadb_connect(*addr, dml, PASSWORD, appdb["db"]) as conn:
        execute(conn, "INSERT INTO items VALUES (%s, 'dml')", (row_id,))
        execute(conn, "UPDATE items SET name = 'dml2' WHERE id = %s", (row_id,))
        assert query(conn, "SELECT name FROM items WHERE id = %s", (row_id,)) == [("dml2",)]
        execute(conn, "DELETE FROM items WHERE id = %s", (row_id,))
        refused(conn, f"CREATE TABLE {unique('dml_')} (x INT)")
        refused(conn, "ALTER TABLE items ADD COLUMN z INT")
        refused(conn, "DROP TABLE items")


def test_describe_accounts_and_databases_show_the_privileges(client, mariadb_instance, appdb):
    other = unique(f"privdb{client.name}")
    client.call("CreateDatabase", DBInstanceId=mariadb_instance["id"], DBName=other, CharacterSetName="utf8mb4")
    name = new_account(client, mariadb_instance["id"], "many")
    client.call("GrantAccountPrivilege", DBInstanceId=mariadb_instance["id"], AccountName=name,
                DBName=appdb["db"], AccountPrivilege="ReadOnly")
    client.call("GrantAccountPrivilege", DBInstanceId=mariadb_instance["id"], AccountName=name,
                DBName=other, AccountPrivilege="DMLOnly")
    assert privileges(client, mariadb_instance["id"], name) == {appdb["db"]: "ReadOnly", other: "DMLOnly"}
    d = databases(client, mariadb_instance["id"], DBName=other)[other]
    holders = {a["Account"]: a["AccountPrivilege"] for a in d["Accounts"]["AccountPrivilegeInfo"]}
    assert holders.get(name) == "DMLOnly", d
    d = databases(client, mariadb_instance["id"], DBName=appdb["db"])[appdb["db"]]
    holders = {a["Account"]: a["AccountPrivilege"] for a in d["Accounts"]["AccountPrivilegeInfo"]}
    assert holders.get(name) == "ReadOnly" and holders.get(appdb["owner"]) == "ReadWrite", d


def test_revoke_removes_access(client, mariadb_instance, addr, appdb):
    reader = new_account(client, mariadb_instance["id"], "rv")
    client.call("GrantAccountPrivilege", DBInstanceId=mariadb_instance["id"], AccountName=reader,
                DBName=appdb["db"], AccountPrivilege="ReadWrite")
    with mariadb_connect(*addr, reader, PASSWORD, appdb["db"]) as conn:
        assert query(conn, "SELECT COUNT(*) FROM items")[0][0] >= 1
    body = client.call("RevokeAccountPrivilege", DBInstanceId=mariadb_instance["id"], AccountName=reader,
                       DBName=appdb["db"])
    assert "Code" not in body
    assert appdb["db"] not in privileges(client, mariadb_instance["id"], reader)
    login_refused(addr, reader, PASSWORD, appdb["db"])
    with mariadb_connect(*addr, reader, PASSWORD) as conn:
        refused(conn, f"SELECT COUNT(*) FROM `{appdb['db']}`.items")
        refused(conn, f"INSERT INTO `{appdb['db']}`.items VALUES (902, 'revoked')")


def test_reset_password_changes_the_login(client, mariadb_instance, addr, appdb):
    name = new_account(client, mariadb_instance["id"], "reset")
    client.call("GrantAccountPrivilege", DBInstanceId=mariadb_instance["id"], AccountName=name,
                DBName=appdb["db"], AccountPrivilege="ReadOnly")
    body = client.call("ResetAccountPassword", DBInstanceId=mariadb_instance["id"], AccountName=name,
                       AccountPassword="New_Passw0rd#")
    assert "Code" not in body
    with mariadb_connect(*addr, name, "New_Passw0rd#", appdb["db"]) as conn:
        assert query(conn, "SELECT id FROM items WHERE id = 1") == [(1,)]
    login_refused(addr, name, PASSWORD, appdb["db"])


def test_delete_account_drops_it(client, mariadb_instance, addr):
    name = new_account(client, mariadb_instance["id"], "gone")
    mariadb_connect(*addr, name, PASSWORD).close()
    body = client.call("DeleteAccount", DBInstanceId=mariadb_instance["id"], AccountName=name)
    assert "Code" not in body
    assert client.call("DescribeAccounts", DBInstanceId=mariadb_instance["id"],
                       AccountName=name)["Accounts"]["DBInstanceAccount"] == []
    e = client.error("DeleteAccount", DBInstanceId=mariadb_instance["id"], AccountName=name)
    assert (e.code, e.status) == ("InvalidAccountName.NotFound", 404), e
    login_refused(addr, name, PASSWORD)


def test_duplicate_account_is_refused(client, mariadb_instance, appdb):
    e = client.error("CreateAccount", DBInstanceId=mariadb_instance["id"], AccountName=appdb["owner"],
                     AccountPassword=PASSWORD)
    assert (e.code, e.status) == ("InvalidAccountName.Duplicate", 400), e


@pytest.mark.parametrize("password", ["Sh0rt!", "alllowercaseletters", "NoDigitsOrSpecials", "12345678901",
                                      "Has Space1!", "Waytoolong_" + "x1" * 12])
def test_weak_password_is_refused(client, mariadb_instance, password):
    name = unique("weak_")
    e = client.error("CreateAccount", DBInstanceId=mariadb_instance["id"], AccountName=name, AccountPassword=password)
    assert (e.code, e.status) == ("InvalidAccountPassword.Malformed", 400), e
    assert password not in e.message, "the message must not echo the password"
    assert client.call("DescribeAccounts", DBInstanceId=mariadb_instance["id"],
                       AccountName=name)["Accounts"]["DBInstanceAccount"] == []


@pytest.mark.parametrize("name", ["1abc", "Abc", "ab-c", "abc_", "root", "mariadb.sys", "a" * 33])
def test_bad_account_name_is_refused(client, mariadb_instance, name):
    e = client.error("CreateAccount", DBInstanceId=mariadb_instance["id"], AccountName=name, AccountPassword=PASSWORD)
    assert (e.code, e.status) == ("InvalidAccountName.Format", 400), e


# --- ImportDatabaseBetweenInstances -------------------------------------------------------

SHOP_TABLES = ["audit", "blobs", "customers", "docs", "orders"]
CUSTOMERS = [
    (1, "Zoë 😀🎉 ünïcödé", "tab\there\nnewline \\ backslash 'quote' \"dq\"", "2024-02-29 23:59:59.123456"),
    (2, "中文名字", None, None),
    (3, None, "", "1970-01-01 00:00:01.000000"),
    (4, "🦄" * 20, "𝄞 musical symbol, outside the BMP", "2038-01-19 03:14:07.999999"),
]
BLOBS = [(1, bytes(range(256))), (2, None), (3, b""), (4, bytes(range(255, -1, -1)) * 64)]
DOCS = [
    (1, json.dumps({"name": "Zoë 😀", "tags": ["a", "b"], "n": 1.5, "nested": {"null": None, "ok": True}}, ensure_ascii=False)),
    (2, None),
    (3, json.dumps([1, "two", {"three": 3}])),
]


def _load_shop(addr, user: str) -> None:
    """The small `shop` database, loaded as the ReadWrite account `user`."""
    with mariadb_connect(*addr, user, PASSWORD, "shop") as conn:
        for sql in [
            "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NULL, "
            "note TEXT CHARACTER SET utf8mb4 NULL, created DATETIME(6) NULL) DEFAULT CHARSET = utf8mb4",
            "CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB NULL)",
            "CREATE TABLE docs (id INT PRIMARY KEY, doc JSON NULL)",
            "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, "
            "amount DECIMAL(12,2) NULL, placed DATE NULL, KEY by_customer (customer_id))",
            "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, what VARCHAR(20) NOT NULL)",
            "CREATE VIEW big_orders AS SELECT o.id, o.customer_id, c.name, o.amount FROM orders o "
            "JOIN customers c ON c.id = o.customer_id WHERE o.amount >= 500",
            "CREATE PROCEDURE order_count(IN cust INT, OUT n INT) BEGIN "
            "SELECT COUNT(*) INTO n FROM orders WHERE customer_id = cust; END",
            "CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW "
            "INSERT INTO audit (order_id, what) VALUES (NEW.id, 'insert')",
        ]:
            execute(conn, sql)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s)", CUSTOMERS)
            cur.executemany("INSERT INTO blobs VALUES (%s, %s)", BLOBS)
            cur.executemany("INSERT INTO docs VALUES (%s, %s)", DOCS)
            cur.executemany(
                "INSERT INTO orders (customer_id, amount, placed) VALUES (%s, %s, %s)",
                [(1 + i % 4, None if i % 97 == 0 else f"{(i * 37) % 1000}.{i % 100:02d}",
                  None if i % 13 == 0 else f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}") for i in range(3000)],
            )


@pytest.fixture(scope="module")
def shop(v1, mariadb_pair) -> dict:
    """Database `shop` on the source, loaded over PyMySQL by `shopper`, an account granted
    ReadWrite on it; `shopper` exists on the destination too (the definer of the copies)."""
    src, dst = mariadb_pair["src"], mariadb_pair["dst"]
    for instance_id in (src, dst):
        v1.call("CreateAccount", DBInstanceId=instance_id, AccountName="shopper", AccountPassword=PASSWORD)
    v1.call("CreateDatabase", DBInstanceId=src, DBName="shop", CharacterSetName="utf8mb4",
            AccountName="shopper", AccountPrivilege="ReadWrite")
    src_addr, dst_addr = net_address(v1, src), net_address(v1, dst)
    _load_shop(src_addr, "shopper")
    return {"src": src, "dst": dst, "src_addr": src_addr, "dst_addr": dst_addr}


def start_import(client, shop: dict, db_names) -> tuple[str, tuple[str, str] | None]:
    """Starts an import; returns its id and the instances' states if they were read while
    the task was still running (None when it ended before they could be)."""
    body = client.call("ImportDatabaseBetweenInstances", DBInstanceId=shop["dst"], SourceDBInstanceId=shop["src"],
                       DBInfo=json.dumps({"DBNames": db_names}), RegionId=REGION)
    import_id = body["ImportId"]
    assert isinstance(import_id, str) and import_id.isdigit(), body
    assert body["RequestId"] and "Code" not in body, body
    states = (status(client, shop["src"]), status(client, shop["dst"]))
    # The states were read before this progress: if the task is still going now, they were
    # read during it.
    during = client.call("DescribeImportProgress", DBInstanceId=shop["dst"], ImportId=import_id)
    return import_id, (states if during["Status"] not in IMPORT_ENDED else None)


def drop_if_present(client, instance_id: str, db: str) -> None:
    if db in databases(client, instance_id):
        client.call("DeleteDatabase", DBInstanceId=instance_id, DBName=db)
        assert db not in databases(client, instance_id)


def snapshot(addr, db: str) -> dict:
    """Everything the copy must reproduce, read as `shopper`: all rows of every table in key
    order, CHECKSUM TABLE of each, the view's rows, the routine and trigger definitions."""
    with mariadb_connect(*addr, "shopper", PASSWORD, db) as conn:
        out = {"rows": {}, "checksum": {}}
        for t in SHOP_TABLES:
            out["rows"][t] = query(conn, f"SELECT * FROM `{t}` ORDER BY id")
            (_, checksum), = query(conn, f"CHECKSUM TABLE `{t}`")
            out["checksum"][t] = checksum
        out["view"] = query(conn, "SELECT * FROM big_orders ORDER BY id")
        out["views"] = query(conn, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s", (db,))
        out["routines"] = query(conn, "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES "
                                      "WHERE ROUTINE_SCHEMA = %s ORDER BY ROUTINE_NAME", (db,))
        out["triggers"] = query(conn, "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, "
                                      "ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
                                      "ORDER BY TRIGGER_NAME", (db,))
        execute(conn, "CALL order_count(2, @n)")
        (out["order_count_2"],), = query(conn, "SELECT @n")
        out["charset"] = query(conn, "SELECT @@character_set_database")
    return out


def check_copy(client, shop: dict, import_id: str, done: dict, copy: str) -> None:
    assert done["Status"] == "Success", done
    assert (status(client, shop["src"]), status(client, shop["dst"])) == ("Running", "Running")
    listed = databases(client, shop["dst"])
    assert copy in listed and listed[copy]["DBStatus"] == "Running", sorted(listed)
    assert listed[copy]["CharacterSetName"] == "utf8mb4", listed[copy]
    dbs = done["Result"]["Databases"]
    assert len(dbs) == 1, done["Result"]
    tables = dbs[0]["Tables"]
    assert sorted(t["Name"] for t in tables) == SHOP_TABLES, tables
    assert all(t["Verified"] is True for t in tables), tables
    # Grants are per database name: the copy is shopper's once it is granted.
    client.call("GrantAccountPrivilege", DBInstanceId=shop["dst"], AccountName="shopper", DBName=copy,
                AccountPrivilege="ReadWrite")
    source, copied = snapshot(shop["src_addr"], "shop"), snapshot(shop["dst_addr"], copy)
    assert source["rows"]["blobs"][0][1] == bytes(range(256)), "the source's BLOB is not what was loaded"
    assert source["rows"]["customers"][0][1] == CUSTOMERS[0][1], "the source's emoji are not what was loaded"
    assert len(source["rows"]["audit"]) == 3000, "the source's trigger did not fire"
    for t in SHOP_TABLES:
        assert copied["rows"][t] == source["rows"][t], f"rows of {t} differ"
        assert copied["checksum"][t] == source["checksum"][t], f"CHECKSUM TABLE {t} differs"
    assert copied["view"] == source["view"] and copied["views"] == [("big_orders",)], "the view differs"
    assert copied["routines"] == source["routines"] and [r[0] for r in copied["routines"]] == ["order_count"]
    assert copied["triggers"] == source["triggers"] and [t[0] for t in copied["triggers"]] == ["orders_ai"]
    assert copied["order_count_2"] == source["order_count_2"] == 750
    assert copied["charset"] == [("utf8mb4",)]
    # The copied trigger works on the copy.
    with mariadb_connect(*shop["dst_addr"], "shopper", PASSWORD, copy) as conn:
        before = query(conn, "SELECT COUNT(*) FROM audit")[0][0]
        execute(conn, "INSERT INTO orders (customer_id, amount) VALUES (1, 1.00)")
        assert query(conn, "SELECT COUNT(*) FROM audit")[0][0] == before + 1
    # Either instance of the task finds it.
    for instance_id in (shop["src"], shop["dst"]):
        items = client.call("DescibeImportsFromDatabase", DBInstanceId=instance_id,
                            ImportId=import_id)["Items"]["ImportResultFromDB"]
        assert [str(i["ImportId"]) for i in items] == [import_id] and items[0]["ImportDataStatus"] == "Success", items


def test_import_map_form_copies_shop_to_shop_copy_exactly(client, shop):
    drop_if_present(client, shop["dst"], "shop_copy")
    import_id, during = start_import(client, shop, {"shop": "shop_copy"})
    if during is not None:
        assert during == ("Migrating", "Importing"), f"states during import {import_id}: {during}"
    done = wait_import(client, shop["dst"], import_id)
    check_copy(client, shop, import_id, done, "shop_copy")
    # A destination database holding user objects is not replaced.
    e = client.error("ImportDatabaseBetweenInstances", DBInstanceId=shop["dst"], SourceDBInstanceId=shop["src"],
                     DBInfo=json.dumps({"DBNames": {"shop": "shop_copy"}}))
    assert (e.code, e.status) == ("InvalidDBName.Duplicate", 400), e


def test_import_array_form_keeps_the_name(client, shop):
    drop_if_present(client, shop["dst"], "shop")
    import_id, during = start_import(client, shop, ["shop"])
    if during is not None:
        assert during == ("Migrating", "Importing"), f"states during import {import_id}: {during}"
    done = wait_import(client, shop["dst"], import_id)
    check_copy(client, shop, import_id, done, "shop")


@pytest.mark.parametrize("info", [{"DBNames": {"nosuchdb": "x_copy"}}, {"DBNames": ["nosuchdb"]}])
def test_import_of_a_missing_source_database_is_not_found(client, shop, info):
    e = client.error("ImportDatabaseBetweenInstances", DBInstanceId=shop["dst"], SourceDBInstanceId=shop["src"],
                     DBInfo=json.dumps(info))
    assert (e.code, e.status) == ("InvalidDBName.NotFound", 404), e
    assert "nosuchdb" in e.message, e.message
    assert (status(client, shop["src"]), status(client, shop["dst"])) == ("Running", "Running")


def test_import_between_postgresql_and_mariadb_is_refused(client, shop, pg_instance):
    e = client.error("ImportDatabaseBetweenInstances", DBInstanceId=shop["dst"], SourceDBInstanceId=pg_instance["id"],
                     DBInfo=json.dumps({"DBNames": {"shop": "from_pg"}}))
    assert (e.code, e.status) == ("InstanceEngineType.NotSupport", 400), e
    assert "PostgreSQL" in e.message and "MariaDB" in e.message, e.message
    e = client.error("ImportDatabaseBetweenInstances", DBInstanceId=pg_instance["id"], SourceDBInstanceId=shop["src"],
                     DBInfo=json.dumps({"DBNames": {"shop": "from_mariadb"}}))
    assert (e.code, e.status) == ("InstanceEngineType.NotSupport", 400), e
    for instance_id in (shop["src"], shop["dst"], pg_instance["id"]):
        assert status(client, instance_id) == "Running"
    assert "from_pg" not in databases(client, shop["dst"])
