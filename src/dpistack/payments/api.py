"""FSPIOP v1.1 under ``/fspiop``: what FSPs call.

Every request is authenticated (the participant's access token), authorised by Cedar
(``payments:fspiop``, FSPs only), its headers checked (``FSPIOP-Source`` must be the caller),
its ``FSPIOP-Signature`` verified when the FSP registered a signing key, its body checked
against the FSPIOP schema. Then it is accepted (``202``) or, for a callback, acknowledged
(``200``) once what it changed and the messages it causes are durable; the answers travel as
callbacks through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from dpistack.core.auth import Caller
from dpistack.core.errors import error_format
from dpistack.core.http import direct_route
from dpistack.core.platform import Platform
from dpistack.governance.policy import require
from dpistack.payments import admin, callbacks, fspiop, transfers
from dpistack.payments.fspiop import FspiopError
from dpistack.payments.schemas import ErrorInformationObject, TransfersIDPutResponse, TransfersPostRequest
from dpistack.payments.transfers import Inbound

log = logging.getLogger("dpistack.payments")
KEYS_TTL = 2.0  # seconds an FSP's signing keys are remembered by a process


def install_handlers(app: Any) -> None:
    """FSPIOP's error format for the switch's APIs (called by create_app)."""
    async def fspiop_error(_request: Request, exc: FspiopError) -> Response:
        log.info("refused %s: %s", exc.code, exc.description)
        return exc.response()

    app.add_exception_handler(FspiopError, fspiop_error)
    error_format(app, "/fspiop", fspiop.render_error)
    error_format(app, "/payments/admin", fspiop.render_error)


@asynccontextmanager
async def lifespan(app: Any):
    platform: Platform = app.state.platform
    callbacks.register(platform)
    expiry = asyncio.get_running_loop().create_task(_expire_forever(platform))
    yield
    expiry.cancel()


async def _expire_forever(platform: Platform) -> None:
    """Abort reservations past their expiration (every server process; SKIP LOCKED shares the work)."""
    while True:
        try:
            if await platform.group_commit.run_async(transfers.expire_batch) > 0:
                continue
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the database may be away for a moment
            log.exception("expiry sweep failed")
        await asyncio.sleep(transfers.EXPIRY_SECONDS)


router = APIRouter(prefix="/fspiop", tags=["fspiop"], lifespan=lifespan)
FSP = Depends(require("payments:fspiop"))
ERRORS = {code: {"model": ErrorInformationObject} for code in (400, 401, 403, 404, 405, 406, 501, 503)}
ID = Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def signing_keys(platform: Platform, fsp: str) -> list[dict]:
    remembered: dict[str, tuple[list[dict], float]] = platform.extras.setdefault("payments_signing_keys", {})
    hit = remembered.get(fsp)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    with platform.db.uow() as session:
        keys = admin.signing_keys(session, fsp)
    remembered[fsp] = (keys, time.monotonic() + KEYS_TTL)
    return keys


async def accepted(request: Request, resource: str, caller: Caller, *, accept: bool) -> tuple[Platform, bytes]:
    """The checks every FSPIOP request passes before it is taken in."""
    platform: Platform = request.app.state.platform
    fspiop.check_headers(request, resource, caller.participant_id, accept=accept)
    raw = await request.body()
    keys = signing_keys(platform, caller.participant_id)
    if keys:
        fspiop.verify_signature(request, raw, keys, resource)
    elif "fspiop-signature" in request.headers:
        raise FspiopError("3105", "This FSP has no signing key registered with the hub: the signature cannot be "
                          "verified", resource=resource)
    return platform, raw


# -- transfers ------------------------------------------------------------------------------------
@direct_route(router, "POST", "/transfers", status_code=202, responses=ERRORS, summary="Prepare a transfer")
async def post_transfer(body: TransfersPostRequest, request: Request, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "transfers", caller, accept=True)
    inbound = Inbound(fspiop.relayed_headers(request, "POST"), raw)
    await platform.group_commit.run_async_together(transfers.prepare_batch,
                                                   transfers.prepare_item(body, caller.participant_id, inbound))
    return Response(status_code=202)


@direct_route(router, "PUT", "/transfers/{ID}", status_code=200, responses=ERRORS,
              summary="The payee's answer: fulfil (COMMITTED or RESERVED) or abort")
async def put_transfer(body: TransfersIDPutResponse, request: Request, ID: str = ID, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "transfers", caller, accept=False)
    inbound = Inbound(fspiop.relayed_headers(request, "PUT"), raw)
    item = transfers.fulfil_item(ID, body, caller.participant_id, request.headers.get("fspiop-destination"), inbound)
    await platform.group_commit.run_async_together(transfers.fulfil_batch, item)
    return Response(status_code=200)


@direct_route(router, "PUT", "/transfers/{ID}/error", status_code=200, responses=ERRORS,
              summary="The payee cannot perform the transfer")
async def put_transfer_error(body: ErrorInformationObject, request: Request, ID: str = ID,
                             caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "transfers", caller, accept=False)
    inbound = Inbound(fspiop.relayed_headers(request, "PUT"), raw)
    await platform.group_commit.run_async_together(transfers.reject_batch,
                                                   transfers.reject_item(ID, body, caller.participant_id, inbound))
    return Response(status_code=200)


@router.get("/transfers/{ID}", status_code=202, responses=ERRORS, summary="Ask the switch for a transfer's state")
async def get_transfer(request: Request, ID: str = ID, caller: Caller = FSP) -> Response:
    platform, _ = await accepted(request, "transfers", caller, accept=True)
    await platform.group_commit.run_async(transfers.answer_get, caller.participant_id, ID)
    return Response(status_code=202)
