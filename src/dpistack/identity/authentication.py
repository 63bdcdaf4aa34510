"""Authentication of a person for a relying party: OTP, demographic and biometric factors.

The answer is yes or no plus the person's partner-specific token; it never says which factor
or field failed, nor whether the ID exists. Every attempt goes into the person's
authentication history and the transparency log. After ``LOCKOUT_FAILURES`` failures in
``auth_state.LOCKOUT_WINDOW`` the person's ID is locked for that window, whatever the factors. A person
is named by UIN or VID; history, lockout and partner token follow the UIN behind either.

A relying party that causes too many failures (``auth_failure_limit``), or asks for too many
OTPs (``otp_send_limit``), gets 429 until its window frees up: guessing across many people is
slowed down as much as guessing one.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import time
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dpistack.core.auth import sign_jwt
from dpistack.core.groupcommit import batch_of
from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.identity import auth_state, claims, matching, numbers, otp, vids
from dpistack.identity.auth_state import PersonState
from dpistack.identity.errors import RateLimited
from dpistack.identity.models import AuthEvent
from dpistack.identity.schemas import AuthRequest, DemographicFactor, KycRequest, OtpRequest
from dpistack.identity.service import BIOMETRIC_DUPLICATE_SCORE, LEGAL_BASIS, IdentityContext, log_access
from dpistack.transparency import service as tlog

LOCKOUT_FAILURES = 5
log = logging.getLogger("dpistack.identity")


def subject_of(ctx: IdentityContext, uin: str) -> str:
    return auth_state.subject_of(ctx.index_key, uin)


def check_otp_rate(platform: Platform, partner_id: str) -> None:
    limit = platform.settings.otp_send_limit
    if not platform.rate_limiter.hit(limit, "otp-sent", partner_id):
        log.warning("OTP request refused: relying party %s is over its limit %s", partner_id, limit)
        raise RateLimited("OTP requests", platform.rate_limiter.retry_after(limit, "otp-sent", partner_id))


def check_failure_rate(platform: Platform, partner_id: str) -> None:
    limit = platform.settings.auth_failure_limit
    if not platform.rate_limiter.allows(limit, "auth-failures", partner_id):
        log.warning("authentication refused: relying party %s is over its failure limit %s", partner_id, limit)
        raise RateLimited("failed authentications",
                          platform.rate_limiter.retry_after(limit, "auth-failures", partner_id))


def count_failure(platform: Platform, partner_id: str, result: dict) -> None:
    if not result["authenticated"]:
        platform.rate_limiter.hit(platform.settings.auth_failure_limit, "auth-failures", partner_id)


def request_otp(session: Session, ctx: IdentityContext, partner_id: str, request: OtpRequest) -> None:
    """Send an OTP on each asked channel the person has. Silent when the ID is unknown."""
    person = vids.resolve(session, request.individual_id, request.individual_id_type)
    if person is None:
        return
    data = ctx.cipher.decrypt_fields(person.demographics, record=person.uin)
    for channel in request.channels:
        to = data.get("phone") if channel == "sms" else data.get("email")
        if to:
            otp.issue(session, key=ctx.index_key, uin=person.uin, partner_id=partner_id,
                      transaction_id=request.transaction_id, channel=ctx.channels[channel], to=to)


def _demographics_match(factor: DemographicFactor, data: dict) -> bool:
    checks = []
    if factor.given or factor.family:
        wanted = (matching.normalise_name(factor.given or ""), matching.normalise_name(factor.family or ""))
        checks.append(any(
            (not factor.given or matching.normalise_name(n["given"]) == wanted[0])
            and (not factor.family or matching.normalise_name(n["family"]) == wanted[1])
            for n in data["names"]))
    if factor.birth_date:
        checks.append(factor.birth_date.isoformat() == data["birth_date"])
    if factor.sex:
        checks.append(factor.sex == data["sex"])
    return bool(checks) and all(checks)


@dataclass
class Assessment:
    """What the read-only part of an authentication found out."""

    uin: str  # the person's UIN, or the ID as given when it names nobody
    subject: str
    factors: list[str]
    outcome: str | None  # decided already (locked, failure, blocked), or None: factors check out so far
    data: dict | None  # the person's demographics, when known


@dataclass(frozen=True)
class Authenticated:
    uin: str
    data: dict


_INSERT_EVENT = insert(AuthEvent.__table__)


MATCHED_FIELDS = frozenset({"names", "birth_date", "sex"})  # what a demographic factor is compared with


def _assess(state: PersonState, ctx: IdentityContext, request: AuthRequest, honour_locks: bool,
            fields: frozenset[str] | None = None) -> Assessment:
    """Everything but the OTP (which is spent) is decided from the person's state: lockout,
    locks, factors. Of the person's record, only ``fields`` are opened (all when None)."""
    factors = [name for name, given in (("otp", request.otp), ("demographics", request.demographics),
                                        ("biometrics", request.biometrics)) if given]
    uin, subject = state.uin, state.subject
    if state.failures >= LOCKOUT_FAILURES:
        return Assessment(uin, subject, factors, "locked", None)
    if state.demographics is None or not factors:
        return Assessment(uin, subject, factors, "failure", None)
    if honour_locks and state.locked & set(factors):
        return Assessment(uin, subject, factors, "blocked", None)
    data = ctx.cipher.decrypt_fields(state.demographics, record=uin, only=fields)
    ok = True
    if request.demographics is not None:
        ok &= _demographics_match(request.demographics, data)
    if request.biometrics:
        probe = [base64.b64decode(b.template) for b in request.biometrics]
        hits = ctx.abis.identify(probe, gallery=[uin], max_results=1)
        ok &= bool(hits) and hits[0].score >= BIOMETRIC_DUPLICATE_SCORE
    return Assessment(uin, subject, factors, None if ok else "failure", data)


