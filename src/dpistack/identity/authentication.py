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
import logging
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, insert
from sqlalchemy.orm import Session

from dpistack.core.auth import sign_jwt
from dpistack.core.db import DriverQuery
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


def _demographics_match(factor: DemographicFactor, state: PersonState, index_key: bytes) -> bool:
    """Does every part of the factor hold for the person? Compared as keyed digests of the
    normalised values (``auth_state.facts_of``), never as plain data."""
    claimed = []
    given = matching.normalise_name(factor.given) if factor.given else None
    family = matching.normalise_name(factor.family) if factor.family else None
    if given is not None and family is not None:
        claimed.append(auth_state.fact(index_key, "name", given, family))
    elif given is not None:
        claimed.append(auth_state.fact(index_key, "given", given))
    elif family is not None:
        claimed.append(auth_state.fact(index_key, "family", family))
    if factor.birth_date:
        claimed.append(auth_state.fact(index_key, "birth_date", factor.birth_date.isoformat()))
    if factor.sex:
        claimed.append(auth_state.fact(index_key, "sex", factor.sex))
    return bool(claimed) and all(auth_state.holds(state, c) for c in claimed)


@dataclass
class Assessment:
    """What the read-only part of an authentication found out."""

    uin: str  # the person's UIN, or the ID as given when it names nobody
    subject: str
    factors: list[str]
    outcome: str | None  # decided already (locked, failure, blocked), or None: factors check out so far
    data: dict | None  # the person's demographics, when known
    state: PersonState  # what was read, and what is derived from it (pseudonym, partner tokens)

    def pseudonym(self, ctx: IdentityContext) -> str:
        return self.state.remembered(("pseudonym",), lambda: ctx.pseudonym(self.uin))

    def partner_token(self, ctx: IdentityContext, partner_id: str) -> str:
        return self.state.remembered(("token", partner_id),
                                     lambda: numbers.partner_token(ctx.token_key, self.uin, partner_id))


@dataclass(frozen=True)
class Authenticated:
    uin: str
    data: dict


_EVENT_COLUMNS = ("subject", "partner_id", "transaction_id", "factors", "outcome", "purpose", "created_at")
_INSERT_EVENT = insert(AuthEvent.__table__).values({c: bindparam(c) for c in _EVENT_COLUMNS})
_INSERT_EVENTS = DriverQuery(_INSERT_EVENT)  # a batch's events in one driver call


def _assess(state: PersonState, ctx: IdentityContext, request: AuthRequest, honour_locks: bool,
            open_record: bool = True) -> Assessment:
    """Everything but the OTP (which is spent) is decided from the person's state: lockout,
    locks, factors. The record is opened only for ``open_record`` (eKYC, logins)."""
    factors = [name for name, given in (("otp", request.otp), ("demographics", request.demographics),
                                        ("biometrics", request.biometrics)) if given]
    uin, subject = state.uin, state.subject
    if state.failures >= LOCKOUT_FAILURES:
        return Assessment(uin, subject, factors, "locked", None, state)
    if not state.known or not factors:
        return Assessment(uin, subject, factors, "failure", None, state)
    if honour_locks and state.locked & set(factors):
        return Assessment(uin, subject, factors, "blocked", None, state)
    data = ctx.cipher.decrypt_fields(state.demographics, record=uin) if open_record else None  # read, not kept
    ok = True
    if request.demographics is not None:
        ok &= _demographics_match(request.demographics, state, ctx.index_key)
    if request.biometrics:
        probe = [base64.b64decode(b.template) for b in request.biometrics]
        hits = ctx.abis.identify(probe, gallery=[uin], max_results=1)
        ok &= bool(hits) and hits[0].score >= BIOMETRIC_DUPLICATE_SCORE
    return Assessment(uin, subject, factors, None if ok else "failure", data, state)


