"""Through both official SDKs: the calls that need no instance, and the errors every
client meets first (unknown action, missing or invalid parameters, keys, signatures)."""

from __future__ import annotations

from conftest import REGION, ROOT_KEY_ID, ROOT_KEY_SECRET, ZONE, ApiError, V1Client, V3Client


def test_describe_regions_lists_the_default_region_and_zone(client):
    body = client.call("DescribeRegions")
    regions = body["Regions"]["RDSRegion"]
    assert {"RegionId": REGION, "ZoneId": ZONE}.items() <= next(
        r for r in regions if r["RegionId"] == REGION
    ).items(), regions
    for r in regions:
        for key in ("RegionId", "ZoneId", "ZoneName", "LocalName", "RegionEndpoint"):
            assert key in r, f"{key} missing in {r}"


def test_describe_available_classes_offers_the_postgresql_catalogue(client):
    body = client.call("DescribeAvailableClasses", RegionId=REGION, Engine="PostgreSQL")
    classes = body["DBInstanceClasses"]
    assert classes, body
    assert all(c["Engine"] == "PostgreSQL" for c in classes), classes
    by_code = {c["DBInstanceClass"]: c for c in classes}
    assert by_code["pg.x4.large.2c"]["DBInstanceClassType"] == "d", by_code["pg.x4.large.2c"]
    assert {c["DBInstanceClassType"] for c in classes} <= {"x", "d", "h"}
    assert all(not c["DBInstanceClass"].startswith("mariadb.") for c in classes)


def test_unknown_action_is_404_invalid_action(client):
    e = client.error("DescribeSomethingThatDoesNotExist")
    assert (e.code, e.status) == ("InvalidAction.NotFound", 404), e
    assert "DescribeSomethingThatDoesNotExist" in e.message


def test_missing_parameter_is_named_in_the_code(client):
    e = client.error("DescribeDBInstanceAttribute")
    assert (e.code, e.status) == ("MissingDBInstanceId", 400), e
    assert "DBInstanceId" in e.message


def test_missing_region_on_create_is_named_in_the_code(v3):
    # V3 sends only what is given (V1's SDK adds RegionId by itself).
    e = v3.error("CreateDBInstance", Engine="PostgreSQL", EngineVersion="15.0", DBInstanceClass="pg.x4.large.2c",
                 DBInstanceStorage=20)
    assert (e.code, e.status) == ("MissingRegionId", 400), e


def test_invalid_page_size_is_invalid_parameter(client):
    e = client.error("DescribeDBInstances", RegionId=REGION, PageSize=0)
    assert (e.code, e.status) == ("InvalidParameter", 400), e
    assert "PageSize" in e.message


def test_non_numeric_parameter_is_invalid_parameter(client):
    e = client.error("DescribeDBInstances", RegionId=REGION, PageNumber="first")
    assert (e.code, e.status) == ("InvalidParameter", 400), e
    assert "PageNumber" in e.message


def test_unknown_region_is_404(client):
    e = client.error("DescribeDBInstances", RegionId="mars-north-1")
    assert (e.code, e.status) == ("InvalidRegionId.NotFound", 404), e
    assert REGION in e.message, "the message should name the regions served"


def test_unknown_instance_is_404_not_found(client):
    e = client.error("DescribeDBInstanceAttribute", DBInstanceId="pgm-doesnotexist00000000")
    assert (e.code, e.status) == ("InvalidDBInstanceId.NotFound", 404), e


def test_wrong_secret_v3_signature_does_not_match(v3: V3Client):
    e = v3.with_key(v3.key_id, "definitely-not-the-secret").error("DescribeRegions")
    assert (e.code, e.status) == ("SignatureDoesNotMatch", 400), e
    assert v3.secret not in e.message


def test_wrong_secret_v1_signature_does_not_match(v1: V1Client):
    # aliyun-python-sdk-core renames the error InvalidAccessKeySecret when the server's
    # "string to sign" equals the one it kept; with CommonRequest it keeps that string on
    # the inner request, so either code can arrive. Both mean a 400 signature mismatch,
    # and the server's string to sign must be the V1 canonical form of this very call.
    e = v1.with_key(v1.key_id, "definitely-not-the-secret").error("DescribeRegions")
    assert e.status == 400, e
    assert e.code in ("SignatureDoesNotMatch", "InvalidAccessKeySecret"), e
    if e.code == "SignatureDoesNotMatch":
        sts = e.message.split("server string to sign is:")[1]
        assert sts.startswith(("GET&%2F&", "POST&%2F&")), sts
        assert f"AccessKeyId%3D{v1.key_id}" in sts and "Action%3DDescribeRegions" in sts, sts
    assert "definitely-not-the-secret" not in e.message


def test_unknown_access_key_is_404(client):
    e = client.with_key("LTAInosuchkey000000000000", "whatever-secret").error("DescribeRegions")
    assert (e.code, e.status) == ("InvalidAccessKeyId.NotFound", 404), e


def test_v1_post_with_query_parameters_works(server):
    # CommonRequest with POST keeps the parameters in the query string (as the tea SDK's
    # `signature_algorithm='v2'` mode does).
    post = V1Client(server.endpoint, ROOT_KEY_ID, ROOT_KEY_SECRET, server.registry, method="POST")
    body = post.call("DescribeDBInstances", RegionId=REGION, PageSize=10)
    assert "Items" in body and body["PageNumber"] == 1


def test_ram_errors_use_the_same_envelope(client):
    e = client.error("GetUser", "2015-05-01", UserName="nobody-by-that-name")
    assert (e.code, e.status) == ("EntityNotExist.User", 404), e
    assert isinstance(e, ApiError) and "nobody-by-that-name" in e.message