def _record(session: Session, ctx: IdentityContext, partner_id: str, request: AuthRequest, found: Assessment,
            purpose: str) -> tuple[dict, Authenticated | None]:
    """The writes: spend the OTP and a limited VID, add to the history and the log."""
    outcome = found.outcome
    if outcome is None and request.otp is not None:
        if not otp.verify(session, key=ctx.index_key, uin=found.uin, partner_id=partner_id,
                          transaction_id=request.transaction_id, code=request.otp):
            outcome = "failure"
    outcome = outcome or "success"
    if outcome == "success" and request.individual_id_type == "VID":
        if vids.spend(session, request.individual_id):
            ctx.people.changed(session, found.uin)
    elif outcome != "success":
        ctx.people.changed(session, found.uin)  # one more failure towards lockout
    event = {"subject": found.subject, "partner_id": partner_id, "transaction_id": request.transaction_id,
             "factors": found.factors, "outcome": outcome, "purpose": purpose, "created_at": utcnow()}
    batch = batch_of(session)
    if batch is not None:
        batch.defer("auth_events", event, lambda events: session.connection().execute(_INSERT_EVENT, events))
    else:
        session.connection().execute(_INSERT_EVENT, event)
    tlog.append(session, tlog.access_entry(
        subject_pseudonym=ctx.pseudonym(found.uin), accessor=partner_id, categories=found.factors or ["none"],
        purpose=f"{purpose}: {outcome}", legal_basis=LEGAL_BASIS))
    success = outcome == "success"
    result = {"authenticated": success, "transaction_id": request.transaction_id,
              "token": numbers.partner_token(ctx.token_key, found.uin, partner_id) if success else None}
    return result, Authenticated(found.uin, found.data) if success else None


def authenticate_person(session: Session, ctx: IdentityContext, partner_id: str, request: AuthRequest,
                        purpose: str = "authentication",
                        honour_locks: bool = True) -> tuple[dict, Authenticated | None]:
    """(the answer, the person when authenticated), in the caller's write transaction.
    ``honour_locks`` is False only for the person's own login to the residents' service,
    where they unlock what they locked."""
    state = auth_state.read(session, ctx.index_key, request.individual_id, request.individual_id_type)
    return _record(session, ctx, partner_id, request, _assess(state, ctx, request, honour_locks), purpose)


async def _state(platform: Platform, ctx: IdentityContext, request: AuthRequest) -> PersonState:
    """The person's state: kept by this process, else read in a worker thread."""
    state = ctx.people.cached(request.individual_id, request.individual_id_type)
    if state is None:
        state = await run_in_threadpool(ctx.people.read, platform.db, request.individual_id,
                                        request.individual_id_type)
    return state


async def authenticate(platform: Platform, ctx: IdentityContext, partner_id: str, request: AuthRequest) -> dict:
    """The relying parties' path: the person's state (mostly from this process's cache, see
    ``auth_state``), then the writes by group commit (durable before the answer; a burst of
    authentications shares one commit). The lockout count is read before the write, so
    attempts on one person arriving in the same instant can pass the threshold by at most
    that burst; the next attempt is locked."""
    found = _assess(await _state(platform, ctx, request), ctx, request, honour_locks=True, fields=MATCHED_FIELDS)
    return await platform.group_commit.run_async(_write_authentication, partner_id, request, _sealed(found))


def _sealed(found: Assessment) -> Assessment:
    """What the writer needs: not the person's demographics (they would cross to the commit process)."""
    return dataclasses.replace(found, data=None)


def _write_authentication(session: Session, platform: Platform, partner_id: str, request: AuthRequest,
                          found: Assessment) -> dict:
    return _record(session, IdentityContext.of(platform), partner_id, request, found, "authentication")[0]


async def kyc(platform: Platform, ctx: IdentityContext, partner_id: str, request: KycRequest) -> dict:
    """Authenticate, then release, signed, the claims governance allows the relying party and
    the person consented to; the release goes to the transparency log with what was released."""
    found = _assess(await _state(platform, ctx, request), ctx, request, honour_locks=True)
    granted = await run_in_threadpool(_granted, platform, partner_id)
    result, released = await platform.group_commit.run_async(_write_kyc, partner_id, request, _sealed(found), granted)
    if released is None:
        return {**result, "kyc": None}
    payload = {"iss": platform.settings.public_url, "aud": partner_id, "sub": result["token"], "iat": int(time.time()),
               "txn": request.transaction_id, **claims.values(found.data, released, request.claims_locales)}
    return {**result, "kyc": sign_jwt(platform, payload, typ="kyc+jwt")}


def _write_kyc(session: Session, platform: Platform, partner_id: str, request: KycRequest, found: Assessment,
               granted: set[str]) -> tuple[dict, list[str] | None]:
    ctx = IdentityContext.of(platform)
    result, person = _record(session, ctx, partner_id, request, found, "ekyc")
    if person is None:
        return result, None
    released = sorted(granted & set(request.consented_claims))
    log_access(session, ctx, person.uin, accessor=partner_id, purpose="ekyc", categories=released or ["none"],
               consent_id=f"{partner_id}:{request.transaction_id}")
    return result, released


def _granted(platform: Platform, partner_id: str) -> set[str]:
    with platform.db.uow() as session:
        return claims.granted(session, partner_id)
