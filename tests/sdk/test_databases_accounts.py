"""Databases and accounts through both official SDKs, each result checked inside the real
PostgreSQL server with psycopg."""

from __future__ import annotations

import psycopg
import pytest

from conftest import account_with_database, databases, describe_account, pg_connect, privileges, unique

PASSWORD = "Sdk_Passw0rd!"
# The instance the conftest's `addr` fixture gives the address of.
INSTANCE = "pg_instance"
SYSTEM_DBS = {"postgres", "template0", "template1"}


@pytest.fixture(scope="module")
def appdb(v3, pg_instance, addr) -> dict:
    """A database owned (DBOwner) by a Normal account, holding one table with one row."""
    owner, db = account_with_database(v3, pg_instance["id"], PASSWORD, "UTF8", "DBOwner")
    with pg_connect(*addr, owner, PASSWORD, db) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items VALUES (1, 'one')")
    return {"owner": owner, "db": db}


@pytest.fixture(scope="module")
def superacct(v1, pg_instance) -> dict:
    """A Super account (created with the V1 SDK) with a database of its own to log in to."""
    name, db = unique("super_"), unique("superdb")
    v1.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=name, AccountPassword=PASSWORD,
            AccountType="Super", AccountDescription="sdk super")
    v1.call("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=db, CharacterSetName="UTF8",
            AccountName=name, AccountPrivilege="DBOwner")
    return {"name": name, "db": db}


# --- accounts ---------------------------------------------------------------------------


def test_create_normal_account_is_described(client, pg_instance):
    name = unique(f"normal_{client.name}_")
    body = client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=name, AccountPassword=PASSWORD,
                       AccountDescription="sdk normal")
    assert "Code" not in body
    acct = describe_account(client, pg_instance["id"], name)
    assert acct["AccountType"] == "Normal" and acct["AccountStatus"] == "Available", acct
    assert acct["AccountDescription"] == "sdk normal"
    assert acct["DBInstanceId"] == pg_instance["id"]


def test_describe_accounts_lists_every_account_without_internal_roles(client, pg_instance, appdb, superacct):
    body = client.call("DescribeAccounts", DBInstanceId=pg_instance["id"])
    names = [a["AccountName"] for a in body["Accounts"]["DBInstanceAccount"]]
    assert appdb["owner"] in names and superacct["name"] in names, names
    assert "postgres" not in names and not any(n.startswith("pg_") or n.startswith("openrds") for n in names), names


