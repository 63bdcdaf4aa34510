"""FSPIOP transfers on the switch: prepare, fulfil, reject, look up, expire.

The HTTP layer checks headers and the body's schema, then hands each request to one of the
``*_batch`` functions through the core's group commit (``run_async_together``): the requests
of a burst share one transaction, one look-up of their accounts and one commit, and each is
answered (202 / 200) only once its reservation or commit, and the callbacks it causes, are
durable. The callbacks are sent after the commit by the outbox; the ledger never waits for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.platform import Platform
from dpistack.core.timeutil import as_utc, iso, utcnow
from dpistack.payments import bulk, callbacks, fspiop, ilp, ledger, money
from dpistack.payments.callbacks import Endpoints
from dpistack.payments.fspiop import body_hash, parse_time
from dpistack.payments.ledger import Fulfil, Outcome, Prepare, Reject
from dpistack.payments.models import HUB, Quote

RESOURCE = "transfers"
Q = Quote.__table__


@dataclass(slots=True)
class Inbound:
    """A request as it arrived: relayed to the peer byte for byte, with its FSPIOP headers."""

    headers: dict[str, str]
    body: bytes


def state_body(t: dict[str, Any]) -> dict[str, Any]:
    """``PUT /transfers/{ID}`` from the switch's ledger (a GET's answer, a resend, a commit notice)."""
    body: dict[str, Any] = {"transferState": t["state"]}
    if t.get("completed_at"):
        body["completedTimestamp"] = iso(t["completed_at"])
    if t["state"] == "COMMITTED" and t.get("fulfilment"):
        body["fulfilment"] = t["fulfilment"]
    return body


def _tell(session: Session, platform: Platform, endpoints: Endpoints, to: str, t: dict[str, Any]) -> None:
    uri = f"/transfers/{t['id']}"
    callbacks.send(session, platform, endpoints.url(to, "TRANSFER_PUT", transferId=t["id"]), "PUT",
                   fspiop.hub_headers(RESOURCE, HUB, to, "PUT", uri), state_body(t))


def _error(session: Session, platform: Platform, endpoints: Endpoints, to: str, transfer_id: str,
           error: tuple[str, str]) -> None:
    callbacks.send_error(session, platform, endpoints, RESOURCE, to, "TRANSFER_ERROR", f"/transfers/{transfer_id}",
                         error[0], error[1], transferId=transfer_id)


# -- prepare ------------------------------------------------------------------------------------
def prepare_item(body: Any, source: str, inbound: Inbound) -> tuple[Prepare, Inbound]:
    """The ledger command of a ``POST /transfers`` whose schema held (Mojaloop's validations
    that need no database are decided here; a refusal is still recorded against the ID)."""
    refusal = None
    try:
        amount = money.to_minor(body.amount.amount, body.amount.currency)
    except money.MoneyError as exc:
        amount, refusal = 0, (ledger.GENERIC_VALIDATION, str(exc))
    if body.payerFsp != source:
        refusal = (ledger.GENERIC_VALIDATION, "FSPIOP-Source header should match Payer")
    item = Prepare(transfer_id=body.transferId, payer=body.payerFsp, payee=body.payeeFsp,
                   currency=body.amount.currency, amount=amount, condition=body.condition,
                   expiration=parse_time(body.expiration), request_hash=body_hash(inbound.body), refusal=refusal)
    return item, inbound


def _quote_refusal(quote: Any, item: Prepare, ilp_packet_hash: str, now: datetime) -> tuple[str, str] | None:
    """A transfer built from a quote the switch relayed must be that quote's (spec §6.7.2.3)."""
    if quote.expiration is not None and as_utc(quote.expiration) <= now:
        return "3302", "Quote expired"
    if (quote.payer, quote.payee) != (item.payer, item.payee):
        return ledger.GENERIC_VALIDATION, "The transfer's FSPs are not the quote's"
    if (quote.currency, quote.transfer_amount) != (item.currency, item.amount):
        return ledger.GENERIC_VALIDATION, "The transfer amount is not the quote's transferAmount"
    if quote.ilp_packet_hash != ilp_packet_hash:
        return ledger.GENERIC_VALIDATION, "The ILP packet is not the quote's"
    return None


