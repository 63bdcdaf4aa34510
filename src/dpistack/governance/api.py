"""Governance API (``/governance/v1``): the participant registry, proposals and approvals,
the rules and policies in force, and a policy decision point for blocks deployed elsewhere."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from dpistack.core.auth import Caller
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso
from dpistack.governance import service, trust
from dpistack.governance.models import Participant
from dpistack.governance.policy import authorize, require
from dpistack.governance.schemas import ApprovalIn, DecisionIn, ProposalIn

router = APIRouter(prefix="/governance/v1", tags=["governance"])

PROBLEM = {"model": dict, "content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}


class ParticipantOut(BaseModel):
    id: str
    name: str
    kind: str
    roles: list[str]
    status: str
    endpoints: dict[str, str]
    keys: list[dict[str, Any]]
    created_at: str


class ProposalOut(BaseModel):
    id: str
    kind: str
    payload: dict[str, Any]
    digest: str
    proposer: str
    status: Literal["open", "enacted", "rejected"]
    required: list[str]
    missing: list[str]
    approvals: list[dict[str, Any]]
    created_at: str
    decided_at: str | None


def _participant_out(session, p: Participant) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "kind": p.kind,
        "roles": list(p.roles),
        "status": p.status,
        "endpoints": dict(p.endpoints),
        "keys": [k.jwk | {"status": k.status} for k in service.participant_keys(session, p.id, status="active")],
        "created_at": iso(p.created_at),
    }


@router.get("/participants", response_model=list[ParticipantOut], responses=ERRORS, summary="The participant registry")
def list_participants(
    kind: str | None = Query(None, max_length=32),
    caller: Caller = Depends(require("governance:read")),
    platform: Platform = Depends(get_platform),
):
    with platform.db.uow() as session:
        return [_participant_out(session, p) for p in service.list_participants(session, kind)]


@router.get("/participants/{participant_id}", response_model=ParticipantOut, responses=ERRORS, summary="One participant")
def get_participant(
    participant_id: str, caller: Caller = Depends(require("governance:read")), platform: Platform = Depends(get_platform)
):
    with platform.db.uow() as session:
        return _participant_out(session, service.get_participant(session, participant_id))


@router.post(
    "/proposals", status_code=201, response_model=ProposalOut, responses=ERRORS,
    summary="Propose a change; it takes effect only when the required approvals are in",
)
def submit_proposal(
    body: ProposalIn, caller: Caller = Depends(require("governance:propose")), platform: Platform = Depends(get_platform)
):
    with platform.db.uow(write=True) as session:
        proposal = service.submit_proposal(session, caller.participant_id, body.kind, body.payload)
        return service.proposal_view(session, proposal)


@router.get("/proposals", response_model=list[ProposalOut], responses=ERRORS, summary="Recent proposals")
def list_proposals(
    status: Literal["open", "enacted", "rejected"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = Depends(require("governance:read")),
    platform: Platform = Depends(get_platform),
):
    with platform.db.uow() as session:
        return [service.proposal_view(session, p) for p in service.list_proposals(session, status, limit)]


@router.get("/proposals/{proposal_id}", response_model=ProposalOut, responses=ERRORS, summary="One proposal")
def get_proposal(
    proposal_id: str, caller: Caller = Depends(require("governance:read")), platform: Platform = Depends(get_platform)
):
    with platform.db.uow() as session:
        return service.proposal_view(session, service.get_proposal(session, proposal_id))


@router.post(
    "/proposals/{proposal_id}/approvals", response_model=ProposalOut, responses=ERRORS,
    summary="Send a signed approval or rejection (JWS by the caller's registered key)",
)
def approve(
    proposal_id: str,
    body: ApprovalIn,
    caller: Caller = Depends(require("governance:approve")),
    platform: Platform = Depends(get_platform),
):
    with platform.db.uow(write=True) as session:
        proposal = service.record_approval(session, proposal_id, caller.participant_id, body.jws)
        return service.proposal_view(session, proposal)


@router.get("/rules", responses=ERRORS, summary="The governance rules in force")
def get_rules(caller: Caller = Depends(require("governance:read")), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        version, rules = service.current_rules(session)
        return {"version": version, "rules": rules}


@router.get("/policies", responses=ERRORS, summary="The Cedar policy set in force")
def get_policies(caller: Caller = Depends(require("governance:read")), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        row = service.current_policy(session)
        return {"version": row.version, "policies": row.text, "proposal_id": row.proposal_id}


@router.get("/grants", responses=ERRORS, summary="Access rights granted by governance")
def list_grants(
    participant_id: str | None = Query(None, max_length=64),
    caller: Caller = Depends(require("governance:read")),
    platform: Platform = Depends(get_platform),
) -> list[dict]:
    with platform.db.uow() as session:
        return [
            {"id": g.id, "participant_id": g.participant_id, "action": g.action, "category": g.category,
             "owner_id": g.owner_id, "status": g.status, "proposal_id": g.proposal_id}
            for g in service.list_grants(session, participant_id)
        ]


@router.post("/decisions", responses=ERRORS, summary="Policy decision for the calling participant")
def decide(
    body: DecisionIn, caller: Caller = Depends(require("governance:decide")), platform: Platform = Depends(get_platform)
) -> JSONResponse:
    with platform.db.uow() as session:
        decision = authorize(session, caller.participant_id, body.action, (body.resource_type, body.resource_id))
    return JSONResponse(
        {"decision": "allow" if decision.allowed else "deny", "policy_version": decision.policy_version,
         "reasons": decision.reasons}
    )


@router.get("/trusted-issuers", summary="The signed trust list: the credential issuers this country trusts",
            response_class=Response,
            responses={200: {"content": {"application/trust-list+jwt": {"schema": {"type": "string"}}},
                             "description": "A JWT (typ trust-list+jwt) signed with the platform key"}})
def trusted_issuers(platform: Platform = Depends(get_platform)) -> Response:
    # Public: verifiers anywhere fetch it and check it with /.well-known/jwks.json.
    return Response(trust.signed_list(platform), media_type=trust.MEDIA_TYPE, headers={"Cache-Control": "max-age=60"})
