"""RAM (2015-05-01) on the same endpoint, through both official SDKs: a user, its key, a
custom policy allowing rds:Describe* and denying rds:DeleteDBInstance, and what the
user's key may then do. The tests run in file order; the last one takes it all down."""

from __future__ import annotations

import json

import pytest

from conftest import PG_CREATE, REGION, V1Client, V3Client, unique

POLICY = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"},
        {"Effect": "Deny", "Action": "rds:DeleteDBInstance", "Resource": "acs:rds:*:*:dbinstance/*"},
    ],
}


@pytest.fixture(scope="module")
def ram(server, v3, v1) -> dict:
    """User (V3), its access key (V3), the policy (V1) and the attachment (V3)."""
    user_name, policy_name = unique("sdk-user-"), unique("sdk-policy-")
    state: dict = {"user": user_name, "policy": policy_name}
    state["create_user"] = v3.ram("CreateUser", UserName=user_name, DisplayName="SDK user", Comments="made by tests")
    state["create_key"] = v3.ram("CreateAccessKey", UserName=user_name)
    state["create_policy"] = v1.ram("CreatePolicy", PolicyName=policy_name, PolicyDocument=json.dumps(POLICY),
                                    Description="describe only, never delete")
    state["attach"] = v3.ram("AttachPolicyToUser", PolicyType="Custom", PolicyName=policy_name, UserName=user_name)
    key = state["create_key"]["AccessKey"]
    state["key_id"], state["secret"] = key["AccessKeyId"], key["AccessKeySecret"]
    state["as_v3"] = V3Client(server.endpoint, key["AccessKeyId"], key["AccessKeySecret"], server.registry)
    state["as_v1"] = V1Client(server.endpoint, key["AccessKeyId"], key["AccessKeySecret"], server.registry)
    yield state
    # Whatever the last test did not get to (ignore what is already gone).
    for action, params in (
        ("DetachPolicyFromUser", {"PolicyType": "Custom", "PolicyName": policy_name, "UserName": user_name}),
        ("DeleteAccessKey", {"UserAccessKeyId": state["key_id"], "UserName": user_name}),
        ("DeleteUser", {"UserName": user_name}),
        ("DeletePolicy", {"PolicyName": policy_name}),
    ):
        try:
            v3.ram(action, **params)
        except Exception:
            pass


def as_user(ram: dict, client) -> object:
    return ram["as_v3"] if client.name == "v3" else ram["as_v1"]


def test_create_user_returns_the_user(ram):
    user = ram["create_user"]["User"]
    assert user["UserName"] == ram["user"] and user["DisplayName"] == "SDK user", user
    assert user["UserId"] and user["CreateDate"].endswith("Z")
    assert "Code" not in ram["create_user"]


def test_create_access_key_for_the_user_returns_its_secret(client, ram):
    key = ram["create_key"]["AccessKey"]
    assert key["Status"] == "Active" and key["AccessKeyId"] and key["AccessKeySecret"], key
    listed = client.ram("ListAccessKeys", UserName=ram["user"])["AccessKeys"]["AccessKey"]
    assert {k["AccessKeyId"]: k["Status"] for k in listed} == {key["AccessKeyId"]: "Active"}, listed
    assert all("AccessKeySecret" not in k for k in listed), "a listing must never show secrets"


def test_create_policy_returns_a_custom_policy(client, ram):
    policy = ram["create_policy"]["Policy"]
    assert policy["PolicyName"] == ram["policy"] and policy["PolicyType"] == "Custom", policy
    listed = client.ram("ListPolicies", PolicyType="Custom")["Policies"]["Policy"]
    assert ram["policy"] in [p["PolicyName"] for p in listed]


def test_list_policies_for_user_shows_the_attachment(client, ram):
    body = client.ram("ListPoliciesForUser", UserName=ram["user"])
    policies = body["Policies"]["Policy"]
    assert [(p["PolicyName"], p["PolicyType"]) for p in policies] == [(ram["policy"], "Custom")], body


def test_list_users_shows_the_user(client, ram):
    users = client.ram("ListUsers")["Users"]["User"]
    assert ram["user"] in [u["UserName"] for u in users]


def test_malformed_policy_is_refused(client):
    e = client.error("CreatePolicy", "2015-05-01", PolicyName=unique("bad-"),
                     PolicyDocument='{"Version":"1","Statement":[{"Effect":"Maybe","Action":"rds:*","Resource":"*"}]}')
    assert (e.code, e.status) == ("MalformedPolicyDocument", 400), e