def test_super_account_has_createdb_but_is_not_a_superuser(client, pg_instance, addr, superacct):
    acct = describe_account(client, pg_instance["id"], superacct["name"])
    assert acct["AccountType"] == "Super", acct
    with pg_connect(*addr, superacct["name"], PASSWORD, superacct["db"]) as conn:
        rolsuper, rolcreatedb = conn.execute(
            "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone()
    assert rolsuper is False, "a Super account must not be a PostgreSQL superuser"
    assert rolcreatedb is True, "a Super account must be able to create databases"


def test_normal_account_cannot_create_databases(addr, appdb):
    with pg_connect(*addr, appdb["owner"], PASSWORD, appdb["db"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"CREATE DATABASE {unique('nope')}")


@pytest.mark.parametrize("password", ["Sh0rt!", "alllowercaseletters", "NoDigitsOrSpecials", "12345678901",
                                      "Has Space1!", "Waytoolong_" + "x1" * 12])
def test_weak_password_is_malformed(client, pg_instance, password):
    e = client.error("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=unique("weak_"),
                     AccountPassword=password)
    assert (e.code, e.status) == ("InvalidAccountPassword.Malformed", 400), e
    assert password not in e.message, "the message must not echo the password"


@pytest.mark.parametrize("name", ["1abc", "Abc", "a", "ab-c", "abc_", "pg_abc", "postgres"])
def test_bad_account_name_is_refused(client, pg_instance, name):
    e = client.error("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=name, AccountPassword=PASSWORD)
    assert (e.code, e.status) == ("InvalidAccountName.Format", 400), e


def test_duplicate_account_is_refused(client, pg_instance, appdb):
    e = client.error("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=appdb["owner"],
                     AccountPassword=PASSWORD)
    assert (e.code, e.status) == ("InvalidAccountName.Duplicate", 400), e


def test_delete_account_drops_the_role(client, pg_instance, addr):
    name = unique(f"gone_{client.name}_")
    client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=name, AccountPassword=PASSWORD)
    client.call("DeleteAccount", DBInstanceId=pg_instance["id"], AccountName=name)
    body = client.call("DescribeAccounts", DBInstanceId=pg_instance["id"], AccountName=name)
    assert body["Accounts"]["DBInstanceAccount"] == [], body
    e = client.error("DeleteAccount", DBInstanceId=pg_instance["id"], AccountName=name)
    assert (e.code, e.status) == ("InvalidAccountName.NotFound", 404), e
    with pytest.raises(psycopg.OperationalError):
        pg_connect(*addr, name, PASSWORD, "postgres").close()


def test_reset_password_changes_the_login(client, pg_instance, addr, superacct):
    name, db = unique(f"reset_{client.name}_"), unique(f"resetdb{client.name}")
    client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=name, AccountPassword=PASSWORD)
    client.call("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=db, CharacterSetName="UTF8",
                AccountName=name, AccountPrivilege="ReadWrite")
    client.call("ResetAccountPassword", DBInstanceId=pg_instance["id"], AccountName=name,
                AccountPassword="New_Passw0rd#")
    pg_connect(*addr, name, "New_Passw0rd#", db).close()
    with pytest.raises(psycopg.OperationalError):
        pg_connect(*addr, name, PASSWORD, db).close()


# --- databases --------------------------------------------------------------------------


def test_create_database_with_utf8(client, pg_instance, addr, superacct):
    db = unique(f"utf8{client.name}")
    body = client.call("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=db, CharacterSetName="UTF8",
                       DBDescription="sdk utf8 db")
    assert "Code" not in body
    d = databases(client, pg_instance["id"], DBName=db)[db]
    assert d["CharacterSetName"] == "UTF8" and d["DBStatus"] == "Running" and d["Engine"] == "PostgreSQL", d
    assert d["DBDescription"] == "sdk utf8 db" and d["DBInstanceId"] == pg_instance["id"]
    with pg_connect(*addr, superacct["name"], PASSWORD, superacct["db"]) as conn:
        row = conn.execute("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = %s", (db,)).fetchone()
    assert row == ("UTF8",), f"the engine shows {row}"


def test_create_database_with_dbowner_makes_the_account_its_owner(client, pg_instance, addr):
    account, db = unique(f"dbo_{client.name}_"), unique(f"owned{client.name}")
    client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=account, AccountPassword=PASSWORD)
    client.call("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=db, CharacterSetName="UTF8",
                AccountName=account, AccountPrivilege="DBOwner")
    with pg_connect(*addr, account, PASSWORD, db) as conn:
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                             ).fetchone()[0]
        conn.execute("CREATE TABLE mine (x int)")  # an owner can create objects in its database
    assert owner == account
    d = databases(client, pg_instance["id"], DBName=db)[db]
    holders = {a["Account"]: a["AccountPrivilege"] for a in d["Accounts"]["AccountPrivilegeInfo"]}
    assert holders.get(account) == "DBOwner", d
    assert privileges(client, pg_instance["id"], account).get(db) == "DBOwner"


def test_database_made_by_sql_is_described_and_system_databases_are_not(client, pg_instance, addr, superacct):
    db = unique(f"bysql{client.name}")
    with pg_connect(*addr, superacct["name"], PASSWORD, superacct["db"]) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    listed = databases(client, pg_instance["id"])
    assert db in listed, f"{db} made by SQL is not described: {sorted(listed)}"
    assert listed[db]["DBStatus"] == "Running"
    assert not SYSTEM_DBS & set(listed), f"system databases are described: {sorted(SYSTEM_DBS & set(listed))}"
    body = client.call("DescribeDatabases", DBInstanceId=pg_instance["id"], PageSize=100)
    assert body["Databases"]["Database"][0]["TotalCount"] == len(listed)


