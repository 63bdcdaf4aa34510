"""Residents' API (``/resident/v1``): a person's own view of and control over their identity."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from dpistack.core.errors import Unauthorized
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.identity import residents
from dpistack.identity.errors import RateLimited
from dpistack.identity.residents import Resident
from dpistack.identity.schemas import (
    AuthLocks,
    ContactChangeIn,
    ContactConfirm,
    NewVid,
    ResidentLogin,
    ResidentOtpRequest,
    ResidentToken,
    VidOut,
)
from dpistack.identity.service import IdentityContext

router = APIRouter(prefix="/resident/v1", tags=["residents"])
PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 404: PROBLEM, 422: PROBLEM, 429: PROBLEM}


def resident(request: Request, platform: Platform = Depends(get_platform)) -> Resident:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Log in first (POST /resident/v1/login) and send Authorization: Bearer <token>.")
    with platform.db.uow() as session:
        return residents.resident_of(session, IdentityContext.of(platform), platform, token.strip())


@router.post("/login/otp", responses=ERRORS, summary="Send a login code to the phone and e-mail on record")
def login_otp(body: ResidentOtpRequest, platform: Platform = Depends(get_platform)) -> dict:
    limit = "5/10 minutes"
    if not platform.rate_limiter.hit(limit, "resident-otp", body.individual_id):
        raise RateLimited("login codes", platform.rate_limiter.retry_after(limit, "resident-otp", body.individual_id))
    with platform.db.uow(write=True) as session:
        residents.request_login_otp(session, IdentityContext.of(platform), body.individual_id,
                                    body.individual_id_type, body.transaction_id)
    return {"transaction_id": body.transaction_id, "status": "a code was sent if the ID is registered"}


@router.post("/login", response_model=ResidentToken, responses=ERRORS, summary="Log in with the code")
def login(body: ResidentLogin, platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        token = residents.login(session, IdentityContext.of(platform), platform, body.individual_id,
                                body.individual_id_type, body.transaction_id, body.otp)
    if token is None:  # raised only now: the failed attempt is committed to the history and lockout count
        raise Unauthorized("The ID or the one-time code is not right, or the code has expired.")
    return token


@router.post("/logout", status_code=204, responses=ERRORS, summary="End the session")
def logout(me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> None:
    with platform.db.uow(write=True) as session:
        residents.logout(session, me)


@router.get("/me", responses=ERRORS, summary="My record: demographics and VIDs")
def me(me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        return residents.my_record(session, IdentityContext.of(platform), me)


@router.get("/auth-history", responses=ERRORS, summary="Who authenticated me, when, why, and how it went")
def auth_history(limit: int = Query(100, ge=1, le=1000), me: Resident = Depends(resident),
                 platform: Platform = Depends(get_platform)) -> list[dict]:
    with platform.db.uow() as session:
        return residents.history(session, IdentityContext.of(platform), me, limit)


@router.get("/auth-locks", responses=ERRORS, summary="Which authentication types I have locked")
def get_locks(me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        return residents.locks(session, IdentityContext.of(platform), me)


@router.put("/auth-locks", responses=ERRORS, summary="Lock or unlock authentication types for relying parties")
def put_locks(body: AuthLocks, me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    wanted = {k: v for k, v in body.model_dump().items() if v is not None}
    with platform.db.uow(write=True) as session:
        return residents.set_locks(session, IdentityContext.of(platform), me, wanted)


@router.post("/vids", status_code=201, response_model=VidOut, responses=ERRORS,
             summary="Create a VID (my previous one of that type is revoked)")
def create_vid(body: NewVid, me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        return residents.new_vid(session, IdentityContext.of(platform), me, body.vid_type)


@router.post("/vids/{vid}/revoke", response_model=VidOut, responses=ERRORS, summary="Revoke one of my VIDs")
def revoke_vid(vid: str = Path(pattern=r"^[0-9]{16}$"), me: Resident = Depends(resident),
               platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        return residents.revoke_vid(session, IdentityContext.of(platform), me, vid)


@router.post("/contact-changes", status_code=202, responses=ERRORS,
             summary="Change my phone, e-mail or address: a code is sent to confirm")
def propose_change(body: ContactChangeIn, me: Resident = Depends(resident),
                   platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        change_id = residents.propose_change(session, IdentityContext.of(platform), me, body.field, body.value)
    return {"change_id": change_id, "status": "pending"}


@router.post("/contact-changes/{change_id}/confirm", responses=ERRORS, summary="Confirm a change with its code")
def confirm_change(body: ContactConfirm, change_id: str = Path(min_length=36, max_length=36),
                   me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        applied = residents.confirm_change(session, IdentityContext.of(platform), me, change_id, body.otp)
    if not applied:
        raise Unauthorized("The code is not right or has expired.")
    return {"change_id": change_id, "status": "applied"}


@router.post("/consent-token", responses=ERRORS, summary="A short-lived token to approve or revoke consents as me")
def consent_token(me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    return residents.consent_token(IdentityContext.of(platform), platform, me)


@router.get("/data-usage", responses=ERRORS,
            summary="My data tracker: every access to my data, each with its transparency-log inclusion proof")
def data_usage(limit: int = Query(500, ge=1, le=5000),
               before: int | None = Query(None, ge=0, description="Only entries older than this log index (the next page)"),
               me: Resident = Depends(resident), platform: Platform = Depends(get_platform)) -> dict:
    return residents.data_usage(IdentityContext.of(platform), platform, me, limit, before)