def test_user_key_may_describe(client, ram, pg_instance):
    user = as_user(ram, client)
    listed = user.call("DescribeDBInstances", RegionId=REGION, PageSize=100)
    assert pg_instance["id"] in [i["DBInstanceId"] for i in listed["Items"]["DBInstance"]]
    attr = user.call("DescribeDBInstanceAttribute", DBInstanceId=pg_instance["id"])
    assert attr["Items"]["DBInstanceAttribute"][0]["DBInstanceId"] == pg_instance["id"]
    user.call("DescribeDatabases", DBInstanceId=pg_instance["id"])
    user.call("DescribeAvailableClasses", RegionId=REGION, Engine="PostgreSQL")


def test_user_key_may_not_create_an_instance(client, ram):
    e = as_user(ram, client).error("CreateDBInstance", **PG_CREATE)
    assert (e.code, e.status) == ("Forbidden.RAM", 403), e
    assert "rds:CreateDBInstance" in e.message, e.message


def test_user_key_may_not_delete_an_instance(client, ram, pg_instance, v3):
    e = as_user(ram, client).error("DeleteDBInstance", DBInstanceId=pg_instance["id"])
    assert (e.code, e.status) == ("Forbidden.RAM", 403), e
    assert "rds:DeleteDBInstance" in e.message and pg_instance["id"] in e.message, e.message
    status = v3.call("DescribeDBInstanceAttribute", DBInstanceId=pg_instance["id"])
    assert status["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"] == "Running"


def test_user_key_may_not_change_an_instance(client, ram, pg_instance):
    e = as_user(ram, client).error("CreateDatabase", DBInstanceId=pg_instance["id"], DBName=unique("ramdb"),
                                   CharacterSetName="UTF8")
    assert (e.code, e.status) == ("Forbidden.RAM", 403), e


def test_user_key_may_not_call_ram(client, ram):
    user = as_user(ram, client)
    for action, params in (("ListUsers", {}), ("CreateUser", {"UserName": unique("sneaky-")}),
                           ("CreateAccessKey", {"UserName": ram["user"]})):
        e = user.error(action, "2015-05-01", **params)
        assert (e.code, e.status) == ("Forbidden.RAM", 403), f"{action}: {e}"


def test_disabled_key_is_inactive(client, ram):
    client.ram("UpdateAccessKey", UserAccessKeyId=ram["key_id"], Status="Inactive", UserName=ram["user"])
    try:
        for user in (ram["as_v3"], ram["as_v1"]):
            e = user.error("DescribeRegions")
            assert (e.code, e.status) == ("InvalidAccessKeyId.Inactive", 400), f"{user.name}: {e}"
    finally:
        client.ram("UpdateAccessKey", UserAccessKeyId=ram["key_id"], Status="Active", UserName=ram["user"])
    ram["as_v3"].call("DescribeRegions")


def test_attached_policy_and_user_with_keys_cannot_be_deleted(client, ram):
    e = client.error("DeletePolicy", "2015-05-01", PolicyName=ram["policy"])
    assert (e.code, e.status) == ("DeleteConflict.Policy.User", 409), e
    e = client.error("DeleteUser", "2015-05-01", UserName=ram["user"])
    assert e.status == 409 and e.code.startswith("DeleteConflict.User"), e


def test_detach_delete_key_delete_user_delete_policy(v3, v1, ram):
    user, policy = ram["user"], ram["policy"]
    v1.ram("DetachPolicyFromUser", PolicyType="Custom", PolicyName=policy, UserName=user)
    assert v3.ram("ListPoliciesForUser", UserName=user)["Policies"]["Policy"] == []
    # No policy left: even Describe is implicitly denied now.
    e = ram["as_v3"].error("DescribeDBInstances", RegionId=REGION)
    assert (e.code, e.status) == ("Forbidden.RAM", 403), e

    v3.ram("DeleteAccessKey", UserAccessKeyId=ram["key_id"], UserName=user)
    assert v1.ram("ListAccessKeys", UserName=user)["AccessKeys"]["AccessKey"] == []
    e = ram["as_v1"].error("DescribeRegions")
    assert (e.code, e.status) == ("InvalidAccessKeyId.NotFound", 404), e

    v1.ram("DeleteUser", UserName=user)
    e = v3.error("GetUser", "2015-05-01", UserName=user)
    assert (e.code, e.status) == ("EntityNotExist.User", 404), e
    assert user not in [u["UserName"] for u in v3.ram("ListUsers")["Users"]["User"]]

    v3.ram("DeletePolicy", PolicyName=policy)
    assert policy not in [p["PolicyName"] for p in v1.ram("ListPolicies")["Policies"]["Policy"]]
    e = v1.error("DeletePolicy", "2015-05-01", PolicyName=policy)
    assert (e.code, e.status) == ("EntityNotExist.Policy", 404), e
