"""A small country for exchange tests: a civil registry publishing services on a real HTTP
backend (loopback), a ministry consuming them, a person who logs in with the national ID."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from dpistack.core.server import serve_in_thread
from dpistack.identity.service import IdentityContext

from ..conftest import open_platform
from ..identity.test_enrolment import AMINA

INSTANCE = "DPI"
SERVICE = f"/r1/{INSTANCE}/GOV/civil-registry/registry/births"
PERSONAL = f"/r1/{INSTANCE}/GOV/civil-registry/registry/persons"
CLIENT = f"{INSTANCE}/GOV/ministry-of-health"
OPENAPI = {"openapi": "3.0.0", "info": {"title": "Births", "version": "1"},
           "paths": {"/births/{id}": {"get": {"responses": {"200": {"description": "a birth"}}}},
                     "/births": {"post": {"responses": {"201": {"description": "registered"}}}}}}


@pytest.fixture(params=["sqlite"])
def platform(request, tmp_path):
    p = open_platform(tmp_path, request.param, request)
    yield p
    p.close()


class Backend:
    """The registry's own information system: records what it is sent."""

    def __init__(self):
        self.seen: list[dict] = []
        self.lock = threading.Lock()

        async def echo(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.seen.append({"method": request.method, "path": request.url.path, "query": request.url.query,
                                  "headers": dict(request.headers), "body": body})
            path = request.url.path
            if path.startswith("/slow"):
                await asyncio.sleep(5)
            if path.startswith("/redirect"):
                return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=302)
            if path.startswith("/big"):
                return Response(b"x" * 300_000, media_type="application/octet-stream")
            if path.startswith("/fail"):
                return JSONResponse({"error": "backend broke"}, status_code=500)
            if path.startswith("/stream"):
                async def chunks():
                    for n in range(5):
                        yield f"chunk{n};".encode()
                return StreamingResponse(chunks(), media_type="text/plain")
            return JSONResponse({"path": path, "query": request.url.query, "size": len(body),
                                 "echo": body.decode(errors="replace")[:100]},
                                headers={"X-Provider-Header": "kept", "Server": "secret-origin/1.0",
                                         "Connection": "keep-alive"})

        self.app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])

    def last(self) -> dict:
        with self.lock:
            return self.seen[-1]


@pytest.fixture
def backend():
    b = Backend()
    with serve_in_thread(b.app) as url:
        b.url = url
        yield b


@pytest.fixture
def country(actors, client, backend, platform):
    """The registry publishes `births` (not personal) and `persons` (personal data); the ministry
    has a subsystem; governance has granted nothing yet."""
    registry = actors.onboard("civil-registry", "registry", ["data-provider", "registration"],
                              ["identity-authority"])
    ministry = actors.onboard("ministry-of-health", "ministry", ["data-consumer"], ["digital-agency"])
    assert registry.post("/exchange/v1/subsystems", json={"code": "registry"}).status_code == 201
    assert ministry.post("/exchange/v1/subsystems", json={"code": "clinics"}).status_code == 201
    for code, personal in (("births", False), ("persons", True)):
        r = registry.put("/exchange/v1/services", json={
            "subsystem": "registry", "service_code": code, "backend_url": backend.url, "openapi": OPENAPI,
            "category": "civil-records", "personal_data": personal})
        assert r.status_code == 200, r.text
    return registry, ministry


def grant(actors, registry, consumer="ministry-of-health", category="civil-records"):
    proposal = actors(consumer).propose("access.grant", {
        "participant_id": consumer, "action": "data:read", "category": category,
        "owner_id": "civil-registry", "purpose": "care of patients"}).json()
    r = registry.decide(proposal)
    assert r.json()["status"] == "enacted", r.text


def call(participant, path, method="GET", client_id=CLIENT, **kw):
    headers = {**participant.headers, **({"X-Road-Client": client_id} if client_id else {}), **kw.pop("headers", {})}
    return participant.http.request(method, path, headers=headers, **kw)


@pytest.fixture
def person(country, client, platform):
    """Amina, enrolled by the registry, logged in to the residents' portal."""
    registry, _ = country
    uin = registry.post("/identity/v1/enrolments", json=AMINA).json()["uin"]
    sms = IdentityContext.of(platform).channels["sms"]
    assert client.post("/resident/v1/login/otp", json={"individual_id": uin, "transaction_id": "p1"}).status_code == 200
    code = re.search(r"\b(\d{6})\b", sms.messages(AMINA["phone"])[-1]["message"]).group(1)
    r = client.post("/resident/v1/login", json={"individual_id": uin, "transaction_id": "p1", "otp": code})
    assert r.status_code == 200, r.text
    session = {"Authorization": f"Bearer {r.json()['access_token']}"}
    token = client.post("/resident/v1/consent-token", headers=session)
    assert token.status_code == 200, token.text
    return {"uin": uin, "session": session, "consent": {"Authorization": f"Bearer {token.json()['access_token']}"}}


def ask_consent(ministry, **over):
    body = {"provider": "civil-registry", "services": [PERSONAL[4:]],
            "purpose": {"code": "care", "text": "treating the patient"}, "data_types": ["birth-record"],
            "valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z", **over}
    r = ministry.post("/consent/v1/consents", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def body_of(r) -> dict:
    return json.loads(r.content)
