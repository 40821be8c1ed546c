"""Instances through both official SDKs: create, describe (attribute, list with paging and
filters, network), restart, delete, the refusals around them, and tenancy."""

from __future__ import annotations


import pytest

from conftest import (
    PG_CREATE,
    REGION,
    ZONE,
    V1Client,
    V3Client,
    attribute,
    create_pg,
    net_address,
    pg_connect,
    port_accepts,
    unique,
    wait_gone,
    wait_status,
)

PASSWORD = "Sdk_Passw0rd!"


@pytest.fixture(scope="module")
def lifecycle(v1: V1Client) -> dict:
    """A second instance, created with the V1 SDK. What it looked like right after
    CreateDBInstance returned is recorded here, whichever test asks for it first."""
    body = create_pg(v1, DBInstanceDescription="sdk lifecycle")
    instance_id = body["DBInstanceId"]
    first_status = attribute(v1, instance_id)["DBInstanceStatus"]
    refusals = {
        "CreateDatabase": v1.error("CreateDatabase", DBInstanceId=instance_id, DBName="early", CharacterSetName="UTF8"),
        "CreateAccount": v1.error("CreateAccount", DBInstanceId=instance_id, AccountName="early_user",
                                  AccountPassword=PASSWORD),
        "DeleteDBInstance": v1.error("DeleteDBInstance", DBInstanceId=instance_id),
        "RestartDBInstance": v1.error("RestartDBInstance", DBInstanceId=instance_id),
    }
    state_after_refusals = attribute(v1, instance_id)["DBInstanceStatus"]
    return {"id": instance_id, "create": body, "first_status": first_status, "refusals": refusals,
            "state_after_refusals": state_after_refusals}


# --- CreateDBInstance -------------------------------------------------------------------


def test_create_returns_id_connection_string_and_port(pg_instance):
    body = pg_instance["create"]
    assert body["DBInstanceId"].startswith("pgm-"), body
    assert body["ConnectionString"] == "127.0.0.1", body
    lo, hi = 25000, 25999
    assert lo <= int(body["Port"]) <= hi, f"port {body['Port']} outside --port-range {lo}-{hi}"
    assert "Code" not in body and body["RequestId"], body


def test_create_goes_creating_then_running(v1, lifecycle):
    assert lifecycle["first_status"] == "Creating", lifecycle
    attr = wait_status(v1, lifecycle["id"], "Running")
    assert attr["DBInstanceDescription"] == "sdk lifecycle"
    assert port_accepts("127.0.0.1", int(attr["Port"])), f"engine port {attr['Port']} does not accept connections"


def test_state_changing_calls_are_refused_while_creating(lifecycle):
    for action, e in lifecycle["refusals"].items():
        assert (e.code, e.status) == ("OperationDenied.DBInstanceStatus", 403), f"{action}: {e}"
        assert lifecycle["id"] in e.message and "Creating" in e.message, f"{action}: {e.message}"
    # The refused delete did not start deleting it.
    assert lifecycle["state_after_refusals"] in ("Creating", "Running"), lifecycle


def test_dry_run_creates_nothing(client):
    before = client.call("DescribeDBInstances", RegionId=REGION, PageSize=100)["TotalRecordCount"]
    body = client.call("CreateDBInstance", DryRun=True, **PG_CREATE)
    assert body.get("DryRunResult") is True, body
    assert not body.get("DBInstanceId"), body
    after = client.call("DescribeDBInstances", RegionId=REGION, PageSize=100)["TotalRecordCount"]
    assert after <= before


@pytest.mark.parametrize(
    "field, value, code, named",
    [
        ("Engine", "Oracle", "InvalidEngine.NotSupported", ["Oracle", "PostgreSQL"]),
        ("EngineVersion", "9.4", "InvalidEngineVersion.NotSupported", ["9.4", "15.0"]),
        ("DBInstanceClass", "pg.bogus.huge", "InvalidDBInstanceClass.NotFound", ["pg.bogus.huge", "pg.x4.large.2c"]),
        # A class of another engine is no class of this one.
        ("DBInstanceClass", "mariadb.x4.large.2c", "InvalidDBInstanceClass.NotFound", []),
        ("DBInstanceStorage", "7", "InvalidDBInstanceStorage.Malformed", ["7"]),
    ],
)
def test_a_bad_creation_parameter_is_refused_naming_what_is_offered(client, field, value, code, named):
    e = client.error("CreateDBInstance", **{**PG_CREATE, field: value})
    assert e.status == 400 and e.code == code, e
    assert all(n in e.message for n in named), e.message


def test_bad_pay_type_is_invalid_parameter(client):
    e = client.error("CreateDBInstance", **{**PG_CREATE, "PayType": "Free"})
    assert (e.code, e.status) == ("InvalidParameter", 400), e
    assert "PayType" in e.message


