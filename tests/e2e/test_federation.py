"""Federation: two countries' instances as separate `dpi serve` processes on loopback. Each
country's governance registers the other's mediator as a foreign member (its key, its URL);
a ministry of KE reads a registry of UG through both mediators, the request between them
signed with RFC 9421 HTTP message signatures and verified against the registered key."""

from __future__ import annotations

import datetime

import httpx
import pytest

from dpistack.core.keys import KeyStore
from dpistack.core.server import serve_in_thread
from dpistack.exchange.federation import COVERED, TAG, _Message, _PlatformKeys
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from tests.e2e.test_serve import dpi_serve
from tests.exchange.conftest import Backend

pytestmark = pytest.mark.e2e


def actor(http: httpx.Client, data_dir, pid: str, base: str) -> ParticipantClient:
    return ParticipantClient(http, pid, credentials.load_private_jwk(data_dir, pid), base + "/oauth/token")


def onboard(http, data_dir, base, pid, kind, roles, approvers, jwks=None, endpoints=None):
    key = None
    if jwks is None:
        key = credentials.new_key()
        credentials.save_private_jwk(data_dir, pid, key)
    payload = onboarding_payload(pid, pid, kind, roles, key, endpoints) if key else {
        "id": pid, "name": pid, "kind": kind, "roles": roles, "jwks": jwks, "endpoints": endpoints or {}}
    proposal = actor(http, data_dir, "digital-agency", base).propose("participant.onboard", payload).json()
    assert "id" in proposal, proposal
    for approver in approvers:
        decided = actor(http, data_dir, approver, base).decide(proposal).json()
    assert decided["status"] == "enacted", decided


def mediator_key(base: str) -> dict:
    keys = httpx.get(base + "/.well-known/jwks.json", timeout=10).json()["keys"]
    [key] = [k for k in keys if k.get("alg") == "EdDSA"]
    return {"keys": [{k: key[k] for k in ("kty", "crv", "x", "kid")}]}


def test_two_countries_exchange_through_their_mediators(tmp_path, monkeypatch):
    ke_dir, ug_dir = tmp_path / "ke", tmp_path / "ug"
    backend = Backend()
    monkeypatch.setenv("DPI_XROAD_INSTANCE", "KE")
    with dpi_serve(ke_dir) as (ke, _):
        monkeypatch.setenv("DPI_XROAD_INSTANCE", "UG")
        with dpi_serve(ug_dir) as (ug, _), serve_in_thread(backend.app) as backend_url, \
                httpx.Client(base_url=ke, timeout=30) as ke_http, httpx.Client(base_url=ug, timeout=30) as ug_http:
            # UG: a registry publishes a service; KE's mediator becomes a foreign member
            onboard(ug_http, ug_dir, ug, "ug-registry", "registry", ["data-provider"], ["digital-agency"])
            registry = actor(ug_http, ug_dir, "ug-registry", ug)
            assert registry.post("/exchange/v1/subsystems", json={"code": "registry"}).status_code == 201
            assert registry.put("/exchange/v1/services", json={
                "subsystem": "registry", "service_code": "persons", "backend_url": backend_url,
                "category": "civil-records", "personal_data": False}).status_code == 200
            onboard(ug_http, ug_dir, ug, "xroad-ke", "foreign-hub", ["hub"],
                    ["digital-agency", "data-protection-authority"], jwks=mediator_key(ke),
                    endpoints={"xroad-mediator": ke})
            # KE: a ministry; UG's mediator becomes a foreign member
            onboard(ke_http, ke_dir, ke, "ke-ministry", "ministry", ["data-consumer"], ["digital-agency"])
            onboard(ke_http, ke_dir, ke, "xroad-ug", "foreign-hub", ["hub"],
                    ["digital-agency", "data-protection-authority"], jwks=mediator_key(ug),
                    endpoints={"xroad-mediator": ug})
            ministry = actor(ke_http, ke_dir, "ke-ministry", ke)
            path = "/r1/UG/GOV/ug-registry/registry/persons/v1/persons/77?full=1"
            headers = {**ministry.headers, "X-Road-Client": "KE/GOV/ke-ministry", "X-Road-Id": "fed-1"}

            refused = ke_http.get(path, headers=headers)  # UG's governance has granted nothing yet
            assert refused.status_code == 403 and refused.headers["x-road-error"] == "Server.ServerProxy.AccessDenied"
            proposal = actor(ug_http, ug_dir, "digital-agency", ug).propose("access.grant", {
                "participant_id": "xroad-ke", "action": "data:read", "category": "civil-records",
                "owner_id": "ug-registry", "purpose": "cross-border verification"}).json()
            assert registry.decide(proposal).json()["status"] == "enacted"

            r = ke_http.get(path, headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["path"] == "/v1/persons/77" and r.json()["query"] == "full=1"
            assert r.headers["x-road-client"] == "KE/GOV/ke-ministry" and r.headers["x-road-id"] == "fed-1"
            assert r.headers["x-road-service"] == "UG/GOV/ug-registry/registry/persons"
            seen = backend.last()["headers"]
            assert seen["x-road-client"] == "KE/GOV/ke-ministry" and "authorization" not in seen
            assert "signature" not in seen  # the mediators' signature stays between them

            # UG refuses a request KE did not sign, one signed with another key, and a replay
            forged = ug_http.get(path, headers={"X-Road-Client": "KE/GOV/ke-ministry", "Signature": "x=:AAAA:",
                                                "Signature-Input": 'x=("@method");tag="dpi-xroad"'})
            assert forged.status_code == 401
            assert forged.headers["x-road-error"] == "Server.ClientProxy.SignatureVerificationFailed"
            wrong_key = KeyStore(tmp_path / "other-keys")
            wrong_key.ensure()
            for keystore, expected in ((wrong_key, 401), (KeyStore(ke_dir / "keys"), 200)):
                from http_message_signatures import HTTPMessageSigner, algorithms

                class Keys(_PlatformKeys):
                    def __init__(self, store):
                        self.platform = type("P", (), {"keys": store})()

                message = _Message("GET", ug + path, {"x-road-client": "KE/GOV/ke-ministry", "x-road-id": "fed-2"})
                kid = keystore.active("EdDSA")[0].kid
                HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=Keys(keystore)).sign(
                    message, key_id=kid, covered_component_ids=COVERED, label="xroad", tag=TAG,
                    created=datetime.datetime.now(datetime.UTC), body=b"")
                direct = ug_http.get(path, headers=message.headers)
                assert direct.status_code == expected, direct.text
            replay = ug_http.get(path, headers=message.headers)
            assert replay.status_code == 401 and "replay" in replay.json()["message"]

            # both countries' message logs hold the exchange
            ke_log = ministry.get("/exchange/v1/message-log").json()
            assert any(rec["message_id"] == "fed-1" and rec["status"] == 200 for rec in ke_log)
            ug_log = registry.get("/exchange/v1/message-log").json()
            assert any(rec["message_id"] == "fed-1" and rec["client"] == "KE/GOV/ke-ministry" for rec in ug_log)
