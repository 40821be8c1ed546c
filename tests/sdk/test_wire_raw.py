"""Raw HTTP with `requests`, signed by hand exactly as pop-core does (signature V1): the
transports the SDKs do not cover, replay and clock checks, and the envelopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests

from conftest import RAM_VERSION, RDS_VERSION, REGION, ROOT_KEY_ID, ROOT_KEY_SECRET

UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def pct(s: str) -> str:
    """RFC 3986 percent-encoding as §2.1 wants it: unreserved kept, space %20, `*` %2A."""
    return quote(s, safe="~")


def timestamp(shift: timedelta = timedelta(0)) -> str:
    return (datetime.now(timezone.utc) + shift).strftime("%Y-%m-%dT%H:%M:%SZ")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    pairs = sorted((pct(k), pct(v)) for k, v in params.items())
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method}&{pct('/')}&{pct(canonical)}"


def sign(method: str, params: dict[str, str], secret: str) -> str:
    digest = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def v1_params(action: str, version: str = RDS_VERSION, *, key_id: str = ROOT_KEY_ID, ts: str | None = None,
              nonce: str | None = None, **business: str) -> dict[str, str]:
    params = {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": ts or timestamp(),
    }
    params.update(business)
    return params


def signed(method: str, params: dict[str, str], secret: str = ROOT_KEY_SECRET) -> dict[str, str]:
    out = dict(params)
    out["Signature"] = sign(method, params, secret)
    return out


def get(server, params: dict[str, str]) -> requests.Response:
    """pop-core's default: GET with everything in the query string."""
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in params.items())
    return requests.get(f"{server.url}?{query}", timeout=60)


def post_form(server, params: dict[str, str]) -> requests.Response:
    """pop-core with {method:'POST'}: everything in a form body, no query string.
    `requests` form-encodes spaces as `+`, which the server must read as spaces."""
    return requests.post(server.url, data=params, timeout=60)


def envelope_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text}"
    body = response.json()
    assert body.get("Code") == code, f"expected {code}: {body}"
    return body


# --- transports -------------------------------------------------------------------------


def test_v1_get_with_everything_in_the_query(server):
    response = get(server, signed("GET", v1_params("DescribeRegions")))
    assert response.status_code == 200, response.text
    body = response.json()
    regions = body["Regions"]["RDSRegion"]
    assert any(r["RegionId"] == REGION for r in regions), body


def test_v1_post_with_a_form_body(server):
    # A value with spaces: sent as `+` in the body, signed as %20.
    params = signed("POST", v1_params("DescribeDBInstances", RegionId=REGION, SearchKey="no such instance here"))
    response = post_form(server, params)
    assert response.request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert "?" not in response.request.url
    sent = response.request.body
    sent = sent.decode() if isinstance(sent, bytes) else sent
    assert "SearchKey=no+such+instance+here" in sent, sent
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Items"]["DBInstance"] == [], body
    assert body["TotalRecordCount"] == 0


def test_v1_post_merges_query_and_form_body(server):
    params = signed("POST", v1_params("DescribeDBInstances", RegionId=REGION, PageSize="5"))
    business = {k: params.pop(k) for k in ("RegionId", "PageSize")}
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in params.items())
    response = requests.post(f"{server.url}?{query}", data=business, timeout=60)
    assert response.status_code == 200, response.text
    assert "Items" in response.json()


def test_v1_ram_action_on_the_same_endpoint(server):
    response = get(server, signed("GET", v1_params("ListUsers", RAM_VERSION)))
    assert response.status_code == 200, response.text
    assert "Users" in response.json()


# --- replay, clock, signature -----------------------------------------------------------


def test_replayed_nonce_is_refused(server):
    params = signed("GET", v1_params("DescribeRegions"))
    first = get(server, params)
    assert first.status_code == 200, first.text
    second = get(server, params)
    envelope_error(second, 400, "SignatureNonceUsed")


def test_old_timestamp_is_expired(server):
    params = signed("GET", v1_params("DescribeRegions", ts=timestamp(-timedelta(hours=1))))
    body = envelope_error(get(server, params), 400, "InvalidTimeStamp.Expired")
    assert "expire" in body["Message"].lower()


def test_future_timestamp_is_expired(server):
    params = signed("GET", v1_params("DescribeRegions", ts=timestamp(timedelta(minutes=20))))
    envelope_error(get(server, params), 400, "InvalidTimeStamp.Expired")


def test_timestamp_within_the_window_is_accepted(server):
    params = signed("GET", v1_params("DescribeRegions", ts=timestamp(-timedelta(minutes=10))))
    assert get(server, params).status_code == 200


def test_no_signature_is_incomplete(server):
    envelope_error(get(server, v1_params("DescribeRegions")), 400, "IncompleteSignature")


def test_empty_request_is_incomplete(server):
    envelope_error(requests.post(server.url, timeout=60), 400, "IncompleteSignature")


def test_wrong_secret_names_the_string_to_sign_never_the_secret(server):
    params = v1_params("DescribeRegions")
    response = get(server, signed("GET", params, secret="not-the-secret"))
    body = envelope_error(response, 400, "SignatureDoesNotMatch")
    assert string_to_sign("GET", params) in body["Message"], body["Message"]
    assert ROOT_KEY_SECRET not in response.text


def test_unknown_key_raw_is_404(server):
    params = signed("GET", v1_params("DescribeRegions", key_id="LTAIdoesnotexist00000000"), secret="whatever")
    envelope_error(get(server, params), 404, "InvalidAccessKeyId.NotFound")


# --- envelopes --------------------------------------------------------------------------


ERROR_CASES = {
    "unknown action": (lambda: v1_params("DescribeNothingAtAll"), "InvalidAction.NotFound", 404),
    "missing parameter": (lambda: v1_params("DescribeDBInstanceAttribute"), "MissingDBInstanceId", 400),
    "unknown instance": (
        lambda: v1_params("DescribeDBInstanceAttribute", DBInstanceId="pgm-doesnotexist0000000"),
        "InvalidDBInstanceId.NotFound",
        404,
    ),
    "invalid parameter": (lambda: v1_params("DescribeDBInstances", RegionId=REGION, PageSize="0"), "InvalidParameter", 400),
    "unknown key": (lambda: v1_params("DescribeRegions", key_id="LTAIdoesnotexist00000001"), "InvalidAccessKeyId.NotFound", 404),
    "unknown version": (lambda: v1_params("DescribeRegions", "2099-01-01"), "InvalidVersion", 400),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_body_has_the_alibaba_envelope(server, case):
    make, code, status = ERROR_CASES[case]
    response = get(server, signed("GET", make()))
    body = envelope_error(response, status, code)
    for key in ("RequestId", "HostId", "Code", "Message", "Recommend"):
        assert isinstance(body.get(key), str) and body[key], f"{case}: {key} missing or empty in {body}"
    assert UUID_UPPER.match(body["RequestId"]), body["RequestId"]
    assert code in body["Recommend"], body["Recommend"]
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "action,version,business",
    [
        ("DescribeRegions", RDS_VERSION, {}),
        ("DescribeDBInstances", RDS_VERSION, {"RegionId": REGION}),
        ("DescribeAvailableClasses", RDS_VERSION, {"RegionId": REGION, "Engine": "PostgreSQL"}),
        ("ListUsers", RAM_VERSION, {}),
    ],
)
def test_success_body_has_a_request_id_and_no_code(server, action, version, business):
    response = get(server, signed("GET", v1_params(action, version, **business)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert UUID_UPPER.match(body.get("RequestId", "")), body
    assert "Code" not in body, body
