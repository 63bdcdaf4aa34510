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
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from dpistack.core.auth import Caller
from dpistack.core.errors import error_format
from dpistack.core.http import direct_route
from dpistack.core.platform import Platform
from dpistack.governance import credentials
from dpistack.governance.policy import require
from dpistack.payments import admin, bulk, callbacks, fspiop, lookup, relay, transfers
from dpistack.payments.fspiop import FspiopError
from dpistack.payments.interfaces import IdentityUnavailable, IdentityVerifier, PlatformIdentity
from dpistack.payments.lookup import PartyRef
from dpistack.payments.schemas import (
    AuthorizationsIDPutResponse,
    BulkQuotesIDPutResponse,
    BulkQuotesPostRequest,
    BulkTransfersIDPutResponse,
    BulkTransfersPostRequest,
    ErrorInformationObject,
    ParticipantsPostRequest,
    ParticipantsTypeIDSubIDPostRequest,
    PartiesTypeIDPutResponse,
    QuotesIDPutResponse,
    QuotesPostRequest,
    TransactionRequestsIDPutResponse,
    TransactionRequestsPostRequest,
    TransactionsIDPutResponse,
    TransfersIDPutResponse,
    TransfersPostRequest,
)
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
Id = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]


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
async def put_transfer(body: TransfersIDPutResponse, request: Request, ID: Id, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "transfers", caller, accept=False)
    inbound = Inbound(fspiop.relayed_headers(request, "PUT"), raw)
    item = transfers.fulfil_item(ID, body, caller.participant_id, request.headers.get("fspiop-destination"), inbound)
    await platform.group_commit.run_async_together(transfers.fulfil_batch, item)
    return Response(status_code=200)


@direct_route(router, "PUT", "/transfers/{ID}/error", status_code=200, responses=ERRORS,
              summary="The payee cannot perform the transfer")
async def put_transfer_error(body: ErrorInformationObject, request: Request, ID: Id,
                             caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "transfers", caller, accept=False)
    inbound = Inbound(fspiop.relayed_headers(request, "PUT"), raw)
    await platform.group_commit.run_async_together(transfers.reject_batch,
                                                   transfers.reject_item(ID, body, caller.participant_id, inbound))
    return Response(status_code=200)


@router.get("/transfers/{ID}", status_code=202, responses=ERRORS, summary="Ask the switch for a transfer's state")
async def get_transfer(request: Request, ID: Id, caller: Caller = FSP) -> Response:
    platform, _ = await accepted(request, "transfers", caller, accept=True)
    await platform.group_commit.run_async(transfers.answer_get, caller.participant_id, ID)
    return Response(status_code=202)


# -- account lookup ---------------------------------------------------------------------------------
PartyType = Annotated[str, Path(pattern=r"^(MSISDN|EMAIL|PERSONAL_ID|BUSINESS|DEVICE|ACCOUNT_ID|IBAN|ALIAS)$")]
PartyId = Annotated[str, Path(min_length=1, max_length=128)]
Currency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")]


async def _register(request: Request, party: PartyRef, body: ParticipantsTypeIDSubIDPostRequest, caller: Caller) -> Response:
    platform, _ = await accepted(request, "participants", caller, accept=True)
    source, refusal = caller.participant_id, None
    if body.fspId != source:
        refusal = ("3100", "fspId must be the FSP sending the request (FSPIOP-Source)")
    elif party.is_national_id:
        refusal = await _verify_national_id(platform, request, party, body)
    await platform.group_commit.run_async(lookup.answer_register, source, party, body.fspId, body.currency, refusal)
    return Response(status_code=202)


async def _verify_national_id(platform: Platform, request: Request, party: PartyRef,
                              body: ParticipantsTypeIDSubIDPostRequest) -> tuple[str, str] | None:
    """A national ID becomes an alias only if identity confirms it names the person the FSP describes."""
    demographics = lookup.national_id_demographics(body.extensionList.model_dump()["extension"]
                                                    if body.extensionList else None)
    if demographics is None:
        return "3003", "A national ID alias needs the holder's firstName, lastName and dateOfBirth (extensionList)"
    verifier = identity_verifier(platform, request.app)
    if verifier is None:
        return "3003", "National ID aliases are not enabled: the switch has no relying-party account with identity"
    id_type = "VID" if len(party.id) == 16 else "UIN"
    try:
        if not await verifier.verify(party.id, id_type, demographics):
            return "3003", "The identity authority does not confirm this national ID for this person"
    except IdentityUnavailable as exc:
        log.warning("national ID alias not verified: %s", exc)
        return "2003", "The identity system cannot be reached; try again later"
    return None


