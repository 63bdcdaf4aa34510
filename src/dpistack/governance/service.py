"""Governance rules in action: proposals take effect only when their approvals are in.

Every function here runs inside the caller's unit of work (one transaction per command) and
writes the matching transparency-log entries in that same transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import rfc8785
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.timeutil import iso, utcnow
from dpistack.governance import rules as rules_mod
from dpistack.governance import schemas
from dpistack.governance.credentials import APPROVAL_TYPE
from dpistack.governance.errors import (
    AlreadyDecided,
    InvalidApproval,
    InvalidProposal,
    NotAnApprover,
    ParticipantExists,
    ProposalClosed,
    UnknownParticipant,
    UnknownProposal,
)
from dpistack.governance.models import (
    AccessGrant,
    Approval,
    Participant,
    ParticipantKey,
    PolicyVersion,
    Proposal,
    RulesVersion,
    TrustedIssuer,
)
from dpistack.governance.policy import check_policies, forget_decisions
from dpistack.transparency import service as tlog

APPROVAL_ALGS = ["ES256", "EdDSA"]


# -- reading ------------------------------------------------------------------------------------
def list_participants(session: Session, kind: str | None = None) -> list[Participant]:
    query = select(Participant).order_by(Participant.id)
    if kind:
        query = query.where(Participant.kind == kind)
    return list(session.scalars(query))


def get_participant(session: Session, participant_id: str) -> Participant:
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise UnknownParticipant(participant_id)
    return participant


def participant_keys(session: Session, participant_id: str, status: str = "active") -> list[ParticipantKey]:
    return list(
        session.scalars(
            select(ParticipantKey).where(ParticipantKey.participant_id == participant_id, ParticipantKey.status == status)
        )
    )


def current_rules(session: Session) -> tuple[int, dict]:
    row = session.scalars(select(RulesVersion).order_by(RulesVersion.version.desc()).limit(1)).first()
    if row is None:
        raise RuntimeError("no governance rules in force; run `dpi init`")
    return row.version, row.rules


def current_policy(session: Session) -> PolicyVersion:
    row = session.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)).first()
    if row is None:
        raise RuntimeError("no policies in force; run `dpi init`")
    return row


def get_proposal(session: Session, proposal_id: str, *, for_update: bool = False) -> Proposal:
    query = select(Proposal).where(Proposal.id == proposal_id)
    if for_update:
        query = query.with_for_update()  # two last approvals at once must not both miss quorum
    proposal = session.scalars(query).first()
    if proposal is None:
        raise UnknownProposal(proposal_id)
    return proposal


def list_proposals(session: Session, status: str | None = None, limit: int = 100) -> list[Proposal]:
    query = select(Proposal).order_by(Proposal.created_at.desc()).limit(limit)
    if status:
        query = query.where(Proposal.status == status)
    return list(session.scalars(query))


def approvals_of(session: Session, proposal_id: str) -> list[Approval]:
    return list(session.scalars(select(Approval).where(Approval.proposal_id == proposal_id).order_by(Approval.id)))


def proposal_view(session: Session, proposal: Proposal) -> dict[str, Any]:
    approvals = approvals_of(session, proposal.id)
    met = {req for a in approvals if a.decision == "approve" for req in a.satisfies}
    return {
        "id": proposal.id,
        "kind": proposal.kind,
        "payload": proposal.payload,
        "digest": proposal.digest,
        "proposer": proposal.proposer_id,
        "status": proposal.status,
        "required": proposal.required,
        "missing": [r for r in proposal.required if r not in met],
        "approvals": [
            {"approver": a.approver_id, "decision": a.decision, "satisfies": a.satisfies, "at": iso(a.created_at)}
            for a in approvals
        ],
        "created_at": iso(proposal.created_at),
        "decided_at": iso(proposal.decided_at) if proposal.decided_at else None,
    }


def proposal_digest(proposal_id: str, kind: str, payload: dict) -> str:
    """What approvers sign: SHA-256 of the RFC 8785 form of the proposal's content."""
    return hashlib.sha256(rfc8785.dumps({"id": proposal_id, "kind": kind, "payload": payload})).hexdigest()


