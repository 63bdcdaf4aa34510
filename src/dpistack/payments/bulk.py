"""Bulk transfers: up to 1,000 transfers from one payer FSP to one payee FSP, reserved together.

A bulk is all or nothing at prepare: if any of its transfers cannot be reserved (limits,
liquidity, validation) none is, and the payer gets the first reason as ``PUT
/bulkTransfers/{ID}/error``. The payee answers per transfer (a fulfilment or an error); each
fulfilment is checked and committed on its own, and the payer receives the switch's own result
for every transfer (``bulkTransferState`` COMPLETED). Individual transfers are ordinary ledger
transfers (``bulk_id`` set), so checks, settlement and the log treat them alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.payments import callbacks, fspiop, ledger, money
from dpistack.payments.callbacks import Endpoints
from dpistack.payments.models import HUB, BulkTransfer, Transfer
from dpistack.payments.fspiop import body_hash, parse_time

RESOURCE = "bulkTransfers"


def _error(session: Session, platform: Platform, to: str, bulk_id: str, code: str, description: str) -> None:
    callbacks.send_error(session, platform, Endpoints(session, [to]), RESOURCE, to, "BULK_TRANSFER_ERROR",
                         f"/bulkTransfers/{bulk_id}", code, description, id=bulk_id)


def _results(session: Session, bulk_id: str) -> list[dict[str, Any]]:
    out = []
    for t in session.scalars(select(Transfer).where(Transfer.bulk_id == bulk_id).order_by(Transfer.created_at)):
        result: dict[str, Any] = {"transferId": t.id}
        if t.state == "COMMITTED":
            result["fulfilment"] = t.fulfilment
        elif t.state == "ABORTED":
            code, _, text = (t.reason or "5105 Payee FSP rejected transaction").partition(" ")
            result["errorInformation"] = fspiop.error_body(code, text)["errorInformation"]
        out.append(result)
    return out


def state_body(session: Session, bulk: BulkTransfer) -> dict[str, Any]:
    body: dict[str, Any] = {"bulkTransferState": bulk.state, "individualTransferResults": _results(session, bulk.id)}
    if bulk.completed_at:
        body["completedTimestamp"] = iso(bulk.completed_at)
    return body


def _tell(session: Session, platform: Platform, to: str, bulk: BulkTransfer) -> None:
    uri = f"/bulkTransfers/{bulk.id}"
    callbacks.send(session, platform, Endpoints(session, [to]).url(to, "BULK_TRANSFER_PUT", id=bulk.id), "PUT",
                   fspiop.hub_headers(RESOURCE, HUB, to, "PUT", uri), state_body(session, bulk))


def prepare(session: Session, platform: Platform, source: str, body: Any, headers: dict[str, str], raw: bytes) -> None:
    digest, now = body_hash(raw), utcnow()
    existing = session.get(BulkTransfer, body.bulkTransferId)
    if existing is not None:
        if existing.request_hash != digest:
            _error(session, platform, source, body.bulkTransferId, "3106", "Modified request")
        elif existing.state != "ACCEPTED":
            _tell(session, platform, source, existing)
        return
    bulk = BulkTransfer(id=body.bulkTransferId, bulk_quote_id=body.bulkQuoteId, payer=body.payerFsp,
                        payee=body.payeeFsp, state="ACCEPTED", request_hash=digest,
                        expiration=parse_time(body.expiration), created_at=now)
    refusal = None
    if body.payerFsp != source:
        refusal = ("3100", "FSPIOP-Source header should match Payer")
    elif Endpoints(session, [body.payeeFsp]).url(body.payeeFsp, "BULK_TRANSFER_POST") is None:
        refusal = ("3201", f"Destination FSP {body.payeeFsp} has no FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST endpoint")
    items = []
    for t in body.individualTransfers:
        try:
            amount = money.to_minor(t.transferAmount.amount, t.transferAmount.currency)
        except money.MoneyError as exc:
            refusal = refusal or ("3100", f"{t.transferId}: {exc}")
            amount = 0
        items.append(ledger.Prepare(t.transferId, body.payerFsp, body.payeeFsp, t.transferAmount.currency, amount,
                                    t.condition, bulk.expiration, digest, bulk_id=bulk.id))
    if len({i.transfer_id for i in items}) != len(items):
        refusal = refusal or ("3100", "A transfer ID appears twice in the bulk")
    if refusal is None:
        savepoint = session.begin_nested()  # all or nothing
        outcomes = ledger.prepare(session, items, now)
        failed = next((o for o in outcomes if o.kind != "reserved"), None)
        if failed is None:
            savepoint.commit()
        else:
            savepoint.rollback()
            refusal = failed.error or ("3106", f"Individual transfer prepare duplicate: {failed.transfer_id}")
    if refusal is not None:
        bulk.state, bulk.completed_at = "REJECTED", now
        bulk.results = {"error": list(refusal)}
        session.add(bulk)
        session.flush()
        _error(session, platform, source, bulk.id, *refusal)
        return
    session.add(bulk)
    session.flush()
    forwarded = {**headers, "fspiop-destination": body.payeeFsp}
    callbacks.send(session, platform, Endpoints(session, [body.payeeFsp]).url(body.payeeFsp, "BULK_TRANSFER_POST"),
                   "POST", forwarded, raw, forwarded={"resource": RESOURCE, "id": bulk.id, "source": source,
                                                      "destination": body.payeeFsp, "uri": "/bulkTransfers"})


def _finish(session: Session, platform: Platform, bulk: BulkTransfer, fulfils: list[ledger.Fulfil],
            rejects: list[ledger.Reject]) -> None:
    now = utcnow()
    if fulfils:
        ledger.commit(session, fulfils, now)
    if rejects:
        ledger.reject(session, rejects, now)
    bulk.state, bulk.completed_at = "COMPLETED", now
    session.flush()
    _tell(session, platform, bulk.payer, bulk)


def fulfil(session: Session, platform: Platform, source: str, bulk_id: str, body: Any, raw: bytes) -> None:
    bulk = session.scalars(select(BulkTransfer).where(BulkTransfer.id == bulk_id).with_for_update()).first()
    if bulk is None:
        _error(session, platform, source, bulk_id, "3210", "Bulk transfer ID not found")
        return
    if source != bulk.payee:
        _error(session, platform, source, bulk_id, "3100", "Only the payee FSP answers a bulk transfer")
        return
    digest = body_hash(raw)
    if bulk.state != "ACCEPTED":
        if bulk.fulfil_hash == digest:
            _tell(session, platform, source, bulk)
        else:
            _error(session, platform, source, bulk_id, "3100", f"The bulk transfer is {bulk.state}")
        return
    bulk.fulfil_hash = digest
    answers = {r.transferId: r for r in body.individualTransferResults}
    ids = list(session.scalars(select(Transfer.id).where(Transfer.bulk_id == bulk_id)))
    fulfils, rejects = [], []
    for transfer_id in ids:
        answer = answers.get(transfer_id)
        if answer is not None and answer.fulfilment and not answer.errorInformation:
            fulfils.append(ledger.Fulfil(transfer_id, source, None, "COMMITTED", answer.fulfilment, digest))
        elif answer is not None and answer.errorInformation:
            info = answer.errorInformation
            rejects.append(ledger.Reject(transfer_id, source, info.errorCode, info.errorDescription))
        else:
            rejects.append(ledger.Reject(transfer_id, source, "5105", "The payee FSP did not answer this transfer"))
    _finish(session, platform, bulk, fulfils, rejects)


def reject(session: Session, platform: Platform, source: str, bulk_id: str, body: Any, headers: dict[str, str],
           raw: bytes) -> None:
    bulk = session.scalars(select(BulkTransfer).where(BulkTransfer.id == bulk_id).with_for_update()).first()
    if bulk is None or source != bulk.payee:
        _error(session, platform, source, bulk_id, "3210", "Bulk transfer ID not found")
        return
    if bulk.state != "ACCEPTED":
        return
    info = body.errorInformation
    ids = list(session.scalars(select(Transfer.id).where(Transfer.bulk_id == bulk_id)))
    ledger.reject(session, [ledger.Reject(i, source, info.errorCode, info.errorDescription) for i in ids], utcnow())
    bulk.state, bulk.completed_at = "REJECTED", utcnow()
    session.flush()
    endpoints = Endpoints(session, [bulk.payer])
    callbacks.send(session, platform, endpoints.url(bulk.payer, "BULK_TRANSFER_ERROR", id=bulk_id), "PUT", headers,
                   raw)


def answer_get(session: Session, platform: Platform, requester: str, bulk_id: str) -> None:
    bulk = session.get(BulkTransfer, bulk_id)
    if bulk is None or requester not in (bulk.payer, bulk.payee):
        _error(session, platform, requester, bulk_id, "3210", "Bulk transfer ID not found")
    else:
        _tell(session, platform, requester, bulk)


def expired(session: Session, platform: Platform, bulk_ids: set[str], error: tuple[str, str]) -> None:
    """The individual transfers of these bulks expired: the bulk is rejected, both FSPs told once."""
    for bulk_id in bulk_ids:
        bulk = session.get(BulkTransfer, bulk_id)
        if bulk is None or bulk.state != "ACCEPTED":
            continue
        bulk.state, bulk.completed_at = "REJECTED", utcnow()
        for to in (bulk.payer, bulk.payee):
            _error(session, platform, to, bulk_id, *error)
    session.flush()


def _bulk_undeliverable(session: Session, platform: Platform, facts: dict, now: Any) -> None:
    error = ("1001", f"Destination communication error: {facts['destination']} could not be reached")
    ids = list(session.scalars(select(Transfer.id).where(Transfer.bulk_id == facts["id"])))
    ledger.reject(session, [ledger.Reject(i, facts["destination"], *error) for i in ids], now)
    bulk = session.get(BulkTransfer, facts["id"])
    if bulk is not None and bulk.state == "ACCEPTED":
        bulk.state, bulk.completed_at = "REJECTED", now
        _error(session, platform, facts["source"], facts["id"], *error)


callbacks.ON_UNDELIVERABLE[RESOURCE] = _bulk_undeliverable