def identity_verifier(platform: Platform, app: Any) -> IdentityVerifier | None:
    """The switch's relying-party account with identity (``DPI_PAYMENTS_IDENTITY_CLIENT``: a participant
    onboarded with the ``relying-party`` role whose development key is in the data directory)."""
    verifier = platform.extras.get("payments_identity")
    if verifier is None:
        client_id = platform.settings.payments_identity_client
        key = credentials.load_private_jwk(platform.settings.data_dir, client_id) if client_id else None
        if key is None:
            return None
        verifier = platform.extras["payments_identity"] = PlatformIdentity(
            client_id, key, platform.settings.public_url, transport=httpx.ASGITransport(app=app))
    return verifier


@router.post("/participants/{Type}/{ID}/{SubId}", status_code=202, responses=ERRORS,
             summary="Register which FSP holds a party (with a sub-id or sub-type)")
async def register_party_sub(body: ParticipantsTypeIDSubIDPostRequest, request: Request, Type: PartyType,
                             ID: PartyId, SubId: PartyId, caller: Caller = FSP) -> Response:
    return await _register(request, PartyRef(Type, ID, SubId), body, caller)


@router.post("/participants/{Type}/{ID}", status_code=202, responses=ERRORS, summary="Register which FSP holds a party")
async def register_party(body: ParticipantsTypeIDSubIDPostRequest, request: Request, Type: PartyType,
                         ID: PartyId, caller: Caller = FSP) -> Response:
    return await _register(request, PartyRef(Type, ID), body, caller)


async def _lookup(request: Request, party: PartyRef, currency: str | None, caller: Caller, delete: bool) -> Response:
    platform, _ = await accepted(request, "participants", caller, accept=True)
    answer = lookup.answer_delete if delete else lookup.answer_lookup
    await platform.group_commit.run_async(answer, caller.participant_id, party, currency)
    return Response(status_code=202)


@router.get("/participants/{Type}/{ID}/{SubId}", status_code=202, responses=ERRORS, summary="Which FSP holds a party")
async def lookup_party_sub(request: Request, Type: PartyType, ID: PartyId, SubId: PartyId,
                           currency: Currency = None, caller: Caller = FSP) -> Response:
    return await _lookup(request, PartyRef(Type, ID, SubId), currency, caller, delete=False)


@router.get("/participants/{Type}/{ID}", status_code=202, responses=ERRORS, summary="Which FSP holds a party")
async def lookup_party(request: Request, Type: PartyType, ID: PartyId, currency: Currency = None,
                       caller: Caller = FSP) -> Response:
    return await _lookup(request, PartyRef(Type, ID), currency, caller, delete=False)


@router.delete("/participants/{Type}/{ID}/{SubId}", status_code=202, responses=ERRORS,
               summary="Remove a party the FSP holds")
async def delete_party_sub(request: Request, Type: PartyType, ID: PartyId, SubId: PartyId,
                           currency: Currency = None, caller: Caller = FSP) -> Response:
    return await _lookup(request, PartyRef(Type, ID, SubId), currency, caller, delete=True)


@router.delete("/participants/{Type}/{ID}", status_code=202, responses=ERRORS, summary="Remove a party the FSP holds")
async def delete_party(request: Request, Type: PartyType, ID: PartyId, currency: Currency = None,
                       caller: Caller = FSP) -> Response:
    return await _lookup(request, PartyRef(Type, ID), currency, caller, delete=True)


@router.post("/participants", status_code=202, responses=ERRORS, summary="Register many parties at once")
async def register_parties(body: ParticipantsPostRequest, request: Request, caller: Caller = FSP) -> Response:
    platform, _ = await accepted(request, "participants", caller, accept=True)
    party_list = [p.model_dump(exclude_none=True) for p in body.partyList]
    await platform.group_commit.run_async(lookup.answer_batch, caller.participant_id, body.requestId, party_list,
                                          body.currency)
    return Response(status_code=202)


