"""Discovery and tags through the official SDKs: DescribeAvailableZones,
CheckDBNameAvailable / CheckAccountNameAvailable, and TagResources, UntagResources,
ListTagResources, DescribeTags, with the tags then steering a RAM policy's
`rds:ResourceTag` condition."""

from __future__ import annotations

import json

import pytest

from conftest import V3Client, unique

PASSWORD = "Sdk_Passw0rd!"


def test_zones_list_the_engines_installed_versions(client):
    body = client.call("DescribeAvailableZones", RegionId="cn-hangzhou", Engine="PostgreSQL")
    zone = body["AvailableZones"][0]
    assert zone["RegionId"] == "cn-hangzhou" and zone["ZoneId"] == "cn-hangzhou-h", body
    engine = zone["SupportedEngines"][0]
    assert engine["Engine"] == "PostgreSQL" and any(v["Version"].startswith("15") for v in engine["SupportedEngineVersions"]), body
    category = engine["SupportedEngineVersions"][0]["SupportedCategorys"][0]
    assert category["Category"] == "Basic" and category["SupportedStorageTypes"][0]["StorageType"] == "local_ssd", body
    assert client.error("DescribeAvailableZones", RegionId="cn-hangzhou", Engine="Oracle").code == "InvalidEngine.NotSupported"
    assert client.error("DescribeAvailableZones", RegionId="mars-1", Engine="PostgreSQL").code == "InvalidRegionId.NotFound"


def test_names_are_checked_as_create_would(client, pg_instance):
    instance = pg_instance["id"]
    db, account = unique("chk_db_").replace("-", "_"), unique("chk").replace("-", "_")[:16]
    client.call("CheckDBNameAvailable", DBInstanceId=instance, DBName=db)
    client.call("CreateDatabase", DBInstanceId=instance, DBName=db, CharacterSetName="UTF8")
    assert client.error("CheckDBNameAvailable", DBInstanceId=instance, DBName=db).code == "InvalidDBName.Duplicate"
    assert client.error("CheckDBNameAvailable", DBInstanceId=instance, DBName="Bad Name").code == "InvalidDBName.Format"
    client.call("CheckAccountNameAvailable", DBInstanceId=instance, AccountName=account)
    client.call("CreateAccount", DBInstanceId=instance, AccountName=account, AccountPassword=PASSWORD)
    assert client.error("CheckAccountNameAvailable", DBInstanceId=instance, AccountName=account).code == "InvalidAccountName.Duplicate"
    assert client.error("CheckAccountNameAvailable", DBInstanceId="pgm-doesnotexist000000", AccountName="x1").code == "InvalidDBInstanceId.NotFound"


def tags_of(client, instance: str) -> dict[str, str]:
    body = client.call("ListTagResources", RegionId="cn-hangzhou", ResourceType="INSTANCE", **{"ResourceId.1": instance})
    rows = body["TagResources"]["TagResource"]
    assert all(r["ResourceId"] == instance for r in rows), body
    return {r["TagKey"]: r["TagValue"] for r in rows}


def test_tags_are_added_listed_removed_and_steer_ram(server, v3, pg_instance):
    instance = pg_instance["id"]
    key = unique("team-")
    v3.call("TagResources", RegionId="cn-hangzhou", ResourceType="INSTANCE", **{"ResourceId.1": instance, "Tag.1.Key": key, "Tag.1.Value": "data", "Tag.2.Key": "env", "Tag.2.Value": "test"})
    assert tags_of(v3, instance)[key] == "data"
    v3.call("TagResources", RegionId="cn-hangzhou", ResourceType="INSTANCE", **{"ResourceId.1": instance, "Tag.1.Key": key, "Tag.1.Value": "platform"})
    assert tags_of(v3, instance)[key] == "platform", "a key it has gets the new value"
    described = v3.call("DescribeTags", RegionId="cn-hangzhou", Tags=json.dumps({key: "platform"}))["Items"]["TagInfos"]
    assert described == [{"TagKey": key, "TagValue": "platform", "DBInstanceIds": {"DBInstanceIds": [instance]}}], described
    by_filter = v3.call("ListTagResources", RegionId="cn-hangzhou", ResourceType="INSTANCE", **{"Tag.1.Key": key})["TagResources"]["TagResource"]
    assert {r["ResourceId"] for r in by_filter} == {instance}, by_filter

    # A RAM user allowed only on instances tagged key=platform.
    user = unique("tagged-")
    policy = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "rds:DescribeDBInstanceAttribute", "Resource": "*",
                                             "Condition": {"StringEquals": {f"rds:ResourceTag/{key}": "platform"}}}]}
    v3.ram("CreateUser", UserName=user)
    secret = v3.ram("CreateAccessKey", UserName=user)["AccessKey"]
    v3.ram("CreatePolicy", PolicyName=user, PolicyDocument=json.dumps(policy))
    v3.ram("AttachPolicyToUser", PolicyType="Custom", PolicyName=user, UserName=user)
    as_user = V3Client(server.endpoint, secret["AccessKeyId"], secret["AccessKeySecret"], server.registry)
    try:
        as_user.call("DescribeDBInstanceAttribute", DBInstanceId=instance)
        v3.call("UntagResources", RegionId="cn-hangzhou", ResourceType="INSTANCE", **{"ResourceId.1": instance, "TagKey.1": key})
        assert as_user.error("DescribeDBInstanceAttribute", DBInstanceId=instance).code == "Forbidden.RAM"
    finally:
        v3.ram("DetachPolicyFromUser", PolicyType="Custom", PolicyName=user, UserName=user)
        v3.ram("DeletePolicy", PolicyName=user)
        v3.ram("DeleteAccessKey", UserAccessKeyId=secret["AccessKeyId"], UserName=user)
        v3.ram("DeleteUser", UserName=user)
    assert key not in tags_of(v3, instance)
    v3.call("UntagResources", RegionId="cn-hangzhou", ResourceType="INSTANCE", All=True, **{"ResourceId.1": instance})
    assert tags_of(v3, instance) == {}


@pytest.mark.parametrize("params, code", [
    ({"Tag.1.Key": "aliyun-owned", "Tag.1.Value": "x"}, "InvalidTagKey.Malformed"),
    ({"Tag.1.Key": "k", "Tag.1.Value": "v" * 129}, "InvalidTagValue.Malformed"),
    ({f"Tag.{i}.Key": f"k{i}" for i in range(1, 22)}, "NumberExceed.Tags"),
    ({"Tag.1.Key": "k", "ResourceType": "DISK"}, "InvalidResourceType.NotSupported"),
])
def test_tag_refusals(v1, pg_instance, params, code):
    call = {"RegionId": "cn-hangzhou", "ResourceType": "INSTANCE", "ResourceId.1": pg_instance["id"], **params}
    assert v1.error("TagResources", **call).code == code
