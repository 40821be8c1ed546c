"""Monitoring endpoints of `openrds serve`, unsigned and read-only: `/metrics` parsed with
the Prometheus project's own OpenMetrics parser (counts of SDK calls by action and code,
latency histograms, tasks, and per-instance up, storage used and capacity), `/health`
and `/ready`."""

from __future__ import annotations

import time

import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families


def scrape(server) -> dict:
    response = requests.get(server.url + "metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/openmetrics-text"), response.headers
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict, family: str, sample: str, **labels) -> float | None:
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_metrics_count_calls_and_show_each_instance(server, client, pg_instance):
    instance = pg_instance["id"]
    before = scrape(server)
    calls_before = value(before, "openrds_api_requests", "openrds_api_requests_total", action="DescribeRegions", code="OK") or 0
    client.call("DescribeRegions")
    client.call("DescribeRegions")
    assert client.error("DescribeDBInstanceAttribute", DBInstanceId="pgm-doesnotexist000000").code == "InvalidDBInstanceId.NotFound"

    deadline = time.monotonic() + 30
    while True:
        families = scrape(server)
        used = value(families, "openrds_instance_storage_used_bytes", "openrds_instance_storage_used_bytes", instance=instance)
        if used is not None or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert used and used > 1_000_000, "the instance's storage is sampled within 15 s"
    assert families["openrds_api_requests"].type == "counter"
    assert value(families, "openrds_api_requests", "openrds_api_requests_total", action="DescribeRegions", code="OK") == calls_before + 2
    assert value(families, "openrds_api_requests", "openrds_api_requests_total", action="DescribeDBInstanceAttribute", code="InvalidDBInstanceId.NotFound") >= 1
    assert families["openrds_api_request_duration_seconds"].type == "histogram"
    assert value(families, "openrds_api_request_duration_seconds", "openrds_api_request_duration_seconds_count", action="DescribeRegions") >= 2
    assert value(families, "openrds_instance_up", "openrds_instance_up", instance=instance, engine="PostgreSQL") == 1
    capacity = value(families, "openrds_instance_storage_capacity_bytes", "openrds_instance_storage_capacity_bytes", instance=instance)
    assert capacity == pg_instance["attr"]["DBInstanceStorage"] * 1024**3
    assert value(families, "openrds_instances", "openrds_instances", status="Running") >= 1
    assert "openrds_tasks" in families and "openrds_import_bytes" in families and "openrds_import_rows" in families


def test_health_and_readiness_need_no_signature_and_change_nothing(server):
    assert requests.get(server.url + "health", timeout=10).status_code == 200
    assert requests.get(server.url + "ready", timeout=10).status_code == 200
    assert requests.post(server.url + "metrics", timeout=10).status_code == 405
