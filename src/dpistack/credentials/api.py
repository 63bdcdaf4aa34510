"""The credential issuer's HTTP API (OpenID4VCI 1.0): metadata, nonce endpoint, credential endpoint.

Errors under ``/credentials/v1`` are answered in OpenID4VCI's format (``{"error",
"error_description"}``, §8.3.1): the issuer's own codes (``invalid_proof``, ``invalid_nonce``,
``invalid_credential_request``, ``unknown_credential_configuration``), and RFC 6750's for the
access token (``invalid_token``, ``insufficient_scope``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from dpistack.core.auth import Caller, bearer_token
from dpistack.core.errors import error_format
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.credentials import service
from dpistack.credentials.errors import IssuerError
from dpistack.governance.oauth import GRANT_HANDLERS
from dpistack.governance.policy import require

log = logging.getLogger("dpistack.credentials")
router = APIRouter(tags=["credentials"])
# The wallet redeems a credential offer's code at the platform's token endpoint.
GRANT_HANDLERS[service.PRE_AUTHORIZED_GRANT] = service.redeem_pre_authorized_code
NO_STORE = {"Cache-Control": "no-store"}


class _Error(BaseModel):
    error: str
    error_description: str | None = None


ERRORS = {400: {"model": _Error}, 401: {"model": _Error}, 403: {"model": _Error}}


class Proofs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jwt: list[str] = Field(min_length=1, max_length=service.BATCH_SIZE,
                           description="Proofs of possession of the holder's key (openid4vci-proof+jwt)")


class CredentialRequest(BaseModel):
    credential_configuration_id: str | None = Field(None, max_length=100, examples=[service.CONFIGURATION_ID])
    credential_identifier: str | None = Field(None, max_length=200, description=(
        "One of the credential_identifiers the token response gave (authorization_details); then no "
        "credential_configuration_id"))
    proofs: Proofs | None = None
    kyc: str | None = Field(None, min_length=1, max_length=16_384,
                            description="An issuer agent's request: the kyc+jwt it received from POST "
                                        "/identity/v1/kyc (an extension of OpenID4VCI). A wallet, whose "
                                        "access token came from a credential offer, sends none.")


class TxCodeRequest(BaseModel):
    """The Transaction Code the offer requires (OpenID4VCI 1.0 §4.1.1); the platform makes the code."""

    model_config = ConfigDict(extra="forbid")
    length: int | None = Field(None, ge=service.TX_CODE_LENGTHS.start, le=service.TX_CODE_LENGTHS.stop - 1,
                               description=f"Characters (default {service.TX_CODE_DEFAULT_LENGTH})")
    input_mode: Literal["numeric", "text"] | None = Field(None, description="numeric (default) or text")
    description: str | None = Field(None, min_length=1, max_length=300,
                                    description="Shown by the wallet: where the person finds the code")


class OfferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kyc: str = Field(min_length=1, max_length=16_384, description="The kyc+jwt from POST /identity/v1/kyc")
    tx_code: TxCodeRequest | None = Field(None, description="Require a Transaction Code; the answer's "
                                                            "tx_code_value is the code, to send the person "
                                                            "on another channel")


class CredentialResponse(BaseModel):
    credentials: list[dict]


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(IssuerError)
    async def _issuer_error(request: Request, exc: IssuerError):
        log.info("credential request refused at %s: %s (%s)", request.url.path, exc.error, exc.description)
        headers = dict(NO_STORE)
        if exc.status == 401:
            headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
        return JSONResponse({"error": exc.error, "error_description": exc.description},
                            status_code=exc.status, headers=headers)

    error_format(app, "/credentials/v1", render)


def render(status: int, title: str, detail: str, exc: Exception | None) -> Response:
    """The core's errors (no token, a body that fails the schema, …) in OpenID4VCI's format."""
    headers = dict(NO_STORE)
    if status == 401:
        error = "invalid_token"
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif status == 403:
        error = "insufficient_scope"
    elif status >= 500:
        error = "server_error"
    else:
        error = "invalid_credential_request"
        status = 400 if status == 422 else status  # OpenID4VCI answers a bad request with 400
    return JSONResponse({"error": error, "error_description": detail}, status_code=status, headers=headers)


@router.get("/.well-known/openid-credential-issuer", summary="Credential issuer metadata (OpenID4VCI 1.0 §12.2)")
async def issuer_metadata(platform: Platform = Depends(get_platform)) -> dict:
    return service.metadata(platform)


@router.post("/credentials/v1/nonce", responses=ERRORS, summary="A fresh c_nonce (OpenID4VCI 1.0 §7)")
def nonce(platform: Platform = Depends(get_platform)) -> JSONResponse:
    return JSONResponse({"c_nonce": service.new_nonce(platform)}, headers=NO_STORE)


_agent = require("credentials:issue")


@dataclass
class Wallet:
    """A wallet's request: the person's claims, and what its access token grants (the
    ``authorization_details`` of a token from the authorization-code flow; None for an offer's)."""

    claims: dict
    grants: list | None
    agent_id: str | None = None  # the issuer agent who made the offer (it may revoke the credential)


AS_METADATA_SECONDS = 60


async def _userinfo(request: Request, platform: Platform, token: str) -> str:
    """The provider's signed userinfo answer for the wallet's token, through its public API
    (in process): where userinfo is comes from the RFC 8414 authorization server metadata."""
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=platform.settings.public_url) as http:
        cached = platform.extras.get("credentials_as_metadata")
        if cached is None or cached[0] <= time.monotonic():
            meta = (await http.get("/.well-known/oauth-authorization-server")).json()
            cached = platform.extras["credentials_as_metadata"] = (time.monotonic() + AS_METADATA_SECONDS, meta)
        endpoint = cached[1].get("userinfo_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(platform.settings.public_url.rstrip("/")):
            raise IssuerError("invalid_token", "The authorization server names no userinfo endpoint of this platform.",
                              401)
        answer = await http.get(endpoint[len(platform.settings.public_url.rstrip("/")):],
                                headers={"Authorization": f"Bearer {token}"})
    if answer.status_code != 200:
        try:
            reason = answer.json().get("error_description", "")
        except ValueError:
            reason = ""
        raise IssuerError("invalid_token", f"The authorization server refuses this token: {reason}", 401)
    return answer.text


async def requester(request: Request) -> Caller | Wallet:
    """A wallet with an access token for the credential endpoint (from the authorization-code
    flow: the person's claims from the provider's userinfo; from a credential offer: the
    offer's), else an issuer agent permitted ``credentials:issue`` (its Caller)."""
    platform: Platform = request.app.state.platform
    token = bearer_token(request)
    if service.is_wallet_token(platform, token):
        claims = await run_in_threadpool(service.verify_wallet_token, platform, token)
        if "authorization_details" not in claims:
            offered, agent_id = await run_in_threadpool(service.offer_claims, platform, claims)
            return Wallet(offered, None, agent_id)
        grants = claims["authorization_details"]
        signed = await _userinfo(request, platform, token)
        person = await run_in_threadpool(service.claims_from_userinfo, platform, signed, claims, time.time())
        return Wallet(person, grants if isinstance(grants, list) else [])
    return await _agent(request)


@router.post("/credentials/v1/offers", status_code=201, responses=ERRORS,
             summary="A credential offer with a pre-authorized code, for the person of an eKYC release")
def offer(body: OfferRequest, caller: Caller = Depends(_agent),
          platform: Platform = Depends(get_platform)) -> JSONResponse:
    tx_code = body.tx_code.model_dump() if body.tx_code else None
    return JSONResponse(service.create_offer(platform, caller.participant_id, body.kyc, tx_code), status_code=201,
                        headers=NO_STORE)


@router.post("/credentials/v1/credential", response_model=CredentialResponse, responses=ERRORS,
             summary="Issue SD-JWT VCs bound to the holder's keys (OpenID4VCI 1.0 §8)")
def credential(body: CredentialRequest, who: Caller | Wallet = Depends(requester),
               platform: Platform = Depends(get_platform)) -> JSONResponse:
    proofs = body.proofs.jwt if body.proofs else None
    if isinstance(who, Caller):
        configuration = service.granted_configuration(None, body.credential_configuration_id,
                                                      body.credential_identifier)
        issued = service.issue_credentials(platform, configuration, proofs, agent_id=who.participant_id, kyc=body.kyc)
    else:
        if body.kyc is not None:
            raise IssuerError("invalid_credential_request",
                              "A wallet's request carries no kyc: its access token gives the claims.")
        configuration = service.granted_configuration(who.grants, body.credential_configuration_id,
                                                      body.credential_identifier)
        issued = service.issue_credentials(platform, configuration, proofs, claims=who.claims, agent_id=who.agent_id)
    return JSONResponse({"credentials": [{"credential": c} for c in issued]}, headers=NO_STORE)
