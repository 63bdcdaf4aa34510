"""Enrolment, deduplication and UIN issuance.

One enrolment is one transaction: the person is matched against everyone enrolled (blocking
keys → candidates → scored comparison, plus the biometric matcher when templates are given),
then a UIN is issued, the enrolment is refused as a duplicate, or it waits for an operator.
Demographics are sealed per field before they touch the database; blocking keys are stored
as blind indexes; the transparency log records each decision with a pseudonym only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

import rfc8785
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dpistack.core.crypto import FieldCipher, blind_index
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.identity import auth_state, matching, numbers
from dpistack.identity.auth_state import PersonStates
from dpistack.identity.abis import BiometricMatcher, InMemoryABIS
from dpistack.identity.interfaces import NotificationChannel, OutboxChannel
from dpistack.identity.errors import (
    NotUnderReview,
    RequestIdReused,
    UnknownEnrolment,
    UnknownParent,
    UnknownPerson,
)
from dpistack.identity.models import BlockingKey, Enrolment, Person
from dpistack.identity.schemas import EnrolmentIn
from dpistack.transparency import service as tlog

MAX_CANDIDATES = 500  # a blocking key that matches more people than this is too broad to use alone
LEGAL_BASIS = "national-id-act"
BIOMETRIC_DUPLICATE_SCORE = 90  # matcher score (0-100) at which a biometric hit is a duplicate


@dataclass
class IdentityContext:
    """What the identity service needs from the platform: its keys and its adapters."""

    cipher: FieldCipher
    index_key: bytes
    pseudonym_key: bytes
    digest_key: bytes
    abis: BiometricMatcher
    token_key: bytes
    channels: dict[str, NotificationChannel]
    people: PersonStates  # what authentication reads about people, kept per process
    uin_policy: numbers.NumberPolicy = numbers.DEFAULT_UIN_POLICY

    @classmethod
    def of(cls, platform: Platform) -> "IdentityContext":
        ctx = platform.extras.get("identity")
        if ctx is None:
            keys = platform.keys
            index_key = keys.derived_secret("identity:blind-index")
            cipher = FieldCipher(keys.derived_secret("identity:field-encryption"))
            ctx = cls(
                cipher=cipher,
                index_key=index_key,
                pseudonym_key=keys.derived_secret("transparency:pseudonym"),
                digest_key=keys.derived_secret("identity:request-digest"),
                abis=InMemoryABIS(),
                token_key=keys.derived_secret("identity:partner-token"),
                channels={kind: OutboxChannel(platform.settings.data_dir / "outbox", kind) for kind in ("sms", "email")},
                people=PersonStates(index_key, cipher, platform.change_board),
            )
            platform.extras["identity"] = ctx
        return ctx

    def pseudonym(self, uin: str) -> str:
        return tlog.pseudonym(self.pseudonym_key, uin)


def _demographics(data: dict[str, Any]) -> matching.Demographics:
    return matching.Demographics.from_dict(data)


def _lock_blocking_keys(session: Session, keys: list[str]) -> None:
    """Two enrolments of the same person share a blocking key: make them take turns, so that
    both cannot pass deduplication at once. (SQLite writers already take turns.)"""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(keys):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(key[:15], 16)})


def enrol(session: Session, ctx: IdentityContext, submitted_by: str, request: EnrolmentIn) -> Enrolment:
    data = request.model_dump(mode="json", exclude={"request_id"})
    digest = hmac.new(ctx.digest_key, rfc8785.dumps(data), hashlib.sha256).hexdigest()
    if request.request_id:
        existing = session.scalars(
            select(Enrolment).where(Enrolment.submitted_by == submitted_by, Enrolment.request_id == request.request_id)
        ).first()
        if existing is not None:
            if not hmac.compare_digest(existing.request_digest, digest):
                raise RequestIdReused(request.request_id)
            return existing  # a retry: same answer, nothing new written
    for parent in request.parents:
        if session.get(Person, parent) is None:
            raise UnknownParent(parent)

    enrolment_id = str(uuid.uuid4())
    person = _demographics(data)
    keys = [blind_index(ctx.index_key, k, purpose="dedup") for k in sorted(matching.blocking_keys(person))]
    _lock_blocking_keys(session, keys)
    enrolment = Enrolment(
        id=enrolment_id,
        submitted_by=submitted_by,
        request_id=request.request_id,
        request_digest=digest,
        status="pending",
        demographics=ctx.cipher.encrypt_fields(data, record=enrolment_id),
        candidates=[],
    )
    session.add(enrolment)
    session.flush()

    verdict, duplicate_of, candidates = _deduplicate(session, ctx, person, keys, request)
    if verdict == "duplicate":
        _decide(enrolment, "duplicate", by="deduplication", duplicate_of=duplicate_of, candidates=candidates)
    elif verdict == "review":
        _decide(enrolment, "review", by="deduplication", candidates=candidates)
    else:
        _issue(session, ctx, enrolment, data, keys, by="deduplication")
    _log(session, ctx, enrolment, accessor=submitted_by, purpose="enrolment")
    return enrolment


def _deduplicate(session: Session, ctx: IdentityContext, person: matching.Demographics, keys: list[str],
                 request: EnrolmentIn) -> tuple[str, str | None, list[dict]]:
    """('duplicate' | 'review' | 'distinct', the duplicate's UIN, candidates for an operator)."""
    uins = session.scalars(
        select(BlockingKey.uin).where(BlockingKey.key.in_(keys)).distinct().limit(MAX_CANDIDATES)
    ).all()
    scored: list[tuple[float, str, str]] = []
    for uin in uins:
        other = session.get(Person, uin)
        result = matching.score(person, _demographics(ctx.cipher.decrypt_fields(other.demographics, record=uin)))
        scored.append((result.total, uin, matching.classify(result)))
    if request.biometrics:
        probe = [base64.b64decode(b.template) for b in request.biometrics]
        for hit in ctx.abis.identify(probe, max_results=5):
            if hit.score >= BIOMETRIC_DUPLICATE_SCORE:
                scored.append((1.0, hit.reference_id, "duplicate"))
    scored.sort(reverse=True)
    candidates = [{"uin": uin, "score": round(total, 4)} for total, uin, verdict in scored if verdict != "distinct"]
    for total, uin, verdict in scored:
        if verdict == "duplicate":
            return "duplicate", uin, candidates
    if candidates:
        return "review", None, candidates
    return "distinct", None, []


def _issue(session: Session, ctx: IdentityContext, enrolment: Enrolment, data: dict, keys: list[str], by: str) -> None:
    """Issue a fresh UIN: random, filtered by the number rules, never one already issued."""
    for _ in range(20):
        uin = numbers.generate_uin(ctx.uin_policy)
        try:
            with session.begin_nested():
                session.add(Person(uin=uin, enrolment_id=enrolment.id,
                                   demographics=ctx.cipher.encrypt_fields(data, record=uin),
                                   auth_facts=auth_state.facts_of(ctx.index_key, data)))
                session.flush()
            break
        except IntegrityError:
            continue  # that number exists already (or existed): draw another
    else:  # pragma: no cover - 20 collisions in a row means the number space is exhausted
        raise RuntimeError("could not draw an unused UIN")
    session.add_all([BlockingKey(key=k, uin=uin) for k in keys])
    if data.get("biometrics"):
        ctx.abis.insert(uin, [base64.b64decode(b["template"]) for b in data["biometrics"]])
    _decide(enrolment, "issued", by=by, uin=uin)


def _decide(enrolment: Enrolment, status: str, by: str, *, uin: str | None = None, duplicate_of: str | None = None,
            candidates: list | None = None, reason: str | None = None) -> None:
    enrolment.status = status
    enrolment.uin = uin
    enrolment.duplicate_of = duplicate_of
    if candidates is not None:
        enrolment.candidates = candidates
    enrolment.reason = reason
    enrolment.decided_by = by
    enrolment.decided_at = utcnow() if status != "review" else None


def _log(session: Session, ctx: IdentityContext, enrolment: Enrolment, accessor: str, purpose: str) -> None:
    subject = enrolment.uin or enrolment.duplicate_of or enrolment.id
    log_access(session, ctx, subject, accessor, f"{purpose}: {enrolment.status}")


def log_access(session: Session, ctx: IdentityContext, uin: str, accessor: str, purpose: str,
               categories: list[str] | None = None, consent_id: str | None = None) -> None:
    """A transparency-log entry for an access to a person's record, under a pseudonym."""
    tlog.append(session, tlog.access_entry(
        subject_pseudonym=ctx.pseudonym(uin),
        accessor=accessor,
        categories=categories or ["demographics"],
        purpose=purpose,
        **({"consent_id": consent_id} if consent_id else {"legal_basis": LEGAL_BASIS}),
    ))


def get_enrolment(session: Session, enrolment_id: str, caller_id: str, operator: bool) -> Enrolment:
    """An enrolment is visible to the office that submitted it and to identity operators."""
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None or not (operator or enrolment.submitted_by == caller_id):
        raise UnknownEnrolment(enrolment_id)
    return enrolment


def review_queue(session: Session, limit: int = 100) -> list[Enrolment]:
    return list(session.scalars(
        select(Enrolment).where(Enrolment.status == "review").order_by(Enrolment.created_at).limit(limit)))


COMPARED = ("names", "birth_date", "sex", "birth_place", "address", "parents")  # what an operator compares


def review_detail(session: Session, ctx: IdentityContext, enrolment_id: str, operator_id: str) -> dict:
    """An enrolment under review beside each possible duplicate: the demographics an operator
    compares (no contact details, no biometric templates), each record opened logged as an
    access in the transparency log."""
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise UnknownEnrolment(enrolment_id)
    if enrolment.status != "review":
        raise NotUnderReview(enrolment_id, enrolment.status)
    data = ctx.cipher.decrypt_fields(enrolment.demographics, record=enrolment.id)
    candidates = []
    for c in enrolment.candidates or []:
        person = session.get(Person, c["uin"])
        if person is None:
            continue
        other = ctx.cipher.decrypt_fields(person.demographics, record=c["uin"])
        candidates.append({"uin": c["uin"], "score": c["score"], **{k: other.get(k) for k in COMPARED}})
        log_access(session, ctx, c["uin"], operator_id, "deduplication review: compared with a new enrolment")
    log_access(session, ctx, enrolment.id, operator_id, "deduplication review: enrolment opened")
    return {**review_view(enrolment), "enrolment": {k: data.get(k) for k in COMPARED}, "candidates": candidates}


def resolve_review(session: Session, ctx: IdentityContext, enrolment_id: str, operator_id: str, decision: str,
                   reason: str, duplicate_of: str | None = None) -> Enrolment:
    enrolment = session.scalars(select(Enrolment).where(Enrolment.id == enrolment_id).with_for_update()).first()
    if enrolment is None:
        raise UnknownEnrolment(enrolment_id)
    if enrolment.status != "review":
        raise NotUnderReview(enrolment_id, enrolment.status)
    data = ctx.cipher.decrypt_fields(enrolment.demographics, record=enrolment.id)
    if decision == "issue":
        keys = [blind_index(ctx.index_key, k, purpose="dedup") for k in sorted(matching.blocking_keys(_demographics(data)))]
        _issue(session, ctx, enrolment, data, keys, by=operator_id)
        enrolment.reason = reason
    elif decision == "duplicate":
        if not duplicate_of or session.get(Person, duplicate_of) is None:
            raise UnknownPerson()
        _decide(enrolment, "duplicate", by=operator_id, duplicate_of=duplicate_of, reason=reason)
    else:
        _decide(enrolment, "rejected", by=operator_id, reason=reason)
    _log(session, ctx, enrolment, accessor=operator_id, purpose="deduplication review")
    return enrolment


def enrolment_view(enrolment: Enrolment) -> dict:
    return {"enrolment_id": enrolment.id, "status": enrolment.status, "uin": enrolment.uin,
            "duplicate_of": enrolment.duplicate_of}


def review_view(enrolment: Enrolment) -> dict:
    return {"enrolment_id": enrolment.id, "submitted_by": enrolment.submitted_by,
            "created_at": iso(enrolment.created_at), "candidates": enrolment.candidates}
