"""Authentication of a person for a relying party: OTP, demographic and biometric factors.

The answer is yes or no plus the person's partner-specific token; it never says which factor
or field failed, nor whether the ID exists. Every attempt goes into the person's
authentication history and the transparency log. After ``LOCKOUT_FAILURES`` failures in
``LOCKOUT_WINDOW`` the person's ID is locked for that window, whatever the factors.
"""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dpistack.core.crypto import blind_index
from dpistack.core.timeutil import as_utc, utcnow
from dpistack.identity import matching, numbers, otp
from dpistack.identity.models import AuthEvent, Person
from dpistack.identity.schemas import AuthRequest, DemographicFactor, OtpRequest
from dpistack.identity.service import BIOMETRIC_DUPLICATE_SCORE, LEGAL_BASIS, IdentityContext
from dpistack.transparency import service as tlog

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)


def _subject(ctx: IdentityContext, uin: str) -> str:
    return blind_index(ctx.index_key, uin, purpose="auth-history")


def request_otp(session: Session, ctx: IdentityContext, partner_id: str, request: OtpRequest) -> None:
    """Send an OTP on each asked channel the person has. Silent when the ID is unknown."""
    person = session.get(Person, request.individual_id) if numbers.is_valid_uin(request.individual_id) else None
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
    factors = [name for name, given in (("otp", request.otp), ("demographics", request.demographics),
                                        ("biometrics", request.biometrics)) if given]
    uin = request.individual_id
    subject = _subject(ctx, uin)
    person = session.get(Person, uin) if numbers.is_valid_uin(uin) else None
    if _locked(session, subject):
        outcome = "locked"
    elif person is None or person.status != "active" or not factors:
        outcome = "failure"
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
    session.add(AuthEvent(subject=subject, partner_id=partner_id, transaction_id=request.transaction_id,
                          factors=factors, outcome=outcome))
    tlog.append(session, tlog.access_entry(
        subject_pseudonym=ctx.pseudonym(uin), accessor=partner_id, categories=factors or ["none"],
        purpose=f"authentication: {outcome}", legal_basis=LEGAL_BASIS))
    success = outcome == "success"
    return {"authenticated": success, "transaction_id": request.transaction_id,
            "token": numbers.partner_token(ctx.token_key, uin, partner_id) if success else None}