@pytest.mark.parametrize("name", ["1db", "Upper", "a", "has space", "ends_", "x" * 65, "postgres", "template1"])
def test_bad_database_name_is_invalid_format(client, pg_instance, name):
    e = client.error("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=name, CharacterSetName="UTF8")
    assert (e.code, e.status) == ("InvalidDBName.Format", 400), e


def test_duplicate_database_name_is_refused(client, pg_instance, appdb):
    e = client.error("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=appdb["db"], CharacterSetName="UTF8")
    assert (e.code, e.status) == ("InvalidDBName.Duplicate", 400), e
    assert appdb["db"] in e.message


def test_bad_character_set_is_refused(client, pg_instance):
    e = client.error("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=unique("cs"), CharacterSetName="KLINGON")
    assert (e.code, e.status) == ("InvalidCharacterSetName.Format", 400), e


def test_delete_database_removes_it(client, pg_instance, addr, superacct):
    db = unique(f"doomed{client.name}")
    client.call("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=db, CharacterSetName="UTF8")
    assert db in databases(client, pg_instance["id"])
    body = client.call("DeleteDatabase", DBInstanceId=pg_instance["id"], DBName=db)
    assert "Code" not in body
    assert db not in databases(client, pg_instance["id"])
    with pg_connect(*addr, superacct["name"], PASSWORD, superacct["db"]) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (db,)).fetchone()[0] == 0
    e = client.error("DeleteDatabase", DBInstanceId=pg_instance["id"], DBName=db)
    assert (e.code, e.status) == ("InvalidDBName.NotFound", 404), e


# --- privileges -------------------------------------------------------------------------


def test_grant_read_only_allows_select_but_not_insert(client, pg_instance, addr, appdb):
    reader = unique(f"ro_{client.name}_")
    client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=reader, AccountPassword=PASSWORD)
    body = client.call("GrantAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName=reader,
                       DBName=appdb["db"], AccountPrivilege="ReadOnly")
    assert "Code" not in body
    assert privileges(client, pg_instance["id"], reader) == {appdb["db"]: "ReadOnly"}
    with pg_connect(*addr, reader, PASSWORD, appdb["db"]) as conn:
        assert conn.execute("SELECT id, name FROM items ORDER BY id").fetchall()[:1] == [(1, "one")]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO items VALUES (2, 'two')")


def test_revoke_removes_the_privilege(client, pg_instance, addr, appdb):
    reader = unique(f"rv_{client.name}_")
    client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=reader, AccountPassword=PASSWORD)
    client.call("GrantAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName=reader,
                DBName=appdb["db"], AccountPrivilege="ReadOnly")
    with pg_connect(*addr, reader, PASSWORD, appdb["db"]) as conn:
        conn.execute("SELECT count(*) FROM items").fetchone()
    body = client.call("RevokeAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName=reader,
                       DBName=appdb["db"])
    assert "Code" not in body
    assert appdb["db"] not in privileges(client, pg_instance["id"], reader)
    with pytest.raises(psycopg.Error):
        with pg_connect(*addr, reader, PASSWORD, appdb["db"]) as conn:
            conn.execute("SELECT count(*) FROM items").fetchone()


def test_grant_read_write_allows_insert(client, pg_instance, addr, appdb):
    writer = unique(f"rw_{client.name}_")
    client.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=writer, AccountPassword=PASSWORD)
    client.call("GrantAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName=writer,
                DBName=appdb["db"], AccountPrivilege="ReadWrite")
    assert privileges(client, pg_instance["id"], writer) == {appdb["db"]: "ReadWrite"}
    row_id = 100 + (0 if client.name == "v3" else 1)
    with pg_connect(*addr, writer, PASSWORD, appdb["db"]) as conn:
        conn.execute("INSERT INTO items VALUES (%s, 'written')", (row_id,))
        assert conn.execute("SELECT name FROM items WHERE id = %s", (row_id,)).fetchone() == ("written",)


def test_grant_on_unknown_database_or_account_is_not_found(client, pg_instance, appdb):
    e = client.error("GrantAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName=appdb["owner"],
                     DBName="nosuchdb", AccountPrivilege="ReadOnly")
    assert (e.code, e.status) == ("InvalidDBName.NotFound", 404), e
    e = client.error("GrantAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName="nosuchaccount",
                     DBName=appdb["db"], AccountPrivilege="ReadOnly")
    assert (e.code, e.status) == ("InvalidAccountName.NotFound", 404), e


def test_bad_privilege_is_refused(client, pg_instance, appdb):
    e = client.error("GrantAccountPrivilege", DBInstanceId=pg_instance["id"], AccountName=appdb["owner"],
                     DBName=appdb["db"], AccountPrivilege="Everything")
    assert (e.code, e.status) == ("InvalidAccountPrivilege.Malformed", 400), e