def _entries(ctx: IdentityContext, partner_id: str, found: Assessment, otp_given: bool,
             purpose: str) -> dict[str, tlog.Prepared]:
    """The log entry of each outcome the writes may still reach, encoded ahead of them (on the
    event loop, not under the write lock): decided already, or success/failure by the OTP."""
    outcomes = [found.outcome] if found.outcome else (["success", "failure"] if otp_given else ["success"])
    pseudonym = found.pseudonym(ctx)
    return {outcome: tlog.prepare(tlog.access_entry(
        subject_pseudonym=pseudonym, accessor=partner_id, categories=found.factors or ["none"],
        purpose=f"{purpose}: {outcome}", legal_basis=LEGAL_BASIS)) for outcome in outcomes}


def _record(session: Session, ctx: IdentityContext, partner_id: str, request: AuthRequest, found: Assessment,
            purpose: str, entries: dict[str, tlog.Prepared] | None = None) -> tuple[dict, Authenticated | None]:
    """The writes: spend the OTP and a limited VID, add to the history and the log
    (``entries``: the log entries prepared by :func:`_entries`)."""
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
        batch.defer("auth_events", event, lambda events: _INSERT_EVENTS.many(session.connection(), events))
    else:
        session.connection().execute(_INSERT_EVENT, event)
    entries = entries or _entries(ctx, partner_id, found, request.otp is not None, purpose)
    tlog.append(session, entries[outcome])
    success = outcome == "success"
    result = {"authenticated": success, "transaction_id": request.transaction_id,
              "token": found.partner_token(ctx, partner_id) if success else None}
    return result, Authenticated(found.uin, found.data) if success else None


def authenticate_person(session: Session, ctx: IdentityContext, partner_id: str, request: AuthRequest,
                        purpose: str = "authentication",
                        honour_locks: bool = True) -> tuple[dict, Authenticated | None]:
    """(the answer, the person when authenticated), in the caller's write transaction.
    ``honour_locks`` is False only for the person's own login to the residents' service,
    where they unlock what they locked."""
    state = auth_state.read(session, ctx.index_key, ctx.cipher, request.individual_id, request.individual_id_type)
    return _record(session, ctx, partner_id, request, _assess(state, ctx, request, honour_locks), purpose)


def _state(platform: Platform, ctx: IdentityContext, request: AuthRequest, record: bool = False) -> PersonState:
    """The person's state: kept by this process, else read on the spot. On the event loop, not
    in a worker thread: a reader thread taking the GIL while the loop commits a batch under
    the write lock stalls every writer of the host (measured without the cache: a third
    fewer authentications with the reads in threads); the read is one indexed statement.
    ``record``: the sealed record is needed too (eKYC), which the cache does not keep."""
    state = None if record else ctx.people.cached(request.individual_id, request.individual_id_type)
    if state is None:
        state = ctx.people.read(platform.db, request.individual_id, request.individual_id_type, record)
    return state


async def authenticate(platform: Platform, ctx: IdentityContext, partner_id: str, request: AuthRequest) -> dict:
    """The relying parties' path: the person's state (mostly from this process's cache, see
    ``auth_state``), then the writes by group commit (durable before the answer; a burst of
    authentications shares one commit). The lockout count is read before the write, so
    attempts on one person arriving in the same instant can pass the threshold by at most
    that burst; the next attempt is locked."""
    found = _assess(_state(platform, ctx, request), ctx, request, honour_locks=True, open_record=False)
    entries = _entries(ctx, partner_id, found, request.otp is not None, "authentication")
    return await platform.group_commit.run_async(_write_authentication, partner_id, request, found, entries)


def _write_authentication(session: Session, platform: Platform, partner_id: str, request: AuthRequest,
                          found: Assessment, entries: dict[str, tlog.Prepared]) -> dict:
    return _record(session, IdentityContext.of(platform), partner_id, request, found, "authentication", entries)[0]


async def kyc(platform: Platform, ctx: IdentityContext, partner_id: str, request: KycRequest) -> dict:
    """Authenticate, then release, signed, the claims governance allows the relying party and
    the person consented to; the release goes to the transparency log with what was released."""
    found = _assess(_state(platform, ctx, request, record=True), ctx, request, honour_locks=True)
    granted = _granted(platform, partner_id)  # on the loop, like the person's state
    result, released = await platform.group_commit.run_async(_write_kyc, partner_id, request, found, granted)
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
