"""The residents' service: a person logs in with their UIN or VID and an OTP, then sees their
record and their authentication history, locks authentication types against relying parties,
manages their VIDs, and changes phone, e-mail or address after confirming with an OTP.

A login gives a short-lived bearer token (a JWT for the audience ``<public_url>/resident``)
naming a session row that holds the UIN sealed; logging out deletes the row. Changes go to
the transparency log with the person as the accessor.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dpistack.core.auth import ACCESS_TOKEN_TYPE, SIGNING_ALGS, sign_jwt
from dpistack.core.errors import NotFound, Problem, Unauthorized
from dpistack.core.platform import Platform
from dpistack.core.timeutil import as_utc, iso, utcnow
from dpistack.identity import auth_state, authentication, oidc, otp, vids
from dpistack.identity.models import (AuthEvent, AuthLock, ContactChange, OidcClient, OidcTransaction, Person,
                                      ResidentSession)
from dpistack.identity.schemas import AuthRequest, OtpRequest
from dpistack.identity.service import IdentityContext, log_access
from dpistack.transparency import service as tlog

PORTAL = "resident-portal"  # the accessor name in histories and the log: the person themself
SESSION_TTL = timedelta(minutes=15)
CHANGE_TTL = timedelta(minutes=10)
AUTH_TYPES = tuple(auth_state.LOCK_BITS)  # otp, demographics, biometrics


def audience(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/") + "/resident"


@dataclass(frozen=True)
class Resident:
    uin: str
    session_id: str


def request_login_otp(session: Session, ctx: IdentityContext, individual_id: str, id_type: str,
                      transaction_id: str) -> None:
    authentication.request_otp(session, ctx, PORTAL, OtpRequest(
        individual_id=individual_id, individual_id_type=id_type, transaction_id=transaction_id,
        channels=["sms", "email"]))


def login(session: Session, ctx: IdentityContext, platform: Platform, individual_id: str, id_type: str,
          transaction_id: str, code: str) -> dict | None:
    """A session token, or None when authentication failed (the attempt is recorded either way)."""
    request = AuthRequest(individual_id=individual_id, individual_id_type=id_type, transaction_id=transaction_id,
                          otp=code)
    _, person = authentication.authenticate_person(session, ctx, PORTAL, request, purpose="resident login",
                                                   honour_locks=False)
    if person is None:
        return None
    session_id = secrets.token_urlsafe(24)
    session.add(ResidentSession(id=session_id, sealed_uin=ctx.cipher.encrypt_fields({"uin": person.uin},
                                                                                    record=session_id),
                                expires_at=utcnow() + SESSION_TTL))
    now, lifetime = int(time.time()), int(SESSION_TTL.total_seconds())
    token = sign_jwt(platform, {"iss": platform.settings.public_url, "aud": audience(platform), "sub": session_id,
                                "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}, typ=ACCESS_TOKEN_TYPE)
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}


def resident_of(session: Session, ctx: IdentityContext, platform: Platform, token: str) -> Resident:
    try:
        decoded = jwt.decode(token, platform.keys.verification_keyset(), algorithms=SIGNING_ALGS)
    except (JoseError, ValueError, TypeError) as exc:
        raise Unauthorized("The token is malformed or its signature does not verify.") from exc
    c = decoded.claims
    if decoded.header.get("typ") == ACCESS_TOKEN_TYPE and c.get("aud") == oidc.userinfo_endpoint(platform):
        return _oidc_resident(session, ctx, platform, c)
    if decoded.header.get("typ") != ACCESS_TOKEN_TYPE or c.get("aud") != audience(platform):
        raise Unauthorized("This is not a residents' service token.")
    if not isinstance(c.get("exp"), (int, float)) or c["exp"] <= time.time():
        raise Unauthorized("The session has expired; log in again.")
    row = session.get(ResidentSession, str(c.get("sub")))
    if row is None or as_utc(row.expires_at) <= utcnow():
        raise Unauthorized("The session has ended; log in again.")
    return Resident(ctx.cipher.decrypt_fields(row.sealed_uin, record=row.id)["uin"], row.id)


def _oidc_resident(session: Session, ctx: IdentityContext, platform: Platform, c: dict) -> Resident:
    """An OpenID Connect access token with scope ``resident`` (a portal acting for the person
    who logged in to it): the login transaction names the person; the client's relying party
    must still be allowed the scope by governance."""
    if c.get("iss") != oidc.issuer(platform) or oidc.RESIDENT_SCOPE not in str(c.get("scope", "")).split():
        raise Unauthorized("This access token was not issued with the scope resident.")
    if not isinstance(c.get("exp"), (int, float)) or c["exp"] <= time.time():
        raise Unauthorized("The session has expired; log in again.")
    txn = session.get(OidcTransaction, str(c.get("jti")))
    client = session.get(OidcClient, txn.client_id) if txn is not None else None
    if txn is None or txn.status != "token_issued" or client is None or client.status != "active" \
            or not oidc.may_act_for_residents(session, client.relying_party_id):
        raise Unauthorized("The session has ended; log in again.")
    return Resident(ctx.cipher.decrypt_fields(txn.sealed_uin, record=txn.id)["uin"], txn.id)


def logout(session: Session, resident: Resident) -> None:
    session.execute(delete(ResidentSession).where(ResidentSession.id == resident.session_id))
    txn = session.get(OidcTransaction, resident.session_id)  # logged in through OpenID Connect
    if txn is not None and txn.status == "token_issued":
        txn.status = "revoked"


def my_record(session: Session, ctx: IdentityContext, resident: Resident) -> dict:
    person = session.get(Person, resident.uin)
    data = ctx.cipher.decrypt_fields(person.demographics, record=resident.uin)
    record = {k: data.get(k) for k in ("names", "birth_date", "sex", "birth_place", "address", "phone", "email")}
    return {"uin": resident.uin, **record, "vids": [vids.view(v) for v in vids.of_person(session, resident.uin)]}


def history(session: Session, ctx: IdentityContext, resident: Resident, limit: int) -> list[dict]:
    subject = authentication.subject_of(ctx, resident.uin)
    rows = session.scalars(select(AuthEvent).where(AuthEvent.subject == subject)
                           .order_by(AuthEvent.created_at.desc(), AuthEvent.id.desc()).limit(limit))
    return [{"time": iso(e.created_at), "relying_party": e.partner_id, "purpose": e.purpose or "authentication",
             "factors": e.factors, "outcome": e.outcome, "transaction_id": e.transaction_id} for e in rows]


def locks(session: Session, ctx: IdentityContext, resident: Resident) -> dict[str, bool]:
    locked = auth_state.locked_types(session, authentication.subject_of(ctx, resident.uin))
    return {t: t in locked for t in AUTH_TYPES}


def set_locks(session: Session, ctx: IdentityContext, resident: Resident, wanted: dict[str, bool]) -> dict[str, bool]:
    subject = authentication.subject_of(ctx, resident.uin)
    for auth_type, locked in wanted.items():
        row = session.scalars(select(AuthLock).where(AuthLock.subject == subject, AuthLock.auth_type == auth_type)
                              ).first()
        if row is None:
            session.add(AuthLock(subject=subject, auth_type=auth_type, locked=locked))
        else:
            row.locked, row.updated_at = locked, utcnow()
    session.flush()
    ctx.people.changed(session, resident.uin)
    log_access(session, ctx, resident.uin, accessor=PORTAL, purpose="authentication locks changed by the person",
               categories=["authentication-settings"], consent_id=resident.session_id)
    return locks(session, ctx, resident)


class UnknownChange(NotFound):
    def __init__(self):
        super().__init__("No such pending change in this session.")


class NoChannel(Problem):
    status = 422
    title = "No way to confirm"

    def __init__(self):
        super().__init__("Your record has no phone or e-mail to send a confirmation code to; visit an office.")


def propose_change(session: Session, ctx: IdentityContext, resident: Resident, field: str, value: str) -> str:
    """Record a pending change and send an OTP: to the new phone or e-mail (proving it is yours),
    or for an address to the phone or e-mail on record (proving it is you)."""
    person = session.get(Person, resident.uin)
    data = ctx.cipher.decrypt_fields(person.demographics, record=resident.uin)
    change_id = str(uuid.uuid4())
    if field == "phone":
        channel, to = "sms", value
    elif field == "email":
        channel, to = "email", value
    elif data.get("phone"):
        channel, to = "sms", data["phone"]
    elif data.get("email"):
        channel, to = "email", data["email"]
    else:
        raise NoChannel()
    session.add(ContactChange(id=change_id, session_id=resident.session_id, field=field,
                              sealed_value=ctx.cipher.encrypt_fields({"value": value}, record=change_id),
                              status="pending", expires_at=utcnow() + CHANGE_TTL))
    otp.issue(session, key=ctx.index_key, uin=resident.uin, partner_id=PORTAL, transaction_id=change_id,
              channel=ctx.channels[channel], to=to)
    return change_id


def confirm_change(session: Session, ctx: IdentityContext, resident: Resident, change_id: str, code: str) -> bool:
    """Apply the change if the code is right (wrong codes count; the caller commits)."""
    change = session.scalars(select(ContactChange).where(ContactChange.id == change_id).with_for_update()).first()
    if change is None or change.session_id != resident.session_id or change.status != "pending" \
            or as_utc(change.expires_at) <= utcnow():
        raise UnknownChange()
    if not otp.verify(session, key=ctx.index_key, uin=resident.uin, partner_id=PORTAL, transaction_id=change_id,
                      code=code):
        return False
    person = session.get(Person, resident.uin)
    data = ctx.cipher.decrypt_fields(person.demographics, record=resident.uin)
    data[change.field] = ctx.cipher.decrypt_fields(change.sealed_value, record=change.id)["value"]
    person.demographics = ctx.cipher.encrypt_fields(data, record=resident.uin)
    change.status = "applied"
    ctx.people.changed(session, resident.uin)
    log_access(session, ctx, resident.uin, accessor=PORTAL, purpose=f"{change.field} changed by the person",
               categories=[change.field], consent_id=resident.session_id)
    return True


def new_vid(session: Session, ctx: IdentityContext, resident: Resident, vid_type: str) -> dict:
    row = vids.create(session, resident.uin, vid_type, created_by=PORTAL)
    ctx.people.changed(session, resident.uin)  # the previous VID of the type is revoked
    log_access(session, ctx, resident.uin, accessor=PORTAL, purpose=f"{vid_type} VID created by the person",
               categories=["vid"], consent_id=resident.session_id)
    return vids.view(row)


def revoke_vid(session: Session, ctx: IdentityContext, resident: Resident, vid: str) -> dict:
    row = vids.revoke(session, vid, uin=resident.uin)
    ctx.people.changed(session, resident.uin)
    log_access(session, ctx, resident.uin, accessor=PORTAL, purpose="VID revoked by the person",
               categories=["vid"], consent_id=resident.session_id)
    return vids.view(row)


# -- consent and the data tracker --------------------------------------------------------------
CONSENT_TOKEN_TTL = 300
CONSENT_TOKEN_TYPE = "dpi-consent+jwt"  # what the consent API accepts as the person's word


def consent_token(ctx: IdentityContext, platform: Platform, resident: Resident) -> dict:
    """A short-lived token for the consent API naming the person by their log pseudonym (the
    consent service never learns the UIN)."""
    now = int(time.time())
    token = sign_jwt(platform, {"iss": platform.settings.public_url,
                                "aud": platform.settings.public_url.rstrip("/") + "/consent",
                                "sub": ctx.pseudonym(resident.uin), "iat": now, "exp": now + CONSENT_TOKEN_TTL,
                                "jti": str(uuid.uuid4())}, typ=CONSENT_TOKEN_TYPE)
    return {"access_token": token, "token_type": "Bearer", "expires_in": CONSENT_TOKEN_TTL}


def data_usage(ctx: IdentityContext, platform: Platform, resident: Resident, limit: int,
               before: int | None = None) -> dict:
    """Every transparency-log entry about the person (who, when, what, why, under which consent
    or law), each with its RFC 9162 inclusion proof in the tree of the signed checkpoint given
    with them, checked here before it is shown; the person can check them again themselves
    (``dpi transparency verify --usage FILE``)."""
    import base64

    from dpistack.transparency import merkle

    subject = ctx.pseudonym(resident.uin)
    found = tlog.entries_about(platform, subject, limit, before)
    tree = tlog.tree(platform, at_least=(found[0][0] + 1) if found else None)
    size = tree.size
    root = tree.root(size) if size else merkle.EMPTY_ROOT
    entries = []
    for index, blob in found:
        proof = tree.inclusion_proof(index, size)
        ok = merkle.verify_inclusion(tlog.leaf_hash(blob), index, size, proof, root)
        entry = json.loads(blob)
        entries.append({"index": index, "time": entry.get("time"), "accessor": entry.get("accessor"),
                        "categories": entry.get("categories"), "purpose": entry.get("purpose"),
                        "consent_id": entry.get("consent_id"), "legal_basis": entry.get("legal_basis"),
                        "entry": base64.b64encode(blob).decode(),
                        "inclusion_proof": [base64.b64encode(h).decode() for h in proof], "verified": ok})
    return {"subject": subject, "tree_size": size, "checkpoint": tlog.signed_checkpoint(platform, size),
            "entries": entries}
