"""Platform endpoints and the HTTP rules every block shares."""

from __future__ import annotations


def test_healthz_reports_the_database(client, platform):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == platform.db.engine.dialect.name


def test_metrics_are_prometheus_text_counting_requests(client):
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'dpi_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text


def test_openapi_describes_the_blocks(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/healthz", "/oauth/token", "/governance/v1/proposals", "/transparency/v1/checkpoint",
                 "/transparency/v1/proof/inclusion"):
        assert path in paths


def test_jwks_publishes_public_keys_only(client):
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "EdDSA", "RS256"}
    assert all("d" not in k for k in keys)


def test_errors_are_problem_json(client):
    r = client.get("/no/such/path")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404 and r.json()["title"] == "Not found"
    r = client.post("/governance/v1/proposals", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code in (401, 422) and r.headers["content-type"] == "application/problem+json"


def test_oversized_bodies_are_refused_before_reading(client, platform):
    big = b"x" * (platform.settings.max_body_bytes + 1)
    r = client.post("/oauth/token", content=big, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
