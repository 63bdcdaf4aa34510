"""Consent artefacts: requested by a data consumer, approved, rejected or revoked by the person
(the data principal, known here only by their transparency-log pseudonym), and checked by the
information mediator before each exchange of personal data.

Every change is a new revision: the artefact as RFC 8785 canonical JSON, naming the hash of
the previous revision (``previousHash``), signed by the platform with a detached JWS (RFC 7515
appendix F: header..signature, the payload being the artefact bytes). The current state is a
row of its own, updated in the same transaction, so a check is one primary-key read and a
revocation is in force for the next request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dpistack.core.platform import Platform
from dpistack.core.timeutil import as_utc, iso, utcnow
from dpistack.consent.errors import InvalidConsent, NotYours, UnknownConsent, WrongStatus
from dpistack.consent.models import ConsentArtefact, ConsentRevision, ConsentUse
from dpistack.consent.schemas import ConsentRequest

VERSION = "1.0"
JWS_ALG = "ES256"
GENESIS = "0" * 64


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_detached(platform: Platform, payload: bytes) -> str:
    info, key = platform.keys.active(JWS_ALG)
    compact = jws.serialize_compact({"alg": JWS_ALG, "kid": info.kid, "typ": "dpi-consent+jws"}, payload, key)
    header, _, signature = compact.split(".")
    return f"{header}..{signature}"


def verify_detached(platform: Platform, detached: str, payload: bytes) -> bool:
    header, sep, signature = detached.partition("..")
    if not sep or "." in signature:
        return False
    try:
        jws.deserialize_compact(f"{header}.{_b64url(payload)}.{signature}", platform.keys.verification_keyset(),
                                algorithms=[JWS_ALG])
    except (JoseError, ValueError, TypeError):
        return False
    return True


def _artefact(consent_id: str, revision: int, status: str, previous: str, principal: str | None, consumer: str,
              request: dict[str, Any], created: str) -> dict[str, Any]:
    """The artefact: the Account Aggregator artefact's fields (consentStart/Expiry, consentMode,
    fetchType, consentTypes, DataConsumer, DataProvider, Customer, Purpose, DataLife, Frequency)
    with the Consent BB's data principal and status."""
    body = {
        "ver": VERSION,
        "consentId": consent_id,
        "revision": revision,
        "status": status,
        "createTimestamp": created,
        "revisionTimestamp": iso(utcnow()),
        "previousHash": previous,
        "consentStart": request["valid_from"],
        "consentExpiry": request["valid_to"],
        "consentMode": request["consent_mode"],
        "fetchType": request["fetch_type"],
        "consentTypes": request["data_types"],
        "DataConsumer": {"id": consumer},
        "DataProvider": {"id": request["provider"], "services": request["services"]},
        "DataPrincipal": {"id": principal},
        "Purpose": {"code": request["purpose"]["code"], "text": request["purpose"]["text"],
                    **({"refUri": request["purpose"]["ref_uri"]} if request["purpose"].get("ref_uri") else {})},
        "DataLife": request["data_life"],
        "Frequency": request["frequency"],
    }
    return body


def _request_of(artefact: dict[str, Any]) -> dict[str, Any]:
    purpose = artefact["Purpose"]
    return {"provider": artefact["DataProvider"]["id"], "services": artefact["DataProvider"]["services"],
            "purpose": {"code": purpose["code"], "text": purpose["text"], "ref_uri": purpose.get("refUri")},
            "data_types": artefact["consentTypes"], "valid_from": artefact["consentStart"],
            "valid_to": artefact["consentExpiry"], "frequency": artefact["Frequency"],
            "data_life": artefact["DataLife"], "fetch_type": artefact["fetchType"],
            "consent_mode": artefact["consentMode"]}


def _write_revision(session: Session, platform: Platform, row: ConsentArtefact, body: dict[str, Any]) -> dict:
    blob = rfc8785.dumps(body)
    digest = hashlib.sha256(blob).hexdigest()
    signature = sign_detached(platform, blob)
    session.add(ConsentRevision(consent_id=row.id, revision=body["revision"], artefact=blob, jws=signature,
                                hash=digest, created_at=utcnow()))
    row.revision, row.head_hash, row.status, row.updated_at = body["revision"], digest, body["status"], utcnow()
    return {"artefact": body, "signature": signature, "hash": digest}