# --- DescribeDBInstanceAttribute / DescribeDBInstances ----------------------------------


def test_describe_attribute_reports_the_instance(client, pg_instance):
    a = attribute(client, pg_instance["id"])
    assert a["DBInstanceId"] == pg_instance["id"]
    assert a["DBInstanceStatus"] == "Running"
    assert a["Engine"] == "PostgreSQL"
    assert a["EngineVersion"].startswith("15"), a["EngineVersion"]
    assert a["DBInstanceClass"] == "pg.x4.large.2c"
    assert a["DBInstanceClassType"] == "d", a["DBInstanceClassType"]
    assert int(a["DBInstanceStorage"]) == 20
    assert int(a["DBInstanceDiskUsed"]) > 0, f"DBInstanceDiskUsed {a['DBInstanceDiskUsed']!r} must be measured"
    assert a["RegionId"] == REGION and a["ZoneId"] == ZONE
    assert a["PayType"] == "Postpaid" and a["DBInstanceNetType"] == "Intranet"
    assert a["SecurityIPList"] == "127.0.0.1"
    assert a["ConnectionString"] == "127.0.0.1" and a["Port"] == pg_instance["create"]["Port"]
    assert int(a["DBInstanceMemory"]) == 16384 and str(a["DBInstanceCPU"]) == "4"
    assert int(a["MaxConnections"]) > 0
    assert a["DBInstanceType"] == "Primary"
    assert a["CreationTime"].endswith("Z")


def test_describe_instances_lists_it_with_its_fields(client, pg_instance):
    body = client.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=pg_instance["id"])
    items = body["Items"]["DBInstance"]
    assert [i["DBInstanceId"] for i in items] == [pg_instance["id"]], body
    item = items[0]
    assert item["Engine"] == "PostgreSQL" and item["DBInstanceStatus"] == "Running"
    assert item["DBInstanceClass"] == "pg.x4.large.2c" and item["RegionId"] == REGION
    assert item["Port"] == pg_instance["create"]["Port"]
    assert body["TotalRecordCount"] == 1 and body["PageRecordCount"] == 1 and body["PageNumber"] == 1


@pytest.mark.parametrize(
    "filters,listed",
    [
        ({"Engine": "PostgreSQL"}, True),
        ({"Engine": "MariaDB"}, False),
        ({"DBInstanceStatus": "Running"}, True),
        ({"DBInstanceStatus": "Deleting"}, False),
        ({"DBInstanceClass": "pg.x4.large.2c"}, True),
        ({"DBInstanceClass": "pg.x8.xlarge.4c"}, False),
        ({"DBInstanceId": "pgm-someoneelse000000000"}, False),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else str(v),
)
def test_describe_instances_filters(client, pg_instance, filters, listed):
    body = client.call("DescribeDBInstances", RegionId=REGION, PageSize=100, **filters)
    ids = [i["DBInstanceId"] for i in body["Items"]["DBInstance"]]
    assert (pg_instance["id"] in ids) == listed, f"{filters}: {ids}"
    for item in body["Items"]["DBInstance"]:
        for k, v in filters.items():
            if k != "DBInstanceId":
                assert item[k] == v, f"{filters} listed {item}"


def test_describe_instances_pages_with_page_size_and_number(client, pg_instance, lifecycle):
    both = {pg_instance["id"], lifecycle["id"]}
    selector = ",".join(sorted(both))
    seen = []
    for number in (1, 2):
        body = client.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=selector, PageSize=1, PageNumber=number)
        assert body["PageNumber"] == number and body["TotalRecordCount"] == 2 and body["PageRecordCount"] == 1, body
        seen += [i["DBInstanceId"] for i in body["Items"]["DBInstance"]]
    assert set(seen) == both and len(seen) == 2, seen
    past = client.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=selector, PageSize=1, PageNumber=3)
    assert past["Items"]["DBInstance"] == [] and past["TotalRecordCount"] == 2, past
    whole = client.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=selector, PageSize=30)
    assert {i["DBInstanceId"] for i in whole["Items"]["DBInstance"]} == both


def test_describe_instances_pages_with_max_results_and_next_token(client, pg_instance, lifecycle):
    selector = ",".join(sorted({pg_instance["id"], lifecycle["id"]}))
    first = client.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=selector, MaxResults=1)
    assert len(first["Items"]["DBInstance"]) == 1 and first["NextToken"], first
    second = client.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=selector, MaxResults=1,
                         NextToken=first["NextToken"])
    assert len(second["Items"]["DBInstance"]) == 1 and not second["NextToken"], second
    assert first["Items"]["DBInstance"][0]["DBInstanceId"] != second["Items"]["DBInstance"][0]["DBInstanceId"]


