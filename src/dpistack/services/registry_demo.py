"""The demo's population register: a registry of its own (participant ``population-registry``)
that publishes its people's family and household records on the information mediator, so that
the portal's online forms can be prefilled from it (the once-only principle) — read through
``/r1/`` like any exchange, never from its tables.

``app(records)`` is the register's own information system (a small ASGI app on loopback: the
mediator calls it over HTTP); ``setup(...)`` makes it what it is to the platform, through the
public APIs with the authorities' keys under ``<data-dir>/credentials`` (development and demo
instances): onboarded, its subsystem and service published, the front office (the citizen
portal) granted ``data:read`` on its records by the register, and a legal basis in policy —
the once-only principle: a person applying for a service may have the records the state
already holds about them reused — approved by the platform operator and the data-protection
authority. Idempotent.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.oauth import token_endpoint

PARTICIPANT = "population-registry"
SUBSYSTEM = "records"
SERVICE = "people"
CATEGORY = "population-records"
LEGAL_BASIS_ID = "once-only-principle"


def app(records: dict[str, dict[str, Any]]) -> Starlette:
    """The register's information system: ``GET /v1/people/{uin}/children`` and
    ``/household``, answering from ``records`` (UIN -> {children: [...], household: {...}})."""

    async def part(request: Request) -> JSONResponse:
        uin, what = request.path_params["uin"], request.path_params["what"]
        record = records.get(uin)
        if record is None or what not in ("children", "household"):
            return JSONResponse({"error": "no such record"}, status_code=404)
        return JSONResponse({what: record.get(what, [] if what == "children" else {})})

    return Starlette(routes=[Route("/v1/people/{uin}/{what}", part)])


def demo_records(uin: str, address: str | None) -> dict[str, Any]:
    """What the register holds about a demo person (Amina): two children and her household."""
    household: dict[str, Any] = {"members": 3, "registered_since": "2015-03-01"}
    if address:
        household["address"] = address
    return {"children": [{"full_name": "Zawadi Hassan", "birth_date": "2019-06-02",
                          "birth_certificate": "BC-2019-004411"},
                         {"full_name": "Jabari Hassan", "birth_date": "2022-11-17",
                          "birth_certificate": "BC-2022-018230"}],
            "household": household}


class SetupFailed(Exception):
    pass


def setup(platform, http: httpx.Client, backend_url: str, consumer: str) -> None:
    """Onboard the register, publish its service on ``backend_url``, grant ``consumer`` (the
    portal's participant) access under the once-only legal basis."""
    data_dir, token_url = platform.settings.data_dir, token_endpoint(platform.settings)

    def actor(pid: str) -> ParticipantClient:
        key = credentials.load_private_jwk(data_dir, pid)
        if key is None:
            raise SetupFailed(f"no key for {pid} under {data_dir}/credentials")
        return ParticipantClient(http, pid, key, token_url)

    def enact(proposal: httpx.Response, *approvers: ParticipantClient) -> None:
        if proposal.status_code != 201:
            raise SetupFailed(f"proposal refused: {proposal.text}")
        decided = proposal
        for who in approvers:
            decided = who.decide(proposal.json())
        if decided.status_code != 200 or decided.json().get("status") != "enacted":
            raise SetupFailed(f"proposal not enacted: {decided.text}")

    agency, dpa = actor("digital-agency"), actor("data-protection-authority")
    if credentials.load_private_jwk(data_dir, PARTICIPANT) is None:
        key = credentials.new_key()
        enact(agency.propose("participant.onboard", onboarding_payload(
            PARTICIPANT, "Population Register", "registry", ["data-provider"], key)), agency)
        credentials.save_private_jwk(data_dir, PARTICIPANT, key)
    register, front = actor(PARTICIPANT), actor(consumer)
    r = register.post("/exchange/v1/subsystems", json={"code": SUBSYSTEM})
    if r.status_code not in (201, 409):
        raise SetupFailed(f"the register's subsystem: {r.text}")
    r = register.put("/exchange/v1/services", json={
        "subsystem": SUBSYSTEM, "service_code": SERVICE, "backend_url": backend_url, "category": CATEGORY,
        "personal_data": True, "openapi": {
            "openapi": "3.0.0", "info": {"title": "Population register: family and household", "version": "1"},
            "paths": {"/v1/people/{uin}/children": {"get": {"responses": {"200": {"description": "children"}}}},
                      "/v1/people/{uin}/household": {"get": {"responses": {"200": {"description": "household"}}}}}}})
    if r.status_code != 200:
        raise SetupFailed(f"publishing the register's service: {r.text}")
    held = {(g["category"], g["owner_id"]) for g in front.get("/governance/v1/grants",
                                                              params={"participant_id": consumer}).json()
            if g["status"] == "active"}
    if (CATEGORY, PARTICIPANT) not in held:
        enact(front.propose("access.grant", {
            "participant_id": consumer, "action": "data:read", "category": CATEGORY, "owner_id": PARTICIPANT,
            "purpose": "prefill people's applications with what the register holds (once-only)"}), register)
    policies = agency.get("/governance/v1/policies").json()["policies"]
    if f'@id("{LEGAL_BASIS_ID}")' not in policies:
        policies += f'''
// The once-only principle: a person applying for a public service through {consumer} may have
// the records the population register holds about them reused instead of typing them again.
@id("{LEGAL_BASIS_ID}")
permit (principal == Participant::"{consumer}", action == Action::"exchange:legal-basis",
        resource == DataCategory::"{CATEGORY}@{PARTICIPANT}");
'''
        enact(agency.propose("policy.change", {"policies": policies,
                                               "summary": "Once-only principle: forms prefilled from the population "
                                                          "register"}), agency, dpa)
