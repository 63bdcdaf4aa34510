"""The consent API (``/consent/v1``): data consumers request consents, people approve, reject,
revoke and list theirs, and the information mediator checks one before an exchange."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from dpistack.core.auth import Caller, bearer_token, verify_access_token
from dpistack.core.errors import Unauthorized
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.consent import service
from dpistack.consent.errors import NotAParty
from dpistack.consent.schemas import ConsentCheck, ConsentRequest
from dpistack.consent.tokens import person_of
from dpistack.governance.policy import require

router = APIRouter(prefix="/consent/v1", tags=["consent"])
PROBLEM = {"content": {"application/problem+json": {}}}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}
ConsentId = Path(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$")


def person(request: Request, platform: Platform = Depends(get_platform)) -> str:
    """The person (pseudonym) named by a person token from the residents' API."""
    sub = person_of(platform, bearer_token(request))
    if sub is None:
        raise Unauthorized("This needs the person's token (POST /resident/v1/consent-token after logging in).")
    return sub


def party(request: Request, platform: Platform = Depends(get_platform)) -> tuple[str, str]:
    """("person", pseudonym) or ("participant", id), whichever the token names."""
    token = bearer_token(request)
    sub = person_of(platform, token)
    if sub is not None:
        return "person", sub
    return "participant", verify_access_token(platform, token).participant_id


@router.post("/consents", status_code=201, responses=ERRORS, summary="Request a consent (the data consumer)")
def request_consent(body: ConsentRequest, caller: Caller = Depends(require("consent:request")),
                    platform: Platform = Depends(get_platform)) -> dict:
    with platform.db.uow(write=True) as session:
        result = service.request_consent(session, platform, caller.participant_id, body)
    return {"id": result["artefact"]["consentId"], "status": "REQUESTED", "revision": 1, **result}


@router.get("/consents", responses=ERRORS, summary="The consents I am party to (a person or a participant)")
def list_consents(who: tuple[str, str] = Depends(party), platform: Platform = Depends(get_platform)) -> list[dict]:
    kind, sub = who
    with platform.db.uow() as session:
        return service.list_for_person(session, sub) if kind == "person" else \
            service.list_for_participant(session, sub)


@router.get("/consents/{consent_id}", responses=ERRORS, summary="One consent, its current signed revision")
def get_consent(consent_id: str = ConsentId, who: tuple[str, str] = Depends(party),
                platform: Platform = Depends(get_platform)) -> dict:
    kind, sub = who
    with platform.db.uow() as session:
        return service.get_for_person(session, consent_id, sub) if kind == "person" else \
            service.get_for_participant(session, consent_id, sub)


@router.get("/consents/{consent_id}/revisions", responses=ERRORS, summary="Every signed revision, hash-chained")
def get_revisions(consent_id: str = ConsentId, who: tuple[str, str] = Depends(party),
                  platform: Platform = Depends(get_platform)) -> list[dict]:
    kind, sub = who
    with platform.db.uow() as session:
        (service.get_for_person if kind == "person" else service.get_for_participant)(session, consent_id, sub)
        return [{"revision": r.revision, "artefact": r.artefact.decode(), "signature": r.jws, "hash": r.hash}
                for r in service.revisions(session, consent_id)]


def _person_action(action):
    def endpoint(consent_id: str = ConsentId, principal: str = Depends(person),
                 platform: Platform = Depends(get_platform)) -> dict:
        with platform.db.uow(write=True) as session:
            result = action(session, platform, consent_id, principal)
        return {"id": consent_id, "status": result["artefact"]["status"],
                "revision": result["artefact"]["revision"], **result}
    return endpoint


router.add_api_route("/consents/{consent_id}/approve", _person_action(service.approve), methods=["POST"],
                     responses=ERRORS, summary="Approve a requested consent (the person)", name="approve")
router.add_api_route("/consents/{consent_id}/reject", _person_action(service.reject), methods=["POST"],
                     responses=ERRORS, summary="Reject a requested consent (the person)", name="reject")
router.add_api_route("/consents/{consent_id}/revoke", _person_action(service.revoke), methods=["POST"],
                     responses=ERRORS, summary="Revoke an active consent (the person)", name="revoke")


@router.post("/check", responses=ERRORS, summary="May this exchange happen under this consent, now?")
async def check(body: ConsentCheck, request: Request) -> dict:
    """Asked by the information mediator on the consumer's behalf (with the consumer's own
    access token): a participant may check only consents in which it is the consumer. Never
    cached: a revocation is in force for the next request."""
    platform: Platform = request.app.state.platform
    caller = verify_access_token(platform, bearer_token(request))
    if caller.participant_id != body.consumer:
        raise NotAParty(caller.participant_id)

    def run() -> dict:
        with platform.db.uow(write=True) as session:  # counts the use (fetch type, frequency)
            return service.check_exchange(session, body.consent_id, body.consumer, body.provider, body.service,
                                          body.purpose)

    return await run_in_threadpool(run)
