"""ModifySecurityIps and DescribeDBInstanceIPArrayList through the official SDKs (V3 and
V1), and the list enforced by the engines: once 127.0.0.1 is out of the list, a login
from it is refused by PostgreSQL and by MariaDB; back in, it succeeds."""

from __future__ import annotations

import pymysql
import psycopg
import pytest

from conftest import ApiError, mariadb_connect, net_address, pg_connect, unique


def groups(client, instance_id: str) -> dict[str, str]:
    body = client.call("DescribeDBInstanceIPArrayList", DBInstanceId=instance_id)
    return {g["DBInstanceIPArrayName"]: g["SecurityIPList"] for g in body["Items"]["DBInstanceIPArray"]}


def login(engine: str, host: str, port: int, user: str, password: str) -> None:
    if engine == "pg":
        pg_connect(host, port, user, password, "postgres").close()
    else:
        mariadb_connect(host, port, user, password).close()


@pytest.mark.parametrize("engine", ["pg", "mariadb"])
def test_a_login_from_outside_the_list_is_refused_by_the_engine(client, engine, request):
    instance = request.getfixturevalue("pg_instance" if engine == "pg" else "mariadb_instance")
    iid = instance["id"]
    user, password = unique("ips"), "Ips_pass_123"
    client.call("CreateAccount", DBInstanceId=iid, AccountName=user, AccountPassword=password)
    host, port = net_address(client, iid)
    assert groups(client, iid)["default"] == "127.0.0.1"
    login(engine, host, port, user, password)

    # Only 127.0.0.2: this client (127.0.0.1) is refused by the engine.
    body = client.call("ModifySecurityIps", DBInstanceId=iid, SecurityIps="127.0.0.2")
    assert "TaskId" in body and "RequestId" in body
    assert groups(client, iid)["default"] == "127.0.0.2"
    with pytest.raises((psycopg.OperationalError, pymysql.err.OperationalError, pymysql.err.InternalError)):
        login(engine, host, port, user, password)

    # A group of its own lets it in again; Delete of the group shuts it out again.
    client.call("ModifySecurityIps", DBInstanceId=iid, SecurityIps="127.0.0.0/24", DBInstanceIPArrayName="office", ModifyMode="Append")
    assert groups(client, iid) == {"default": "127.0.0.2", "office": "127.0.0.0/24"}
    login(engine, host, port, user, password)
    client.call("ModifySecurityIps", DBInstanceId=iid, SecurityIps="127.0.0.0/24", DBInstanceIPArrayName="office", ModifyMode="Delete")
    assert "office" not in groups(client, iid)
    with pytest.raises((psycopg.OperationalError, pymysql.err.OperationalError, pymysql.err.InternalError)):
        login(engine, host, port, user, password)

    for bad, code in [("127.0.0.300", "InvalidSecurityIPList.Format"), ("127.0.0.1,127.0.0.1", "InvalidSecurityIPList.Duplicate")]:
        with pytest.raises(ApiError) as e:
            client.call("ModifySecurityIps", DBInstanceId=iid, SecurityIps=bad)
        assert (e.value.code, e.value.status) == (code, 400)

    client.call("ModifySecurityIps", DBInstanceId=iid, SecurityIps="127.0.0.1")
    login(engine, host, port, user, password)
    client.call("DeleteAccount", DBInstanceId=iid, AccountName=user)