def prepare_batch(session: Session, platform: Platform, items: list[tuple[Prepare, Inbound]]) -> list[Outcome]:
    now = utcnow()
    commands = [p for p, _ in items]
    endpoints = Endpoints(session, [n for p, i in items for n in (p.payer, p.payee, i.headers["fspiop-source"])])
    quotes = {q.condition: q for q in session.execute(select(Q).where(
        Q.c.condition.in_([p.condition for p in commands]), Q.c.state == "QUOTED"))}
    for p, inbound in items:
        if endpoints.url(p.payee, "TRANSFER_POST") is None:
            p.late_refusal = ("3201", f"Destination FSP {p.payee} has no FSPIOP_CALLBACK_URL_TRANSFER_POST endpoint")
        quote = quotes.get(p.condition)
        if p.late_refusal is None and quote is not None:
            packet = json.loads(inbound.body).get("ilpPacket", "")
            p.quote_id = quote.id
            p.late_refusal = _quote_refusal(quote, p, ilp.packet_hash(packet), now)
    outcomes = ledger.prepare(session, commands, now)
    for (p, inbound), outcome in zip(items, outcomes):
        if outcome.kind == "reserved":
            headers = {**inbound.headers, "fspiop-destination": p.payee}
            callbacks.send(session, platform, endpoints.url(p.payee, "TRANSFER_POST"), "POST", headers, inbound.body,
                           forwarded={"resource": RESOURCE, "id": p.transfer_id, "source": p.payer,
                                      "destination": p.payee, "uri": "/transfers"})
        elif outcome.error is not None:  # to the sender, whoever the body names as payer
            _error(session, platform, endpoints, inbound.headers["fspiop-source"], p.transfer_id, outcome.error)
        elif outcome.kind == "resend":
            _tell(session, platform, endpoints, inbound.headers["fspiop-source"], outcome.transfer)
    return outcomes


# -- fulfil, reject -------------------------------------------------------------------------------
def fulfil_item(transfer_id: str, body: Any, source: str, destination: str | None,
                inbound: Inbound) -> tuple[Fulfil, Inbound]:
    return Fulfil(transfer_id, source, destination, body.transferState, body.fulfilment,
                  body_hash(inbound.body)), inbound


def fulfil_batch(session: Session, platform: Platform, items: list[tuple[Fulfil, Inbound]]) -> list[Outcome]:
    now = utcnow()
    outcomes = ledger.commit(session, [f for f, _ in items], now)
    parties = [n for o in outcomes if o.transfer for n in (o.transfer["payer"], o.transfer["payee"])]
    endpoints = Endpoints(session, parties + [f.sender for f, _ in items])
    for (f, inbound), o in zip(items, outcomes):
        t = o.transfer
        if o.kind == "committed" and not o.notify_payee:
            # the payee's own callback, relayed as it came (its signature still verifies)
            callbacks.send(session, platform, endpoints.url(t["payer"], "TRANSFER_PUT", transferId=t["id"]), "PUT",
                           inbound.headers, inbound.body)
        elif o.kind == "committed":
            # it answered RESERVED: the payer hears COMMITTED from the switch, the payee gets the PATCH
            _tell(session, platform, endpoints, t["payer"], t)
            uri = f"/transfers/{t['id']}"
            callbacks.send(session, platform, endpoints.url(t["payee"], "TRANSFER_PUT", transferId=t["id"]), "PATCH",
                           fspiop.hub_headers(RESOURCE, HUB, t["payee"], "PATCH", uri),
                           {"completedTimestamp": iso(t["completed_at"]), "transferState": "COMMITTED"})
        elif o.kind == "aborted" and o.error is None:  # the payee answered ABORTED: relayed
            callbacks.send(session, platform, endpoints.url(t["payer"], "TRANSFER_PUT", transferId=t["id"]), "PUT",
                           inbound.headers, inbound.body)
        elif o.kind == "aborted":
            _error(session, platform, endpoints, t["payer"], t["id"], o.error)
            _error(session, platform, endpoints, t["payee"], t["id"], o.error)
        elif o.kind == "refused":
            _error(session, platform, endpoints, f.sender, f.transfer_id, o.error)
        elif o.kind == "resend":
            _tell(session, platform, endpoints, f.sender, t)
    return outcomes


