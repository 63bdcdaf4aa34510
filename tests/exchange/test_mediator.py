"""The information mediator: X-Road REST r1 through to a real backend on loopback, access
rights from governance, the metadata services, and every kind of bad input in X-Road's
error format."""

from __future__ import annotations

import aiohttp
from sqlalchemy import func, select, text

from dpistack.exchange import messagelog
from dpistack.exchange.models import LogBatch, LogRecord

from .conftest import CLIENT, INSTANCE, SERVICE, body_of, call, grant


def xroad_error(r, status, kind):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["x-road-error"] == kind, r.headers
    assert r.headers["content-type"].startswith("application/json")
    body = body_of(r)
    assert body["type"] == kind and body["message"] and body["detail"]
    return body


def test_nobody_calls_a_service_until_governance_grants_the_right(country, actors, backend, platform):
    registry, ministry = country
    xroad_error(call(ministry, SERVICE + "/births/1"), 403, "Server.ServerProxy.AccessDenied")
    assert backend.seen == []
    grant(actors, registry)
    r = call(ministry, SERVICE + "/births/7?full=1&x=%20y", headers={
        "X-Road-Id": "msg-42", "X-Road-UserId": "KE12345678", "X-Road-Issue": "case-9", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "/births/7" and r.json()["query"] == "full=1&x=%20y"
    assert r.headers["x-road-client"] == CLIENT and r.headers["x-road-service"] == SERVICE[4:]
    assert r.headers["x-road-id"] == "msg-42" and len(r.headers["x-road-request-id"]) == 36
    assert len(r.headers["x-road-request-hash"]) == 88  # base64 of SHA-512
    assert r.headers["x-provider-header"] == "kept" and "secret-origin" not in r.headers.get("server", "")
    seen = backend.last()["headers"]
    assert "authorization" not in seen  # the consumer's platform token never reaches the provider
    assert seen["x-road-client"] == CLIENT and seen["x-road-id"] == "msg-42"
    assert seen["x-road-userid"] == "KE12345678" and seen["x-road-issue"] == "case-9"
    with platform.db.uow() as s:
        row = s.scalar(select(LogRecord))
        assert (row.client, row.service, row.status, row.message_id, row.issue) == (
            CLIENT, SERVICE[4:], 200, "msg-42", "case-9")
        assert row.request_hash == r.headers["x-road-request-hash"]
        assert "KE12345678" not in (row.sealed_user or "")  # sealed at rest
    assert messagelog.check(platform) == []


def test_a_subsystem_may_be_the_client_and_a_post_body_is_carried(country, actors, backend):
    registry, ministry = country
    grant(actors, registry)
    r = call(ministry, SERVICE + "/births", "POST", client_id=CLIENT + "/clinics", content=b'{"child":"x"}',
             headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["echo"] == '{"child":"x"}'
    assert backend.last()["headers"]["content-type"] == "application/json"
    assert r.headers["x-road-client"] == CLIENT + "/clinics"


def test_large_request_bodies_are_streamed_to_the_backend(country, actors, backend):
    registry, ministry = country
    grant(actors, registry)

    def chunks():
        for _ in range(20):
            yield b"a" * 10_000
    r = call(ministry, SERVICE + "/births", "POST", content=chunks())
    assert r.status_code == 200 and r.json()["size"] == 200_000


def test_the_mediators_own_limit_applies_not_the_platforms(country, actors, backend, platform):
    registry, ministry = country
    grant(actors, registry)
    big = b"z" * (platform.settings.max_body_bytes + 500_000)  # over DPI_MAX_BODY_BYTES, under the mediator's
    r = call(ministry, SERVICE + "/births", "POST", content=big)
    assert r.status_code == 200 and r.json()["size"] == len(big)


def test_the_backends_answers_pass_as_they_are_redirects_unfollowed(country, actors, backend):
    registry, ministry = country
    grant(actors, registry)
    failed = call(ministry, SERVICE + "/fail")
    assert failed.status_code == 500 and "x-road-error" not in failed.headers  # category 1: the provider's own
    assert failed.json() == {"error": "backend broke"}
    moved = call(ministry, SERVICE + "/redirect", follow_redirects=False)
    assert moved.status_code == 302 and moved.headers["location"] == "http://127.0.0.1:9/elsewhere"
    streamed = call(ministry, SERVICE + "/stream")
    assert streamed.status_code == 200 and streamed.text == "chunk0;chunk1;chunk2;chunk3;chunk4;"


def test_bad_input_gets_xroad_errors_never_a_500(country, actors, backend, client):
    registry, ministry = country
    grant(actors, registry)
    no_client = call(ministry, SERVICE + "/births/1", client_id=None)
    xroad_error(no_client, 400, "Client.BadRequest")
    xroad_error(call(ministry, SERVICE + "/births/1", client_id="nonsense"), 400, "Client.InvalidClientIdentifier")
    xroad_error(call(ministry, SERVICE + "/births/1", client_id=f"{INSTANCE}/GOV/civil-registry"), 403,
                "Server.ClientProxy.IdentifierMismatch")  # spoofed: another member
    xroad_error(call(ministry, SERVICE + "/births/1", client_id=f"{INSTANCE}/COM/ministry-of-health"), 403,
                "Server.ClientProxy.IdentifierMismatch")  # wrong member class
    xroad_error(call(ministry, SERVICE + "/births/1", client_id=CLIENT + "/nope"), 403,
                "Server.ClientProxy.UnknownMember")
    xroad_error(client.get(SERVICE + "/births/1", headers={"X-Road-Client": CLIENT}), 401,
                "Server.ClientProxy.AuthenticationFailed")
    xroad_error(client.get(SERVICE + "/births/1", headers={"X-Road-Client": CLIENT, "Authorization": "Bearer x.y.z"}),
                401, "Server.ClientProxy.AuthenticationFailed")
    xroad_error(call(ministry, f"/r1/{INSTANCE}/GOV/civil-registry/registry/deaths/1"), 404,
                "Server.ServerProxy.UnknownService")
    xroad_error(call(ministry, f"/r1/{INSTANCE}/GOV/civil-registry"), 400, "Client.BadRequest")
    xroad_error(call(ministry, f"/r1/{INSTANCE}/GOV/civil%2Fregistry/registry/births"), 400, "Client.BadRequest")
    xroad_error(call(ministry, f"/r1/OTHER/GOV/civil-registry/registry/births"), 404,
                "Server.ClientProxy.UnknownService")
    xroad_error(call(ministry, SERVICE, headers={"X-Road-Id": "bad id with spaces"}), 400, "Client.BadRequest")
    assert backend.seen == []


def test_size_and_time_limits_and_failing_backends(country, actors, backend, client, platform):
    registry, ministry = country
    grant(actors, registry)
    mediator = client.app.state.mediator
    mediator.limit = 200_000
    xroad_error(call(ministry, SERVICE + "/births", "POST", content=b"x" * 200_001), 413, "Client.RequestTooLarge")
    xroad_error(call(ministry, SERVICE + "/births", "POST", content=iter([b"x" * 150_000, b"y" * 60_000])), 413,
                "Client.RequestTooLarge")
    xroad_error(call(ministry, SERVICE + "/big"), 502, "Server.ServerProxy.ResponseTooLarge")
    mediator.timeout = aiohttp.ClientTimeout(total=0.3)
    xroad_error(call(ministry, SERVICE + "/slow"), 504, "Server.ServerProxy.NetworkError")
    with platform.db.uow(write=True) as s:  # the provider's backend moves away
        s.execute(text("UPDATE exchange_services SET backend_url = 'http://127.0.0.1:9'"))
    from dpistack.exchange import catalogue
    catalogue.forget()
    xroad_error(call(ministry, SERVICE + "/births/1"), 502, "Server.ServerProxy.NetworkError")
    with platform.db.uow() as s:  # the failed attempts are in the message log too
        assert s.scalar(select(func.count()).select_from(LogRecord).where(LogRecord.status >= 502)) == 3


def test_a_backend_answering_garbage_is_a_service_failure(country, actors, platform):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def garbage():
        for _ in range(2):
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b"this is not HTTP at all\r\n\r\n")
            conn.close()
    threading.Thread(target=garbage, daemon=True).start()
    registry, ministry = country
    registry.put("/exchange/v1/services", json={"subsystem": "registry", "service_code": "junk",
                                                "backend_url": f"http://127.0.0.1:{port}", "category": "civil-records",
                                                "personal_data": False})
    grant(actors, registry)
    xroad_error(call(ministry, f"/r1/{INSTANCE}/GOV/civil-registry/registry/junk/x"), 502,
                "Server.ServerProxy.ServiceFailed")
    server.close()


def test_the_log_fails_closed(country, actors, backend, platform):
    registry, ministry = country
    grant(actors, registry)
    with platform.db.uow(write=True) as s:  # the log's storage refuses writes (a real database failure)
        s.execute(text("CREATE TRIGGER no_log BEFORE INSERT ON exchange_message_log "
                       "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    r = call(ministry, SERVICE + "/births/1")
    xroad_error(r, 503, "Server.ServerProxy.DatabaseError")
    assert b"/births/1" not in r.content  # the provider's answer is withheld
    assert len(backend.seen) == 1
    with platform.db.uow() as s:
        assert s.scalar(select(func.count()).select_from(LogBatch)) == 0


def test_metadata_services(country, actors, ministry_client=None):
    registry, ministry = country
    clients = ministry.get("/listClients").json()["member"]
    ids = [m["id"] for m in clients]
    assert {"xroad_instance": INSTANCE, "member_class": "GOV", "member_code": "civil-registry",
            "object_type": "SUBSYSTEM", "subsystem_code": "registry"} in ids
    base = f"/r1/{INSTANCE}/GOV/civil-registry/registry"
    listed = call(ministry, base + "/listMethods")
    assert listed.status_code == 200 and listed.headers["x-road-service"] == base[4:] + "/listMethods"
    services = {s["service_code"]: s for s in listed.json()["service"]}
    assert set(services) == {"births", "persons"}
    assert services["births"]["service_type"] == "OPENAPI"
    assert {"method": "GET", "path": "/births/*"} in services["births"]["endpoint_list"]
    assert call(ministry, base + "/allowedMethods").json() == {"service": []}
    grant(actors, registry)
    assert len(call(ministry, base + "/allowedMethods").json()["service"]) == 2
    description = call(ministry, base + "/getOpenAPI?serviceCode=births")
    assert description.status_code == 200 and description.json()["info"]["title"] == "Births"
    xroad_error(call(ministry, base + "/getOpenAPI?serviceCode=nope"), 404, "Server.ServerProxy.UnknownService")
    xroad_error(call(ministry, base + "/getOpenAPI"), 400, "Client.BadRequest")


def test_only_providers_publish_and_withdrawn_services_are_gone(country, actors, backend):
    registry, ministry = country
    r = ministry.put("/exchange/v1/services", json={"subsystem": "clinics", "service_code": "x",
                                                    "backend_url": backend.url, "category": "c1",
                                                    "personal_data": False})
    assert r.status_code == 403
    bad = registry.put("/exchange/v1/services", json={"subsystem": "registry", "service_code": "x",
                                                      "backend_url": "file:///etc/passwd", "category": "c1",
                                                      "personal_data": False})
    assert bad.status_code == 422
    grant(actors, registry)
    assert call(ministry, SERVICE + "/births/1").status_code == 200
    gone = registry.http.delete("/exchange/v1/services/registry/births", headers=registry.headers)
    assert gone.status_code == 204, gone.text
    xroad_error(call(ministry, SERVICE + "/births/1"), 404, "Server.ServerProxy.UnknownService")


def test_a_suspended_member_is_refused_at_once(country, actors):
    registry, ministry = country
    grant(actors, registry)
    assert call(ministry, SERVICE + "/births/1").status_code == 200
    proposal = actors("digital-agency").propose("participant.suspend", {
        "participant_id": "ministry-of-health", "reason": "audit"}).json()
    assert actors("digital-agency").decide(proposal).json()["status"] == "enacted"
    from dpistack.exchange import catalogue
    catalogue.forget()  # other processes: within a second
    xroad_error(call(ministry, SERVICE + "/births/1"), 403, "Server.ClientProxy.AccessDenied")
    xroad_error(call(ministry, f"/r1/{INSTANCE}/GOV/civil-registry/registry/listMethods"), 403,
                "Server.ClientProxy.AccessDenied")