# -- parties ----------------------------------------------------------------------------------------
async def _party_get(request: Request, party: PartyRef, caller: Caller) -> Response:
    platform, _ = await accepted(request, "parties", caller, accept=True)
    await platform.group_commit.run_async(lookup.route_party_get, caller.participant_id,
                                          request.headers.get("fspiop-destination") or None, party,
                                          fspiop.relayed_headers(request, "GET"))
    return Response(status_code=202)


async def _party_put(request: Request, party: PartyRef, caller: Caller, error: bool) -> Response:
    platform, raw = await accepted(request, "parties", caller, accept=False)
    destination = _destination(request, "parties")
    await platform.group_commit.run_async(lookup.relay_party_answer, destination, party, error,
                                          fspiop.relayed_headers(request, "PUT"), raw)
    return Response(status_code=200)


def _destination(request: Request, resource: str) -> str:
    destination = request.headers.get("fspiop-destination")
    if not destination:
        raise FspiopError("3102", "FSPIOP-Destination is required on a callback", resource=resource)
    return destination


@router.put("/parties/{Type}/{ID}/error", status_code=200, responses=ERRORS, summary="The party lookup failed")
async def party_error(body: ErrorInformationObject, request: Request, Type: PartyType, ID: PartyId,
                      caller: Caller = FSP) -> Response:
    return await _party_put(request, PartyRef(Type, ID), caller, error=True)


@router.put("/parties/{Type}/{ID}/{SubId}/error", status_code=200, responses=ERRORS, summary="The party lookup failed")
async def party_sub_error(body: ErrorInformationObject, request: Request, Type: PartyType, ID: PartyId,
                          SubId: PartyId, caller: Caller = FSP) -> Response:
    return await _party_put(request, PartyRef(Type, ID, SubId), caller, error=True)


@router.get("/parties/{Type}/{ID}/{SubId}", status_code=202, responses=ERRORS, summary="Ask the holding FSP about a party")
async def get_party_sub(request: Request, Type: PartyType, ID: PartyId, SubId: PartyId,
                        caller: Caller = FSP) -> Response:
    return await _party_get(request, PartyRef(Type, ID, SubId), caller)


@router.get("/parties/{Type}/{ID}", status_code=202, responses=ERRORS, summary="Ask the holding FSP about a party")
async def get_party(request: Request, Type: PartyType, ID: PartyId, caller: Caller = FSP) -> Response:
    return await _party_get(request, PartyRef(Type, ID), caller)


@router.put("/parties/{Type}/{ID}/{SubId}", status_code=200, responses=ERRORS, summary="The holding FSP's answer")
async def put_party_sub(body: PartiesTypeIDPutResponse, request: Request, Type: PartyType, ID: PartyId,
                        SubId: PartyId, caller: Caller = FSP) -> Response:
    return await _party_put(request, PartyRef(Type, ID, SubId), caller, error=False)


@router.put("/parties/{Type}/{ID}", status_code=200, responses=ERRORS, summary="The holding FSP's answer")
async def put_party(body: PartiesTypeIDPutResponse, request: Request, Type: PartyType, ID: PartyId,
                    caller: Caller = FSP) -> Response:
    return await _party_put(request, PartyRef(Type, ID), caller, error=False)


# -- quotes, transaction requests, authorizations, transactions, bulk quotes (routed) ---------------
async def _route(request: Request, resource: str, caller: Caller, object_id: str, *, request_: bool) -> Response:
    method = request.method
    platform, raw = await accepted(request, resource, caller, accept=method in ("GET", "POST", "DELETE"))
    path = request.url.path.split("/fspiop", 1)[1] + (f"?{request.url.query}" if request.url.query else "")
    destination = request.headers.get("fspiop-destination") or None
    await platform.group_commit.run_async(relay.route, resource, caller.participant_id, destination, method, path,
                                          fspiop.relayed_headers(request, method), raw, request_, object_id)
    return Response(status_code=200 if method == "PUT" else 202)