def request_consent(session: Session, platform: Platform, consumer: str, request: ConsentRequest) -> dict:
    """A new consent in status REQUESTED, its principal unknown until a person approves it."""
    valid_from, valid_to = as_utc(request.valid_from), as_utc(request.valid_to)
    if valid_to <= valid_from:
        raise InvalidConsent("valid_to must be after valid_from.")
    if valid_to <= utcnow():
        raise InvalidConsent("The validity window is already over.")
    if request.provider == consumer:
        raise InvalidConsent("The data consumer and the provider must be different participants.")
    consent_id, now = str(uuid.uuid4()), utcnow()
    fields = request.model_dump(mode="json")
    fields["valid_from"], fields["valid_to"] = iso(valid_from), iso(valid_to)
    row = ConsentArtefact(id=consent_id, status="REQUESTED", principal=None, consumer=consumer,
                          provider=request.provider, valid_from=valid_from, valid_to=valid_to, revision=0,
                          head_hash=GENESIS, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return _write_revision(session, platform, row, _artefact(consent_id, 1, "REQUESTED", GENESIS, None, consumer,
                                                             fields, iso(now)))


def _current(session: Session, consent_id: str, lock: bool = False) -> tuple[ConsentArtefact, dict[str, Any]]:
    query = select(ConsentArtefact).where(ConsentArtefact.id == consent_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise UnknownConsent(consent_id)
    blob = session.scalar(select(ConsentRevision.artefact).where(ConsentRevision.consent_id == consent_id,
                                                                  ConsentRevision.revision == row.revision))

    return row, json.loads(blob)


def _change(session: Session, platform: Platform, consent_id: str, principal: str, new_status: str,
            from_status: str, verb: str) -> dict:
    row, body = _current(session, consent_id, lock=True)
    if row.principal is not None and row.principal != principal:
        raise NotYours(consent_id)
    status = effective_status(row)
    if status != from_status:
        raise WrongStatus(consent_id, status, verb)
    row.principal = principal
    new = _artefact(consent_id, row.revision + 1, new_status, row.head_hash, principal, row.consumer,
                    _request_of(body), body["createTimestamp"])
    return _write_revision(session, platform, row, new)


def approve(session: Session, platform: Platform, consent_id: str, principal: str) -> dict:
    return _change(session, platform, consent_id, principal, "ACTIVE", "REQUESTED", "approved")


def reject(session: Session, platform: Platform, consent_id: str, principal: str) -> dict:
    return _change(session, platform, consent_id, principal, "REJECTED", "REQUESTED", "rejected")


def revoke(session: Session, platform: Platform, consent_id: str, principal: str) -> dict:
    return _change(session, platform, consent_id, principal, "REVOKED", "ACTIVE", "revoked")


def effective_status(row: ConsentArtefact, now: datetime | None = None) -> str:
    """The status in force: an ACTIVE or REQUESTED consent past its window is EXPIRED."""
    if row.status in ("ACTIVE", "REQUESTED") and as_utc(row.valid_to) <= (now or utcnow()):
        return "EXPIRED"
    return row.status


def view(session: Session, row: ConsentArtefact) -> dict:

    rev = session.get(ConsentRevision, (row.id, row.revision))
    return {"id": row.id, "status": effective_status(row), "revision": row.revision,
            "artefact": json.loads(rev.artefact), "signature": rev.jws, "hash": rev.hash}


def get_for_person(session: Session, consent_id: str, principal: str) -> dict:
    """A person sees a consent that is theirs, or one still waiting for someone's approval (the
    consumer hands its id to the person it asks)."""
    row, _ = _current(session, consent_id)
    if row.principal not in (None, principal):
        raise UnknownConsent(consent_id)
    return view(session, row)


def get_for_participant(session: Session, consent_id: str, participant: str) -> dict:
    row, _ = _current(session, consent_id)
    if participant not in (row.consumer, row.provider):
        raise UnknownConsent(consent_id)
    return view(session, row)


def list_for_person(session: Session, principal: str, limit: int = 200) -> list[dict]:
    rows = session.scalars(select(ConsentArtefact).where(ConsentArtefact.principal == principal)
                           .order_by(ConsentArtefact.created_at.desc()).limit(limit)).all()
    return [view(session, r) for r in rows]


def list_for_participant(session: Session, participant: str, limit: int = 200) -> list[dict]:
    rows = session.scalars(select(ConsentArtefact).where(or_(ConsentArtefact.consumer == participant,
                                                             ConsentArtefact.provider == participant))
                           .order_by(ConsentArtefact.created_at.desc()).limit(limit)).all()
    return [view(session, r) for r in rows]


def revisions(session: Session, consent_id: str) -> list[ConsentRevision]:
    return list(session.scalars(select(ConsentRevision).where(ConsentRevision.consent_id == consent_id)
                                .order_by(ConsentRevision.revision)))


WINDOWS = {"HOUR": timedelta(hours=1), "DAY": timedelta(days=1), "MONTH": timedelta(days=30),
           "YEAR": timedelta(days=365)}


def _use(session: Session, row: ConsentArtefact, body: dict[str, Any]) -> tuple[str, str] | None:
    """Count this exchange against the consent's fetch type and frequency (the artefact's row is
    locked first, so concurrent checks take turns); a refusal if it is used up."""
    frequency, once = body.get("Frequency"), body.get("fetchType") == "ONETIME"
    if frequency or once:
        session.execute(select(ConsentArtefact.id).where(ConsentArtefact.id == row.id).with_for_update())
        now = utcnow()
        uses = select(func.count()).select_from(ConsentUse).where(ConsentUse.consent_id == row.id)
        if once and session.scalar(uses):
            return "used_up", "The consent was for one exchange (fetchType ONETIME), which has taken place."
        if frequency:
            window = WINDOWS.get(frequency["unit"])
            counted = session.scalar(uses.where(ConsentUse.at > now - window) if window else uses)
            if counted >= frequency["value"]:
                per = f"per {frequency['unit'].lower()}" if window else "in all"
                return "frequency_exceeded", f"The consent allows {frequency['value']} exchanges {per}."
        session.add(ConsentUse(consent_id=row.id, at=now))
    return None


def check_exchange(session: Session, consent_id: str, consumer: str, provider: str, service: str,
                   purpose: str | None) -> dict:
    """May ``consumer`` get data from ``provider``'s ``service`` under this consent, now?
    ``allowed`` and, when not, the specific ``reason``; the principal's pseudonym when allowed."""

    row = session.get(ConsentArtefact, consent_id) if len(consent_id) <= 36 else None
    if row is None:
        return {"allowed": False, "reason": "unknown_consent", "detail": f"No consent {consent_id}."}
    status = effective_status(row)
    refused = None
    if row.consumer != consumer:
        refused = ("wrong_consumer", f"The consent was given to {row.consumer}, not {consumer}.")
    elif row.provider != provider:
        refused = ("wrong_provider", f"The consent covers data from {row.provider}, not {provider}.")
    elif status != "ACTIVE":
        refused = (status.lower(), f"The consent is {status}.")
    elif as_utc(row.valid_from) > utcnow():
        refused = ("not_yet_valid", f"The consent is valid from {iso(as_utc(row.valid_from))}.")
    if refused is None:
        body = json.loads(session.scalar(select(ConsentRevision.artefact).where(
            ConsentRevision.consent_id == consent_id, ConsentRevision.revision == row.revision)))
        services = body["DataProvider"]["services"]
        if services and service not in services:
            refused = ("service_not_covered", f"The consent does not cover the service {service}.")
        elif purpose is not None and purpose != body["Purpose"]["code"]:
            refused = ("wrong_purpose", f"The consent is for purpose {body['Purpose']['code']}, not {purpose}.")
    if refused is None:
        refused = _use(session, row, body)
    if refused is not None:
        return {"allowed": False, "reason": refused[0], "detail": refused[1], "status": status}
    return {"allowed": True, "status": status, "principal": row.principal, "purpose": body["Purpose"],
            "data_types": body["consentTypes"], "revision": row.revision}


def check(platform: Platform) -> list[str]:
    """Invariants: every revision's signature verifies over its bytes, its hash is the hash of
    its bytes, it names its predecessor's hash, and the current row agrees with the last one."""

    problems: list[str] = []
    with platform.db.uow() as session:
        for row in session.scalars(select(ConsentArtefact)):
            previous = GENESIS
            revs = revisions(session, row.id)
            for n, rev in enumerate(revs, start=1):
                blob = bytes(rev.artefact)
                if rev.revision != n:
                    problems.append(f"consent {row.id}: revision {n} is missing")
                if hashlib.sha256(blob).hexdigest() != rev.hash:
                    problems.append(f"consent {row.id} r{rev.revision}: hash does not match its bytes")
                if not verify_detached(platform, rev.jws, blob):
                    problems.append(f"consent {row.id} r{rev.revision}: signature does not verify")
                body = json.loads(blob)
                if body.get("previousHash") != previous:
                    problems.append(f"consent {row.id} r{rev.revision}: does not chain to the previous revision")
                previous = rev.hash
            if not revs or revs[-1].revision != row.revision or revs[-1].hash != row.head_hash:
                problems.append(f"consent {row.id}: current state differs from its last revision")
            elif json.loads(revs[-1].artefact)["status"] != row.status:
                problems.append(f"consent {row.id}: status differs from its last revision")
    return problems
