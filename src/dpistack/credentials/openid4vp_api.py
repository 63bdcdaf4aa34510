"""The OpenID4VP verifier's HTTP API (see :mod:`dpistack.credentials.openid4vp`).

* ``POST /credentials/v1/presentation-requests`` — a relying party (``credentials:verify``)
  sends a DCQL query; 201 with the Authorization Request by value and as an ``openid4vp://``
  link.
* ``POST /credentials/v1/presentations/{id}/response`` — the Response URI: the wallet posts
  ``vp_token`` and ``state`` form-encoded (``direct_post``); 200 ``{}`` or 400
  ``{error, error_description}``.
* ``GET /credentials/v1/presentation-requests/{id}`` — the relying party reads the outcome.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from dpistack.core.auth import Caller
from dpistack.core.http import get_platform
from dpistack.core.platform import Platform
from dpistack.credentials import openid4vp, sdjwt
from dpistack.governance.policy import require

router = APIRouter(tags=["credentials"])
NO_STORE = {"Cache-Control": "no-store"}
_rp = require("credentials:verify")
MAX_FIELD = 5 * sdjwt.MAX_PRESENTATION_CHARS


class _Error(BaseModel):
    error: str
    error_description: str | None = None


class PresentationRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dcql_query: dict[str, Any] = Field(description="A DCQL query (OpenID4VP 1.0 §6) of dc+sd-jwt credentials")


def _error(exc: openid4vp.VerifierError) -> JSONResponse:
    return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status,
                        headers=NO_STORE)


@router.post("/credentials/v1/presentation-requests", status_code=201, responses={400: {"model": _Error}},
             summary="Ask a wallet for a presentation (OpenID4VP 1.0, direct_post)")
def create(body: PresentationRequestIn, caller: Caller = Depends(_rp),
           platform: Platform = Depends(get_platform)) -> JSONResponse:
    try:
        made = openid4vp.create_request(platform, caller.participant_id, body.dcql_query)
    except openid4vp.VerifierError as exc:
        return _error(exc)
    return JSONResponse(made, status_code=201, headers=NO_STORE)


@router.get("/credentials/v1/presentation-requests/{request_id}", responses={404: {"model": _Error}},
            summary="The outcome of a presentation request")
def read(request_id: str, caller: Caller = Depends(_rp), platform: Platform = Depends(get_platform)) -> JSONResponse:
    try:
        return JSONResponse(openid4vp.outcome(platform, caller.participant_id, request_id[:36]), headers=NO_STORE)
    except openid4vp.VerifierError as exc:
        return _error(exc)


@router.post("/credentials/v1/presentations/{request_id}/response", responses={400: {"model": _Error}},
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                 "type": "object", "properties": {"vp_token": {"type": "string"}, "state": {"type": "string"},
                                                  "error": {"type": "string"},
                                                  "error_description": {"type": "string"}}}}}}},
             summary="Response URI: the wallet's Authorization Response (direct_post)")
async def response(request_id: str, request: Request) -> JSONResponse:
    platform: Platform = request.app.state.platform
    try:
        form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_FIELD)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    except Exception:  # noqa: BLE001 - Starlette raises several kinds for a bad body
        return _error(openid4vp.VerifierError("invalid_request", "The response must be form-encoded."))
    try:
        answer = await run_in_threadpool(openid4vp.receive_response, platform, request_id[:36], fields)
    except openid4vp.VerifierError as exc:
        return _error(exc)
    return JSONResponse(answer, headers=NO_STORE)