# -- proposing ----------------------------------------------------------------------------------
def submit_proposal(session: Session, proposer_id: str, kind: str, payload: dict[str, Any]) -> Proposal:
    """Validate and record a proposal; nothing it proposes takes effect yet."""
    model = schemas.PAYLOADS.get(kind)
    if model is None:
        raise InvalidProposal(f"unknown proposal kind {kind!r}; known: {', '.join(schemas.PAYLOADS)}")
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidProposal(
            f"the payload of a {kind} proposal is invalid",
            errors=[{"loc": list(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()],
        ) from exc
    clean = parsed.model_dump(mode="json")
    _, rules = current_rules(session)
    required = _requirements_for(session, rules, kind, parsed)
    proposal_id = str(uuid.uuid4())
    proposal = Proposal(
        id=proposal_id,
        kind=kind,
        payload=clean,
        digest=proposal_digest(proposal_id, kind, clean),
        proposer_id=proposer_id,
        required=required,
        status="open",
        created_at=utcnow(),
    )
    session.add(proposal)
    if kind == "participant.onboard":
        _add_pending_participant(session, parsed)
    session.flush()
    tlog.append(
        session,
        tlog.governance_entry(
            "proposal.submitted",
            proposal_id=proposal_id,
            kind=kind,
            digest=proposal.digest,
            proposer=proposer_id,
            required=required,
        ),
    )
    return proposal


def _requirements_for(session: Session, rules: dict, kind: str, parsed: Any) -> list[str]:
    if kind == "participant.onboard":
        return rules_mod.requirements(rules, kind, roles=parsed.roles)
    if kind in ("participant.suspend", "participant.reactivate"):
        target = get_participant(session, parsed.participant_id)
        if kind == "participant.suspend" and target.status != "active":
            raise InvalidProposal(f"{target.id} is {target.status}, not active")
        if kind == "participant.reactivate" and target.status != "suspended":
            raise InvalidProposal(f"{target.id} is {target.status}, not suspended")
        if target.kind == "authority":
            raise InvalidProposal("authorities are changed by the governance rules, not suspended")
        return rules_mod.requirements(rules, kind, roles=target.roles)
    if kind == "participant.key.register":
        get_participant(session, parsed.participant_id)
        if session.get(ParticipantKey, parsed.jwk["kid"]) is not None:
            raise InvalidProposal(f"key id {parsed.jwk['kid']!r} is already registered")
        return rules_mod.requirements(rules, kind)
    if kind == "participant.key.revoke":
        key = session.get(ParticipantKey, parsed.kid)
        if key is None or key.participant_id != parsed.participant_id or key.status != "active":
            raise InvalidProposal(f"{parsed.participant_id} has no active key {parsed.kid!r}")
        return rules_mod.requirements(rules, kind)
    if kind == "access.grant":
        grantee = get_participant(session, parsed.participant_id)
        owner = get_participant(session, parsed.owner_id)
        if grantee.id == owner.id:
            raise InvalidProposal("a participant needs no grant to its own data")
        return rules_mod.requirements(rules, kind, category=parsed.category, owner=owner.id)
    if kind == "access.revoke":
        grant = session.get(AccessGrant, parsed.grant_id)
        if grant is None or grant.status != "active":
            raise InvalidProposal(f"no active grant {parsed.grant_id!r}")
        return rules_mod.requirements(rules, kind)
    if kind == "policy.change":
        check_policies(parsed.policies)
        return rules_mod.requirements(rules, kind)
    if kind == "rules.change":
        problems = rules_mod.validate_rules(parsed.rules)
        if problems:
            raise InvalidProposal("the rules are invalid: " + "; ".join(problems))
        return rules_mod.requirements(rules, kind)
    if kind == "issuer.trust":
        if parsed.valid_until is not None and parsed.valid_until <= utcnow():
            raise InvalidProposal("valid_until is in the past")
        return rules_mod.requirements(rules, kind)
    if kind == "issuer.distrust":
        row = session.get(TrustedIssuer, parsed.iss)
        if row is None or row.status != "trusted":
            raise InvalidProposal(f"{parsed.iss} is not a trusted issuer")
        return rules_mod.requirements(rules, kind)
    raise InvalidProposal(f"unknown proposal kind {kind!r}")  # pragma: no cover - PAYLOADS guards this


def _add_pending_participant(session: Session, onboard: schemas.Onboard) -> None:
    if session.get(Participant, onboard.id) is not None:
        raise ParticipantExists(onboard.id)
    for jwk in onboard.jwks.keys:
        if session.get(ParticipantKey, jwk["kid"]) is not None:
            raise InvalidProposal(f"key id {jwk['kid']!r} is already registered")
    session.add(
        Participant(
            id=onboard.id,
            name=onboard.name,
            kind=onboard.kind,
            roles=list(onboard.roles),
            status="pending",
            endpoints={k: str(v) for k, v in onboard.endpoints.items()},
        )
    )
    session.flush()
    for jwk in onboard.jwks.keys:
        session.add(ParticipantKey(kid=jwk["kid"], participant_id=onboard.id, jwk=jwk, status="pending"))


# -- approving ----------------------------------------------------------------------------------
def record_approval(session: Session, proposal_id: str, caller_id: str, token: str) -> Proposal:
    """Verify a signed approval and record it; enact or reject the proposal when decided.

    ``caller_id`` is the authenticated participant: it must be the approval's signer.
    """
    proposal = get_proposal(session, proposal_id, for_update=True)
    header, claims = _verify_approval_jws(session, token, caller_id)
    if claims.get("proposal") != proposal.id:
        raise InvalidApproval("the approval is for another proposal")
    if claims.get("digest") != proposal.digest:
        raise InvalidApproval("the approval's digest does not match the proposal's content")
    decision = claims.get("decision")
    if decision not in ("approve", "reject"):
        raise InvalidApproval("decision must be 'approve' or 'reject'")

    existing = session.scalars(
        select(Approval).where(Approval.proposal_id == proposal.id, Approval.approver_id == caller_id)
    ).first()
    if existing is not None:
        if existing.jws == token:
            return proposal  # the same approval sent again: already recorded
        raise AlreadyDecided(proposal.id, caller_id)
    if proposal.status != "open":
        raise ProposalClosed(proposal.id, proposal.status)

    approver = get_participant(session, caller_id)
    satisfies = [r for r in proposal.required if _meets(approver, r)]
    if not satisfies:
        raise NotAnApprover(caller_id, proposal.required)
    session.add(
        Approval(proposal_id=proposal.id, approver_id=caller_id, decision=decision, satisfies=satisfies, jws=token)
    )
    session.flush()
    tlog.append(
        session,
        tlog.governance_entry(
            "approval.recorded",
            proposal_id=proposal.id,
            approver=caller_id,
            decision=decision,
            satisfies=satisfies,
            jws_sha256=hashlib.sha256(token.encode()).hexdigest(),
        ),
    )
    _decide(session, proposal)
    return proposal


def _meets(approver: Participant, requirement: str) -> bool:
    if approver.status != "active":
        return False
    kind, _, value = requirement.partition(":")
    if kind == "role":
        return approver.kind == "authority" and value in approver.roles
    if kind == "participant":
        return approver.id == value
    return False


def _verify_approval_jws(session: Session, token: str, signer_id: str, *, key_must_be_active: bool = True
                         ) -> tuple[dict, dict]:
    """Header and claims of an approval signed by one of ``signer_id``'s keys.

    New approvals need an active key; the invariant check re-verifies old ones with keys that
    may have been revoked since (a later revocation does not undo what the key signed).
    """
    try:
        unverified = jws.extract_compact(token.encode())
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidApproval("the approval is not a compact JWS") from exc
    header = unverified.protected
    if header.get("alg") not in APPROVAL_ALGS:
        raise InvalidApproval(f"approval signatures must use {' or '.join(APPROVAL_ALGS)}")
    if header.get("typ") != APPROVAL_TYPE:
        raise InvalidApproval(f"the approval's typ must be {APPROVAL_TYPE}")
    kid = header.get("kid")
    key_row = session.get(ParticipantKey, kid) if isinstance(kid, str) else None
    usable = key_row is not None and (key_row.status == "active" or not key_must_be_active)
    if not usable or key_row.participant_id != signer_id:
        raise InvalidApproval(f"the approval is not signed with an active key of {signer_id}")
    key = ECKey.import_key(key_row.jwk) if key_row.jwk["kty"] == "EC" else OKPKey.import_key(key_row.jwk)
    try:
        verified = jws.deserialize_compact(token, key, algorithms=APPROVAL_ALGS)
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidApproval("the approval's signature does not verify") from exc
    if not isinstance(claims, dict) or claims.get("iss") != signer_id:
        raise InvalidApproval("the approval's iss must be the authenticated participant")
    return header, claims


def _decide(session: Session, proposal: Proposal) -> None:
    approvals = approvals_of(session, proposal.id)
    if any(a.decision == "reject" for a in approvals):
        _close(session, proposal, "rejected")
        return
    met = {req for a in approvals for req in a.satisfies}
    if set(proposal.required) <= met:
        _enact(session, proposal)
        _close(session, proposal, "enacted")


def _close(session: Session, proposal: Proposal, status: str) -> None:
    proposal.status = status
    proposal.decided_at = utcnow()
    if status == "rejected" and proposal.kind == "participant.onboard":
        session.get(Participant, proposal.payload["id"]).status = "rejected"
    session.flush()
    tlog.append(
        session,
        tlog.governance_entry(f"proposal.{status}", proposal_id=proposal.id, kind=proposal.kind, digest=proposal.digest),
    )


def _enact(session: Session, proposal: Proposal) -> None:
    """Apply an approved proposal. Runs in the transaction of the approval that completed it."""
    forget_decisions()
    p = proposal.payload
    kind = proposal.kind
    if kind == "participant.onboard":
        session.get(Participant, p["id"]).status = "active"
        for key in participant_keys(session, p["id"], status="pending"):
            key.status = "active"
    elif kind == "participant.suspend":
        session.get(Participant, p["participant_id"]).status = "suspended"
    elif kind == "participant.reactivate":
        session.get(Participant, p["participant_id"]).status = "active"
    elif kind == "participant.key.register":
        session.add(ParticipantKey(kid=p["jwk"]["kid"], participant_id=p["participant_id"], jwk=p["jwk"], status="active"))
    elif kind == "participant.key.revoke":
        session.get(ParticipantKey, p["kid"]).status = "revoked"
    elif kind == "access.grant":
        session.add(
            AccessGrant(
                id=str(uuid.uuid4()),
                participant_id=p["participant_id"],
                action=p["action"],
                category=p["category"],
                owner_id=p["owner_id"],
                status="active",
                proposal_id=proposal.id,
            )
        )
    elif kind == "access.revoke":
        session.get(AccessGrant, p["grant_id"]).status = "revoked"
    elif kind == "policy.change":
        version = (session.scalar(select(func.max(PolicyVersion.version))) or 0) + 1
        session.add(PolicyVersion(version=version, text=p["policies"], proposal_id=proposal.id))
    elif kind == "rules.change":
        version = (session.scalar(select(func.max(RulesVersion.version))) or 0) + 1
        session.add(RulesVersion(version=version, rules=p["rules"], proposal_id=proposal.id))
    elif kind in ("issuer.trust", "issuer.distrust"):
        _enact_trust(session, proposal)
    session.flush()


def _enact_trust(session: Session, proposal: Proposal) -> None:
    """Write the trust registry's row for an issuer; each decision takes the next sequence number."""
    from datetime import datetime

    p = proposal.payload
    sequence = (session.scalar(select(func.max(TrustedIssuer.sequence))) or 0) + 1
    row = session.get(TrustedIssuer, p["iss"])
    if proposal.kind == "issuer.distrust":
        row.status, row.sequence, row.proposal_id, row.updated_at = "distrusted", sequence, proposal.id, utcnow()
        return
    values = dict(name=p["name"], country=p["country"], vcts=p["vcts"], jwks=p["jwks"],
                  valid_until=datetime.fromisoformat(p["valid_until"]) if p.get("valid_until") else None,
                  status="trusted", sequence=sequence, proposal_id=proposal.id, updated_at=utcnow())
    if row is None:
        session.add(TrustedIssuer(iss=p["iss"], **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)


def list_grants(session: Session, participant_id: str | None = None) -> list[AccessGrant]:
    query = select(AccessGrant).order_by(AccessGrant.created_at)
    if participant_id:
        query = query.where(AccessGrant.participant_id == participant_id)
    return list(session.scalars(query))


# -- invariants ---------------------------------------------------------------------------------
def check(session: Session) -> list[str]:
    """Governance invariants; an empty list means all hold.

    * every enacted proposal has valid, signed approvals meeting all its requirements;
    * no open proposal already had what it needed, and no rejected one lacks a rejection;
    * every active non-authority participant was onboarded by an enacted proposal;
    * every policy and rules version after the first came from an enacted proposal.
    """
    problems: list[str] = []
    for proposal in session.scalars(select(Proposal)):
        approvals = approvals_of(session, proposal.id)
        met = set()
        for a in approvals:
            try:
                _, claims = _verify_approval_jws(session, a.jws, a.approver_id, key_must_be_active=False)
            except InvalidApproval:
                problems.append(f"proposal {proposal.id}: approval by {a.approver_id} does not verify")
                continue
            if claims.get("digest") != proposal.digest or claims.get("decision") != a.decision:
                problems.append(f"proposal {proposal.id}: approval by {a.approver_id} signs something else")
            if a.decision == "approve":
                met.update(a.satisfies)
        rejected = any(a.decision == "reject" for a in approvals)
        if proposal.status == "enacted" and not set(proposal.required) <= met:
            problems.append(f"proposal {proposal.id} was enacted without quorum")
        if proposal.status == "rejected" and not rejected:
            problems.append(f"proposal {proposal.id} was rejected without a rejection")
        if proposal.digest != proposal_digest(proposal.id, proposal.kind, proposal.payload):
            problems.append(f"proposal {proposal.id}: content does not match its digest")
    onboarded = {
        p.payload["id"]
        for p in session.scalars(select(Proposal).where(Proposal.kind == "participant.onboard", Proposal.status == "enacted"))
    }
    for participant in session.scalars(select(Participant).where(Participant.status == "active")):
        if participant.kind != "authority" and participant.id not in onboarded:
            problems.append(f"participant {participant.id} is active without an enacted onboarding")
    for row in session.scalars(select(TrustedIssuer)):
        source = session.get(Proposal, row.proposal_id)
        expected = "issuer.trust" if row.status == "trusted" else "issuer.distrust"
        if source is None or source.status != "enacted" or source.kind != expected or source.payload["iss"] != row.iss:
            problems.append(f"trusted issuer {row.iss} is {row.status} without an enacted {expected}")
    for model in (PolicyVersion, RulesVersion):
        for row in session.scalars(select(model).where(model.version > 1)):
            source = session.get(Proposal, row.proposal_id) if row.proposal_id else None
            if source is None or source.status != "enacted":
                problems.append(f"{model.__tablename__} version {row.version} was not enacted by a proposal")
    return problems