def reject_item(transfer_id: str, body: Any, source: str, inbound: Inbound) -> tuple[Reject, Inbound]:
    info = body.errorInformation
    return Reject(transfer_id, source, info.errorCode, info.errorDescription), inbound


def reject_batch(session: Session, platform: Platform, items: list[tuple[Reject, Inbound]]) -> list[Outcome]:
    outcomes = ledger.reject(session, [r for r, _ in items], utcnow())
    endpoints = Endpoints(session, [o.transfer["payer"] for o in outcomes if o.transfer] + [r.sender for r, _ in items])
    for (r, inbound), o in zip(items, outcomes):
        if o.kind == "aborted":
            callbacks.send(session, platform, endpoints.url(o.transfer["payer"], "TRANSFER_ERROR",
                                                            transferId=r.transfer_id),
                           "PUT", inbound.headers, inbound.body)
        elif o.kind == "refused":
            _error(session, platform, endpoints, r.sender, r.transfer_id, o.error)
    return outcomes


# -- look-up, expiry, undeliverable ---------------------------------------------------------------
def answer_get(session: Session, platform: Platform, requester: str, transfer_id: str) -> None:
    """``GET /transfers/{ID}``: the switch answers from its ledger (Mojaloop's behaviour)."""
    t = ledger.get_transfer(session, transfer_id)
    endpoints = Endpoints(session, [requester])
    if t is None:
        _error(session, platform, endpoints, requester, transfer_id, ("3208", "Transfer ID not found"))
    elif requester not in (t["payer"], t["payee"]):
        _error(session, platform, endpoints, requester, transfer_id, ("3000", "Not a party to this transfer"))
    else:
        _tell(session, platform, endpoints, requester, t)


def expire_batch(session: Session, platform: Platform, limit: int = 1000) -> int:
    """Abort what has expired; both FSPs get ``3303`` (the payee had the prepare)."""
    outcomes = ledger.expire(session, utcnow(), limit)
    if outcomes:
        _notify_both(session, platform, outcomes)
    return len(outcomes)


def _notify_both(session: Session, platform: Platform, outcomes: list[Outcome]) -> None:
    endpoints = Endpoints(session, [n for o in outcomes for n in (o.transfer["payer"], o.transfer["payee"])])
    bulks = {o.transfer["bulk_id"] for o in outcomes if o.transfer.get("bulk_id")}
    if bulks:  # a bulk's transfers expire together: its FSPs hear it once, as the bulk's error
        bulk.expired(session, platform, bulks, outcomes[0].error)
    for o in outcomes:
        if o.transfer.get("bulk_id"):
            continue
        _error(session, platform, endpoints, o.transfer["payer"], o.transfer_id, o.error)
        _error(session, platform, endpoints, o.transfer["payee"], o.transfer_id, o.error)


def _prepare_undeliverable(session: Session, platform: Platform, facts: dict, now: datetime) -> None:
    """The payee could not be reached with the prepare: release the funds, tell the payer 1001."""
    error = ("1001", f"Destination communication error: {facts['destination']} could not be reached")
    outcomes = ledger.reject(session, [Reject(facts["id"], facts["destination"], *error)], now)
    if outcomes[0].kind == "aborted":
        endpoints = Endpoints(session, [facts["source"]])
        _error(session, platform, endpoints, facts["source"], facts["id"], error)


callbacks.ON_UNDELIVERABLE[RESOURCE] = _prepare_undeliverable

EXPIRY_SECONDS = 0.5  # how often each server process looks for expired reservations
