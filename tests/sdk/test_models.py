"""openrds's answers read by the official typed SDK's own models (alibabacloud_rds20140815
16.0.2): DescribeDBInstanceAttribute carries every field of the model but those of
features openrds does not have, and the model reads our values back as the API gave them."""

from __future__ import annotations

from alibabacloud_rds20140815 import models

# Fields of features a single host does not have (read-only and disaster-recovery
# instances, serverless, Babelfish, blue/green, storage compression, proxies, analytic
# nodes, temporary upgrades, zone-redundant standbys): the model leaves them empty.
NOT_OFFERED = {
    "AdvancedFeatures", "BabelfishConfig", "BlueGreenDeploymentName", "BlueInstanceName", "BpeEnabled", "Collation",
    "CompressionMode", "CompressionRatio", "ComputeBurstEnabled", "DisasterRecoveryInfo", "DisasterRecoveryInstances",
    "DrReplicaInfo", "GeneralGroupName", "GreenInstanceName", "InstructionSetArch", "IoAccelerationEnabled", "IsAnalyticIns",
    "IsAnalyticReadOnlyIns", "MultipleTempUpgrade", "NodePerformance", "OptimizedWritesInfo", "PGBouncerEnabled", "ProxyType",
    "ReadonlyInstanceSQLDelayedTime", "ServerlessConfig", "SuperPermissionMode", "SupportCompression", "TempUpgradeTimeEnd",
    "TempUpgradeTimeStart", "TimeZone", "VectorSupportStatus", "VpcCloudInstanceId", "WarmStandbyInfo", "kindCode",
}


def test_the_attribute_carries_the_model_s_fields(client, pg_instance):
    body = client.call("DescribeDBInstanceAttribute", DBInstanceId=pg_instance["id"])
    parsed = models.DescribeDBInstanceAttributeResponseBody().from_map(body)
    item = parsed.items.dbinstance_attribute[0]
    assert (item.dbinstance_id, item.engine, item.dbinstance_status) == (pg_instance["id"], "PostgreSQL", "Running")
    assert item.maintain_time == "02:00Z-06:00Z" and item.deletion_protection is False and item.port == body["Items"]["DBInstanceAttribute"][0]["Port"]
    sent = set(body["Items"]["DBInstanceAttribute"][0].keys())
    # What the model reads back is what was sent (openrds's extension fields aside).
    assert sent - {"CreateTime", "DestroyTime", "MutriORsignle"} <= set(item.to_map().keys()), sent - set(item.to_map().keys())
    # Every field the model knows is sent, except those of features openrds lacks.
    known = _model_keys()
    assert known - sent <= NOT_OFFERED, sorted(known - sent - NOT_OFFERED)

def _model_keys() -> set[str]:
    """The wire names the model reads (its from_map keys)."""
    import inspect
    import re

    source = inspect.getsource(models.DescribeDBInstanceAttributeResponseBodyItemsDBInstanceAttribute.from_map)
    return set(re.findall(r"m\.get\('([A-Za-z0-9]+)'\)", source))


def test_postgresql_accounts_carry_their_role_attributes(v3, pg_instance):
    instance = pg_instance["id"]
    names = [a["AccountName"] for a in v3.call("DescribeAccounts", DBInstanceId=instance)["Accounts"]["DBInstanceAccount"]]
    for name, kind in (("model_super", "Super"), ("model_normal", "Normal")):
        if name not in names:
            v3.call("CreateAccount", DBInstanceId=instance, AccountName=name, AccountPassword="Sdk_Passw0rd!", AccountType=kind)
    body = v3.call("DescribeAccounts", DBInstanceId=instance)
    parsed = models.DescribeAccountsResponseBody().from_map(body)
    by_name = {a.account_name: a for a in parsed.accounts.dbinstance_account}
    boss, plain = by_name["model_super"], by_name["model_normal"]
    assert (boss.create_db, boss.create_role, boss.replication, boss.bypass_rls) == ("t", "t", "f", "f"), boss.to_map()
    assert (plain.create_db, plain.create_role, plain.valid_until) == ("f", "f", "infinity"), plain.to_map()


def _reads(model) -> set[str]:
    """The wire names a model class's from_map reads."""
    import inspect
    import re

    return set(re.findall(r"m\.get\('([A-Za-z0-9]+)'\)", inspect.getsource(model.from_map)))


def test_performance_and_character_set_answers_carry_every_field_of_their_models(client, pg_instance):
    import time

    start = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() - 600))
    end = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + 60))
    deadline = time.monotonic() + 30
    while True:
        body = client.call("DescribeDBInstancePerformance", DBInstanceId=pg_instance["id"], Key="CpuUsage", StartTime=start, EndTime=end)
        key = body["PerformanceKeys"]["PerformanceKey"][0]
        if key["Values"]["PerformanceValue"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    perf = "DescribeDBInstancePerformanceResponseBody"
    assert _reads(getattr(models, perf)) - {"RequestId"} <= set(body), body
    assert _reads(getattr(models, perf + "PerformanceKeysPerformanceKey")) <= set(key), key
    assert _reads(getattr(models, perf + "PerformanceKeysPerformanceKeyValuesPerformanceValue")) <= set(key["Values"]["PerformanceValue"][0]), key
    charsets = client.call("DescribeCharacterSetName", RegionId="cn-hangzhou", Engine="PostgreSQL")
    assert _reads(models.DescribeCharacterSetNameResponseBody) <= set(charsets), charsets
