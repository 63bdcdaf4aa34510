"""The VC-API (W3C CCG Verifiable Credentials API) for W3C VC 2.0 with Data Integrity, and the
Bitstring Status Lists.

The paths are VC-API's own, at the root: ``POST /credentials/issue``, ``POST
/credentials/verify``, ``POST /presentations/verify``; next to them ``POST
/credentials/status`` (VC-API's status update) and ``GET /credentials/status/{list}`` (the
status list credentials); and ``GET /credentials/v1/status-lists/{list}``, the same lists as
IETF Token Status Lists (``application/statuslist+jwt``) for the SD-JWT VCs. None clashes with the OpenID4VCI routes under ``/credentials/v1``.
Issuing and changing a status need a participant permitted ``credentials:issue`` (the
``credential-issuer`` role); verifying is open, keeps nothing and answers VC-API's
``{verified, checks, warnings, errors}`` (HTTP 200, ``verified: false`` with one error per
failure, each with a ``code``). A body that fails the schema gets problem+json.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from dpistack.core.auth import Caller
from dpistack.core.errors import Problem
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.credentials import service, statuslist, vc
from dpistack.credentials.vcerrors import MalformedStatus
from dpistack.governance.policy import require

router = APIRouter(tags=["credentials (VC-API)"])
_issuer = require("credentials:issue")


class IssueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issuer: str | None = Field(None, max_length=300, description="The platform's did:key (default) or did:web")


class IssueRequest(BaseModel):
    credential: dict[str, Any]
    options: IssueOptions = IssueOptions()


class VerifyOptions(BaseModel):
    model_config = ConfigDict(extra="allow")


class VerifyCredentialRequest(BaseModel):
    verifiableCredential: dict[str, Any]
    options: VerifyOptions = VerifyOptions()


class PresentationOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    challenge: str | None = Field(None, max_length=500)
    domain: str | None = Field(None, max_length=500)


class VerifyPresentationRequest(BaseModel):
    verifiablePresentation: dict[str, Any]
    options: PresentationOptions = PresentationOptions()


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["BitstringStatusListEntry"] = "BitstringStatusListEntry"
    statusPurpose: Literal["revocation", "suspension"]
    status: bool = Field(description="true sets the bit (revoked / suspended), false clears a suspension")


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credentialId: str = Field(max_length=200)
    credentialStatus: list[StatusChange] = Field(min_length=1, max_length=2)


class VerificationResult(BaseModel):
    verified: bool
    checks: list[str]
    warnings: list[dict]
    errors: list[dict]


@router.post("/credentials/issue", status_code=201, summary="Issue a W3C VC 2.0 signed with eddsa-rdfc-2022 (VC-API)")
def issue(body: IssueRequest, caller: Caller = Depends(_issuer), platform: Platform = Depends(get_platform)) -> JSONResponse:
    credential = dict(body.credential)
    if body.options.issuer is not None:
        if credential.get("issuer") not in (None, body.options.issuer):
            raise vc.BadCredentialRequest("options.issuer and the credential's issuer differ.")
        credential["issuer"] = body.options.issuer
    signed = vc.issue(platform, credential, None, caller.participant_id)
    return JSONResponse({"verifiableCredential": signed}, status_code=201)


@router.post("/credentials/verify", response_model=VerificationResult,
             summary="Verify a W3C VC 2.0 (Data Integrity proof, issuer, validity, status) (VC-API)")
def verify_credential(body: VerifyCredentialRequest, platform: Platform = Depends(get_platform)) -> dict:
    return vc.verify_credential(platform, body.verifiableCredential)


@router.post("/presentations/verify", summary="Verify a W3C VP 2.0 and its credentials (VC-API)")
def verify_presentation(body: VerifyPresentationRequest, platform: Platform = Depends(get_platform)) -> dict:
    return vc.verify_presentation(platform, body.verifiablePresentation, body.options.challenge, body.options.domain)


@router.post("/credentials/status", summary="Revoke, suspend or unsuspend a credential this issuer issued (VC-API)")
def update_status(body: StatusRequest, caller: Caller = Depends(_issuer),
                  platform: Platform = Depends(get_platform)) -> dict:
    for change in body.credentialStatus:
        try:
            found = statuslist.set_status(platform, body.credentialId, caller.participant_id,
                                          change.statusPurpose, change.status)
        except MalformedStatus as exc:
            raise Problem(exc.detail, status=400, title="Bad status change") from None
        if not found:
            raise Problem(f"You issued no credential {body.credentialId!r}.", status=404, title="Not found")
    return {"credentialId": body.credentialId,
            "credentialStatus": [c.model_dump() for c in body.credentialStatus]}


@router.get("/credentials/status/{list_name}", summary="A Bitstring Status List credential of this platform")
def status_list(list_name: str, platform: Platform = Depends(get_platform)) -> JSONResponse:
    list_id, _, purpose = list_name.rpartition("-")
    document = (vc.status_list_credential(platform, list_id, purpose)
                if purpose in statuslist.PURPOSES and len(list_id) == 32 else None)
    if document is None:
        raise Problem(f"No status list {list_name!r}.", status=404, title="Not found")
    return JSONResponse(document, media_type="application/vc", headers={"Cache-Control": "max-age=60"})


@router.get("/credentials/v1/status-lists", summary="The URIs of this platform's Token Status Lists (for offline verifiers)")
def token_status_lists(platform: Platform = Depends(get_platform)) -> dict:
    return {"status_lists": statuslist.token_list_urls(platform)}


@router.get("/credentials/v1/status-lists/{list_id}", response_class=Response,
            summary="A Token Status List of this platform's SD-JWT VCs (IETF, statuslist+jwt)",
            responses={200: {"content": {statuslist.TOKEN_MEDIA_TYPE: {"schema": {"type": "string"}}},
                             "description": "A JWT (typ statuslist+jwt) signed with the issuer's ES256 key"}})
def token_status_list(list_id: str, platform: Platform = Depends(get_platform)) -> Response:
    token = (statuslist.signed_token_list(platform, list_id, service.issuer_id(platform), service.signing_key(platform))
             if len(list_id) == 32 and list_id.isalnum() else None)
    if token is None:
        raise Problem(f"No status list {list_id!r}.", status=404, title="Not found")
    return Response(token, media_type=statuslist.TOKEN_MEDIA_TYPE,
                    headers={"Cache-Control": f"max-age={statuslist.TOKEN_TTL}"})


@router.get("/.well-known/did.json", summary="This platform's did:web DID document (Ed25519 Multikeys)")
def did_document(platform: Platform = Depends(get_platform)) -> JSONResponse:
    return JSONResponse(vc.own_did_document(platform), media_type="application/did+json")