# --- DescribeDBInstanceNetInfo and a real connection ------------------------------------


def test_net_info_address_accepts_a_real_connection_as_a_created_account(client, pg_instance):
    instance_id = pg_instance["id"]
    host, port = net_address(client, instance_id)
    body = client.call("DescribeDBInstanceNetInfo", DBInstanceId=instance_id)
    info = body["DBInstanceNetInfos"]["DBInstanceNetInfo"][0]
    assert info["IPType"] in ("Private", "Inner", "Public"), info
    assert str(port) == pg_instance["create"]["Port"] and host == "127.0.0.1"

    account, db = unique(f"net_{client.name}_"), unique(f"netdb{client.name}")
    client.call("CreateAccount", DBInstanceId=instance_id, AccountName=account, AccountPassword=PASSWORD)
    client.call("CreateDatabase", DBInstanceId=instance_id, DBName=db, CharacterSetName="UTF8",
                AccountName=account, AccountPrivilege="DBOwner")
    with pg_connect(host, port, account, PASSWORD, db) as conn:
        user, version = conn.execute("SELECT current_user, current_setting('server_version_num')::int").fetchone()
    assert user == account
    assert 150000 <= version < 160000, f"server_version_num {version} is not PostgreSQL 15"


def test_wrong_password_is_refused_by_the_engine(v3, pg_instance):
    import psycopg

    host, port = net_address(v3, pg_instance["id"])
    account = unique("pw_")
    v3.call("CreateAccount", DBInstanceId=pg_instance["id"], AccountName=account, AccountPassword=PASSWORD)
    with pytest.raises(psycopg.OperationalError):
        pg_connect(host, port, account, "Wrong_Passw0rd", "postgres").close()


# --- tenancy ----------------------------------------------------------------------------


def test_another_accounts_instance_does_not_exist_for_the_caller(server, v3, pg_instance, other_account):
    for other in (
        V3Client(server.endpoint, other_account["AccessKeyId"], other_account["AccessKeySecret"], server.registry),
        V1Client(server.endpoint, other_account["AccessKeyId"], other_account["AccessKeySecret"], server.registry),
    ):
        for action in ("DescribeDBInstanceAttribute", "DescribeDBInstanceNetInfo", "DescribeDatabases",
                       "DescribeAccounts", "RestartDBInstance", "DeleteDBInstance"):
            e = other.error(action, DBInstanceId=pg_instance["id"])
            assert (e.code, e.status) == ("InvalidDBInstanceId.NotFound", 404), f"{other.name} {action}: {e}"
        listed = other.call("DescribeDBInstances", RegionId=REGION, PageSize=100)
        assert pg_instance["id"] not in [i["DBInstanceId"] for i in listed["Items"]["DBInstance"]]
    # Still there and untouched for its owner.
    assert attribute(v3, pg_instance["id"])["DBInstanceStatus"] == "Running"


# --- RestartDBInstance / DeleteDBInstance (last: they end the lifecycle instance) -------


def test_restart_goes_rebooting_then_running(v3, lifecycle):
    instance_id = lifecycle["id"]
    wait_status(v3, instance_id, "Running")
    body = v3.call("RestartDBInstance", DBInstanceId=instance_id)
    assert "Code" not in body and body["RequestId"]
    assert attribute(v3, instance_id)["DBInstanceStatus"] == "Rebooting"
    attr = wait_status(v3, instance_id, "Running", timeout=60)
    assert port_accepts("127.0.0.1", int(attr["Port"]))


def test_delete_goes_deleting_then_not_found_and_the_port_closes(v1, lifecycle):
    instance_id = lifecycle["id"]
    port = int(wait_status(v1, instance_id, "Running")["Port"])
    assert port_accepts("127.0.0.1", port)
    body = v1.call("DeleteDBInstance", DBInstanceId=instance_id)
    assert body.get("RegionId") == REGION, body
    assert attribute(v1, instance_id)["DBInstanceStatus"] == "Deleting"
    wait_gone(v1, instance_id)
    e = v1.error("DescribeDBInstanceAttribute", DBInstanceId=instance_id)
    assert (e.code, e.status) == ("InvalidDBInstanceId.NotFound", 404)
    e = v1.error("DeleteDBInstance", DBInstanceId=instance_id)
    assert (e.code, e.status) == ("InvalidDBInstanceId.NotFound", 404)
    listed = v1.call("DescribeDBInstances", RegionId=REGION, DBInstanceId=instance_id)
    assert listed["Items"]["DBInstance"] == [] and listed["TotalRecordCount"] == 0
    assert not port_accepts("127.0.0.1", port), f"engine port {port} still accepts connections after the delete"