@router.post("/quotes", status_code=202, responses=ERRORS, summary="Ask the payee FSP for a quote")
async def post_quote(body: QuotesPostRequest, request: Request, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "quotes", caller, accept=True)
    await platform.group_commit.run_async(relay.post_quote, caller.participant_id,
                                          request.headers.get("fspiop-destination") or None, body,
                                          fspiop.relayed_headers(request, "POST"), raw)
    return Response(status_code=202)


@router.get("/quotes/{ID}", status_code=202, responses=ERRORS, summary="Ask the payee FSP for a quote again")
async def get_quote(request: Request, ID: Id, caller: Caller = FSP) -> Response:
    return await _route(request, "quotes", caller, ID, request_=True)


@router.put("/quotes/{ID}/error", status_code=200, responses=ERRORS, summary="The payee FSP refuses the quote")
async def quote_error(body: ErrorInformationObject, request: Request, ID: Id, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "quotes", caller, accept=False)
    await platform.group_commit.run_async(relay.put_quote, caller.participant_id, _destination(request, "quotes"), ID,
                                          None, fspiop.relayed_headers(request, "PUT"), raw)
    return Response(status_code=200)


@router.put("/quotes/{ID}", status_code=200, responses=ERRORS, summary="The payee FSP's quote")
async def put_quote(body: QuotesIDPutResponse, request: Request, ID: Id, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "quotes", caller, accept=False)
    await platform.group_commit.run_async(relay.put_quote, caller.participant_id, _destination(request, "quotes"), ID,
                                          body, fspiop.relayed_headers(request, "PUT"), raw)
    return Response(status_code=200)


@router.post("/transactionRequests", status_code=202, responses=ERRORS,
             summary="A payee asks the payer's FSP to pay (request to pay)")
async def post_transaction_request(body: TransactionRequestsPostRequest, request: Request,
                                   caller: Caller = FSP) -> Response:
    return await _route(request, "transactionRequests", caller, body.transactionRequestId, request_=True)


@router.get("/transactionRequests/{ID}", status_code=202, responses=ERRORS, summary="A transaction request's state")
async def get_transaction_request(request: Request, ID: Id, caller: Caller = FSP) -> Response:
    return await _route(request, "transactionRequests", caller, ID, request_=True)


@router.put("/transactionRequests/{ID}/error", status_code=200, responses=ERRORS,
            summary="The payer's FSP cannot handle the request")
async def transaction_request_error(body: ErrorInformationObject, request: Request, ID: Id,
                                    caller: Caller = FSP) -> Response:
    return await _route(request, "transactionRequests", caller, ID, request_=False)


@router.put("/transactionRequests/{ID}", status_code=200, responses=ERRORS, summary="The payer's FSP's answer")
async def put_transaction_request(body: TransactionRequestsIDPutResponse, request: Request, ID: Id,
                                  caller: Caller = FSP) -> Response:
    return await _route(request, "transactionRequests", caller, ID, request_=False)


@router.get("/authorizations/{ID}", status_code=202, responses=ERRORS,
            summary="The payer's FSP asks the payee's device for the payer's OTP or QR code")
