"""Authentication of a person for a relying party: OTP, demographic and biometric factors.

The answer is yes or no plus the person's partner-specific token; it never says which factor
or field failed, nor whether the ID exists. Every attempt goes into the person's
authentication history and the transparency log. After ``LOCKOUT_FAILURES`` failures in
``LOCKOUT_WINDOW`` the person's ID is locked for that window, whatever the factors. A person
is named by UIN or VID; history, lockout and partner token follow the UIN behind either.

A relying party that causes too many failures (``auth_failure_limit``), or asks for too many
OTPs (``otp_send_limit``), gets 429 until its window frees up: guessing across many people is
slowed down as much as guessing one.
"""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.auth import sign_jwt
from dpistack.core.crypto import blind_index
from dpistack.core.platform import Platform
from dpistack.core.timeutil import as_utc, utcnow
from dpistack.identity import claims, matching, numbers, otp, vids
from dpistack.identity.errors import RateLimited
from dpistack.identity.models import AuthEvent, AuthLock, Person
from dpistack.identity.schemas import AuthRequest, DemographicFactor, KycRequest, OtpRequest
from dpistack.identity.service import BIOMETRIC_DUPLICATE_SCORE, LEGAL_BASIS, IdentityContext, log_access
from dpistack.transparency import service as tlog

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
log = logging.getLogger("dpistack.identity")


def subject_of(ctx: IdentityContext, uin: str) -> str:
    return blind_index(ctx.index_key, uin, purpose="auth-history")


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


def _locked(session: Session, subject: str) -> bool:
    since = utcnow() - LOCKOUT_WINDOW
    last_success = session.scalar(select(func.max(AuthEvent.created_at)).where(
        AuthEvent.subject == subject, AuthEvent.outcome == "success"))
    if last_success is not None and as_utc(last_success) > since:
        since = as_utc(last_success)
    failures = session.scalar(select(func.count()).select_from(AuthEvent).where(
        AuthEvent.subject == subject, AuthEvent.outcome != "success", AuthEvent.created_at > since))
    return failures >= LOCKOUT_FAILURES


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


def authenticate(session: Session, ctx: IdentityContext, partner_id: str, request: AuthRequest) -> dict:
    result, _ = authenticate_person(session, ctx, partner_id, request)
    return result


def kyc(session: Session, ctx: IdentityContext, platform: Platform, partner_id: str, request: KycRequest) -> dict:
    """Authenticate, then release, signed, the claims governance allows the relying party and
    the person consented to; the release goes to the transparency log with what was released."""
    result, person = authenticate_person(session, ctx, partner_id, request, purpose="ekyc")
    if person is None:
        return {**result, "kyc": None}
    released = sorted(claims.granted(session, partner_id) & set(request.consented_claims))
    data = ctx.cipher.decrypt_fields(person.demographics, record=person.uin)
    now = int(time.time())
    payload = {"iss": platform.settings.public_url, "aud": partner_id, "sub": result["token"], "iat": now,
               "txn": request.transaction_id, **claims.values(data, released, request.claims_locales)}
    log_access(session, ctx, person.uin, accessor=partner_id, purpose="ekyc", categories=released or ["none"],
               consent_id=f"{partner_id}:{request.transaction_id}")
    return {**result, "kyc": sign_jwt(platform, payload, typ="kyc+jwt")}


def locked_types(session: Session, subject: str) -> set[str]:
    """The authentication types the person has locked against relying parties."""
    return set(session.scalars(select(AuthLock.auth_type).where(AuthLock.subject == subject, AuthLock.locked)))


def authenticate_person(session: Session, ctx: IdentityContext, partner_id: str, request: AuthRequest,
                        purpose: str = "authentication", honour_locks: bool = True) -> tuple[dict, Person | None]:
    """(the answer, the person when authenticated). ``honour_locks`` is False only for the
    person's own login to the residents' service, where they unlock what they locked."""
    factors = [name for name, given in (("otp", request.otp), ("demographics", request.demographics),
                                        ("biometrics", request.biometrics)) if given]
    person = vids.resolve(session, request.individual_id, request.individual_id_type)
    uin = person.uin if person is not None else request.individual_id
    subject = subject_of(ctx, uin)
    if _locked(session, subject):
        outcome = "locked"
    elif person is None or not factors:
        outcome = "failure"
    elif honour_locks and locked_types(session, subject) & set(factors):
        outcome = "blocked"
    else:
        data = ctx.cipher.decrypt_fields(person.demographics, record=uin)
        ok = True
        if request.otp is not None:
            ok &= otp.verify(session, key=ctx.index_key, uin=uin, partner_id=partner_id,
                             transaction_id=request.transaction_id, code=request.otp)
        if request.demographics is not None:
            ok &= _demographics_match(request.demographics, data)
        if request.biometrics:
            probe = [base64.b64decode(b.template) for b in request.biometrics]
            hits = ctx.abis.identify(probe, gallery=[uin], max_results=1)
            ok &= bool(hits) and hits[0].score >= BIOMETRIC_DUPLICATE_SCORE
        outcome = "success" if ok else "failure"
        if ok and request.individual_id_type == "VID":
            vids.spend(session, request.individual_id)
    session.add(AuthEvent(subject=subject, partner_id=partner_id, transaction_id=request.transaction_id,
                          factors=factors, outcome=outcome, purpose=purpose))
    tlog.append(session, tlog.access_entry(
        subject_pseudonym=ctx.pseudonym(uin), accessor=partner_id, categories=factors or ["none"],
        purpose=f"{purpose}: {outcome}", legal_basis=LEGAL_BASIS))
    success = outcome == "success"
    result = {"authenticated": success, "transaction_id": request.transaction_id,
              "token": numbers.partner_token(ctx.token_key, uin, partner_id) if success else None}
    return result, person if success else None
