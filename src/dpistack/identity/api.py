"""Identity API (``/identity/v1``): enrolment, the deduplication review queue, VIDs and
authentication of people for relying parties."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from dpistack.core.auth import Caller
from dpistack.core.http import direct_post, get_platform
from dpistack.core.platform import Platform
from dpistack.governance.policy import authorize, require
from dpistack.identity import authentication, service, vids
from dpistack.identity.schemas import (
    AuthRequest,
    AuthResult,
    KycRequest,
    KycResult,
    EnrolmentIn,
    EnrolmentOut,
    OtpRequest,
    ReviewDecision,
    ReviewDetail,
    ReviewItem,
    VidOut,
    VidRequest,
)

router = APIRouter(prefix="/identity/v1", tags=["identity"])
PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}
RATE_LIMITED = {**ERRORS, 429: PROBLEM}
EnrolmentId = Path(min_length=1, max_length=36)


# The relying parties' hot paths come first: routes are matched in order.
@direct_post(router, "/authenticate", response_model=AuthResult, responses=RATE_LIMITED,
             summary="Authenticate a person (OTP, demographic, biometric factors): yes/no and a partner token")
async def authenticate(body: AuthRequest, request: Request,
                       caller: Caller = Depends(require("identity:authenticate"))) -> dict:
    platform: Platform = request.app.state.platform
    authentication.check_failure_rate(platform, caller.participant_id)
    result = await authentication.authenticate(platform, service.IdentityContext.of(platform),
                                               caller.participant_id, body)
    authentication.count_failure(platform, caller.participant_id, result)
    return result


@direct_post(router, "/kyc", response_model=KycResult, responses=RATE_LIMITED,
             summary="eKYC: authenticate the person, then return signed the claims policy allows and they consented to")
async def ekyc(body: KycRequest, request: Request, caller: Caller = Depends(require("identity:authenticate"))) -> dict:
    platform: Platform = request.app.state.platform
    authentication.check_failure_rate(platform, caller.participant_id)
    result = await authentication.kyc(platform, service.IdentityContext.of(platform), caller.participant_id, body)
    authentication.count_failure(platform, caller.participant_id, result)
    return result


@router.post("/enrolments", status_code=202, response_model=EnrolmentOut, responses=ERRORS,
             summary="Enrol a person: deduplicate, then issue a UIN, refuse a duplicate, or queue for review")
def enrol(body: EnrolmentIn, caller: Caller = Depends(require("identity:enrol")),
          platform: Platform = Depends(get_platform)) -> JSONResponse:
    ctx = service.IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        enrolment = service.enrol(session, ctx, caller.participant_id, body)
        view = service.enrolment_view(enrolment)
    return JSONResponse(view, status_code=202)


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentOut, responses=ERRORS,
            summary="Status of an enrolment (and its UIN once issued)")
def get_enrolment(enrolment_id: str = EnrolmentId, caller: Caller = Depends(require("identity:enrol")),
                  platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow() as session:
        operator = authorize(session, caller.participant_id, "identity:review").allowed
        return service.enrolment_view(service.get_enrolment(session, enrolment_id, caller.participant_id, operator))


@router.get("/reviews", response_model=list[ReviewItem], responses=ERRORS,
            summary="Enrolments waiting for an operator: possible duplicates")
def reviews(limit: int = Query(100, ge=1, le=1000), caller: Caller = Depends(require("identity:review")),
            platform: Platform = Depends(get_platform)) -> list[dict]:
    with platform.db.uow() as session:
        return [service.review_view(e) for e in service.review_queue(session, limit)]


@router.get("/reviews/{enrolment_id}", response_model=ReviewDetail, responses=ERRORS,
            summary="One enrolment under review beside its possible duplicates (each record opened is logged)")
def review(enrolment_id: str = EnrolmentId, caller: Caller = Depends(require("identity:review")),
           platform: Platform = Depends(get_platform)) -> dict:
    ctx = service.IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:  # write: the accesses are logged with the answer
        return service.review_detail(session, ctx, enrolment_id, caller.participant_id)


@router.post("/reviews/{enrolment_id}", response_model=EnrolmentOut, responses=ERRORS,
             summary="Resolve a review: issue a UIN, mark as duplicate of an existing UIN, or reject")
def resolve(body: ReviewDecision, enrolment_id: str = EnrolmentId,
            caller: Caller = Depends(require("identity:review")), platform: Platform = Depends(get_platform)) -> dict:
    ctx = service.IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        enrolment = service.resolve_review(session, ctx, enrolment_id, caller.participant_id, body.decision,
                                           body.reason, body.duplicate_of)
        return service.enrolment_view(enrolment)


@router.post("/vids", status_code=201, response_model=VidOut, responses=ERRORS,
             summary="Create a VID for a person (at a registration office); their previous one of the type is revoked")
def create_vid(body: VidRequest, caller: Caller = Depends(require("identity:enrol")),
               platform: Platform = Depends(get_platform)) -> dict:
    ctx = service.IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        row = vids.create(session, body.uin, body.vid_type, created_by=caller.participant_id)
        ctx.people.changed(session, body.uin)  # the previous VID of the type is revoked
        service.log_access(session, ctx, body.uin, accessor=caller.participant_id, purpose=f"{body.vid_type} VID created")
        return vids.view(row)


@router.post("/vids/{vid}/revoke", response_model=VidOut, responses=ERRORS, summary="Revoke a VID")
def revoke_vid(vid: str = Path(pattern=r"^[0-9]{16}$"), caller: Caller = Depends(require("identity:enrol")),
               platform: Platform = Depends(get_platform)) -> dict:
    ctx = service.IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        row = vids.revoke(session, vid)
        ctx.people.changed(session, row.uin)
        service.log_access(session, ctx, row.uin, accessor=caller.participant_id, purpose="VID revoked")
        return vids.view(row)


@router.post("/otp", responses=RATE_LIMITED, summary="Send an OTP to the person for one authentication transaction")
def send_otp(body: OtpRequest, caller: Caller = Depends(require("identity:authenticate")),
             platform: Platform = Depends(get_platform)) -> dict:
    authentication.check_otp_rate(platform, caller.participant_id)
    ctx = service.IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        authentication.request_otp(session, ctx, caller.participant_id, body)
    # The same answer whether or not the ID exists: the API must not reveal who is enrolled.
    return {"transaction_id": body.transaction_id,
            "status": "an OTP was sent if the ID is registered with the requested channels"}