async def get_authorization(request: Request, ID: Id,
                            authenticationType: str = Query(pattern=r"^(OTP|QRCODE)$"),
                            retriesLeft: str = Query(pattern=r"^[1-9]\d*$"),
                            amount: str = Query(pattern=r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$"),
                            currency: str = Query(pattern=r"^[A-Z]{3}$"), caller: Caller = FSP) -> Response:
    return await _route(request, "authorizations", caller, ID, request_=True)


@router.put("/authorizations/{ID}/error", status_code=200, responses=ERRORS, summary="The authorization failed")
async def authorization_error(body: ErrorInformationObject, request: Request, ID: Id,
                              caller: Caller = FSP) -> Response:
    return await _route(request, "authorizations", caller, ID, request_=False)


@router.put("/authorizations/{ID}", status_code=200, responses=ERRORS, summary="The payer's OTP or QR code, or refusal")
async def put_authorization(body: AuthorizationsIDPutResponse, request: Request, ID: Id,
                            caller: Caller = FSP) -> Response:
    return await _route(request, "authorizations", caller, ID, request_=False)


@router.get("/transactions/{ID}", status_code=202, responses=ERRORS, summary="Ask the payee FSP about a transaction")
async def get_transaction(request: Request, ID: Id, caller: Caller = FSP) -> Response:
    return await _route(request, "transactions", caller, ID, request_=True)


@router.put("/transactions/{ID}/error", status_code=200, responses=ERRORS, summary="The transaction query failed")
async def transaction_error(body: ErrorInformationObject, request: Request, ID: Id,
                            caller: Caller = FSP) -> Response:
    return await _route(request, "transactions", caller, ID, request_=False)


@router.put("/transactions/{ID}", status_code=200, responses=ERRORS, summary="The payee FSP's transaction details")
async def put_transaction(body: TransactionsIDPutResponse, request: Request, ID: Id,
                          caller: Caller = FSP) -> Response:
    return await _route(request, "transactions", caller, ID, request_=False)


@router.post("/bulkQuotes", status_code=202, responses=ERRORS, summary="Ask the payee FSP for quotes in bulk")
async def post_bulk_quote(body: BulkQuotesPostRequest, request: Request, caller: Caller = FSP) -> Response:
    return await _route(request, "bulkQuotes", caller, body.bulkQuoteId, request_=True)


@router.get("/bulkQuotes/{ID}", status_code=202, responses=ERRORS, summary="Ask for a bulk quote again")
async def get_bulk_quote(request: Request, ID: Id, caller: Caller = FSP) -> Response:
    return await _route(request, "bulkQuotes", caller, ID, request_=True)


@router.put("/bulkQuotes/{ID}/error", status_code=200, responses=ERRORS, summary="The payee FSP refuses the bulk quote")
async def bulk_quote_error(body: ErrorInformationObject, request: Request, ID: Id,
                           caller: Caller = FSP) -> Response:
    return await _route(request, "bulkQuotes", caller, ID, request_=False)


@router.put("/bulkQuotes/{ID}", status_code=200, responses=ERRORS, summary="The payee FSP's bulk quote")
async def put_bulk_quote(body: BulkQuotesIDPutResponse, request: Request, ID: Id,
                         caller: Caller = FSP) -> Response:
    return await _route(request, "bulkQuotes", caller, ID, request_=False)


# -- bulk transfers (on the ledger) ---------------------------------------------------------------
@router.post("/bulkTransfers", status_code=202, responses=ERRORS, summary="Prepare a bulk transfer (all or nothing)")
async def post_bulk_transfer(body: BulkTransfersPostRequest, request: Request, caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "bulkTransfers", caller, accept=True)
    await platform.group_commit.run_async(bulk.prepare, caller.participant_id, body,
                                          fspiop.relayed_headers(request, "POST"), raw)
    return Response(status_code=202)


@router.get("/bulkTransfers/{ID}", status_code=202, responses=ERRORS, summary="A bulk transfer's state")
async def get_bulk_transfer(request: Request, ID: Id, caller: Caller = FSP) -> Response:
    platform, _ = await accepted(request, "bulkTransfers", caller, accept=True)
    await platform.group_commit.run_async(bulk.answer_get, caller.participant_id, ID)
    return Response(status_code=202)


@router.put("/bulkTransfers/{ID}/error", status_code=200, responses=ERRORS, summary="The payee FSP refuses the bulk")
async def bulk_transfer_error(body: ErrorInformationObject, request: Request, ID: Id,
                              caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "bulkTransfers", caller, accept=False)
    await platform.group_commit.run_async(bulk.reject, caller.participant_id, ID, body,
                                          fspiop.relayed_headers(request, "PUT"), raw)
    return Response(status_code=200)


@router.put("/bulkTransfers/{ID}", status_code=200, responses=ERRORS, summary="The payee FSP's results per transfer")
async def put_bulk_transfer(body: BulkTransfersIDPutResponse, request: Request, ID: Id,
                            caller: Caller = FSP) -> Response:
    platform, raw = await accepted(request, "bulkTransfers", caller, accept=False)
    await platform.group_commit.run_async(bulk.fulfil, caller.participant_id, ID, body, raw)
    return Response(status_code=200)
