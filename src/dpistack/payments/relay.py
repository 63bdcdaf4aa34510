"""The FSPIOP resources the switch routes between FSPs by ``FSPIOP-Destination``: quotes,
transaction requests (payee-initiated "request to pay"), authorizations, transactions and bulk
quotes. Requests and callbacks are relayed byte for byte (a signature still verifies at the
receiver); a destination that is not an active FSP, or has no endpoint for the resource, gets
the sender ``3201``; a request that cannot be delivered gets it ``1001``.

Quotes are also kept: the quote's condition, ILP packet, transfer amount and expiry, so that the
transfer built from it is checked against it (``transfers.prepare_batch``), and a resend of
the same quote is told apart from a modified one (``3106``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.payments import callbacks, fspiop, ilp, money
from dpistack.payments.callbacks import Endpoints
from dpistack.payments.models import HUB, Quote, SwitchParticipant
from dpistack.payments.fspiop import body_hash, parse_time

# resource -> the endpoint type its messages go to (a base URL the path is appended to)
ENDPOINT = {"quotes": "QUOTES", "transactionRequests": "TRX_REQ_SERVICE", "authorizations": "AUTHORIZATIONS",
            "transactions": "TRANSACTIONS", "bulkQuotes": "BULK_QUOTES"}


def _active(session: Session, name: str | None) -> bool:
    row = session.get(SwitchParticipant, name) if name else None
    return bool(row and row.is_active and name != HUB)


def relay(session: Session, platform: Platform, resource: str, source: str, destination: str | None, method: str,
          path: str, headers: dict[str, str], body: bytes, *, request: bool, object_id: str) -> bool:
    """Route one message to ``destination``; on a bad destination tell the source (``3201``)."""
    endpoints = Endpoints(session, [d for d in (destination, source) if d])
    url = endpoints.base(destination, ENDPOINT[resource], path) if _active(session, destination) else None
    if url is None:
        if destination is None:
            reason = "FSPIOP-Destination is required"
        elif not _active(session, destination):
            reason = f"Destination FSP {destination} is not an active participant"
        else:
            reason = f"Destination FSP {destination} has no FSPIOP_CALLBACK_URL_{ENDPOINT[resource]} endpoint"
        error_path = f"/{resource}/{object_id}/error"
        callbacks.send(session, platform, endpoints.base(source, ENDPOINT[resource], error_path), "PUT",
                       fspiop.hub_headers(resource, HUB, source, "PUT", error_path), fspiop.error_body("3201", reason))
        return False
    facts = {"resource": "relayed", "kind": resource, "id": object_id, "source": source, "destination": destination,
             "uri": path} if request else None
    return callbacks.send(session, platform, url, method, headers, body, forwarded=facts)


def route(session: Session, platform: Platform, resource: str, source: str, destination: str | None, method: str,
          path: str, headers: dict[str, str], body: bytes, request: bool, object_id: str) -> bool:
    """:func:`relay` with positional arguments, as group commit hands them."""
    return relay(session, platform, resource, source, destination, method, path, headers, body, request=request,
                 object_id=object_id)


def _relay_undeliverable(session: Session, platform: Platform, facts: dict, _now: Any) -> None:
    resource, source = facts["kind"], facts["source"]
    endpoints = Endpoints(session, [source])
    error_path = f"/{resource}/{facts['id']}/error"
    callbacks.send(session, platform, endpoints.base(source, ENDPOINT[resource], error_path), "PUT",
                   fspiop.hub_headers(resource, HUB, source, "PUT", error_path),
                   fspiop.error_body("1001", f"{facts['destination']} could not be reached"))
    if resource == "quotes":
        quote = session.get(Quote, facts["id"])
        if quote is not None and quote.state == "REQUESTED":
            quote.state = "REJECTED"


callbacks.ON_UNDELIVERABLE["relayed"] = _relay_undeliverable


# -- quotes ---------------------------------------------------------------------------------------
def post_quote(session: Session, platform: Platform, source: str, destination: str | None, body: Any,
               headers: dict[str, str], raw: bytes) -> None:
    digest = body_hash(raw)
    quote = session.get(Quote, body.quoteId)
    if quote is not None and (quote.request_hash != digest or quote.payer != source):
        endpoints = Endpoints(session, [source])
        path = f"/quotes/{body.quoteId}/error"
        callbacks.send(session, platform, endpoints.base(source, "QUOTES", path), "PUT",
                       fspiop.hub_headers("quotes", HUB, source, "PUT", path),
                       fspiop.error_body("3106", "Modified request: quote ID already used"))
        return
    if quote is None:
        expiration = parse_time(body.expiration) if body.expiration else None
        session.add(Quote(id=body.quoteId, transaction_id=body.transactionId, payer=source, payee=destination or "",
                          request_hash=digest, state="REQUESTED", expiration=expiration, created_at=utcnow()))
        session.flush()
    relay(session, platform, "quotes", source, destination, "POST", "/quotes", headers, raw, request=True,
          object_id=body.quoteId)


def put_quote(session: Session, platform: Platform, source: str, destination: str | None, quote_id: str,
              body: Any | None, headers: dict[str, str], raw: bytes) -> None:
    """The payee's quote (or its refusal, ``body`` None): kept, then relayed to the payer."""
    quote = session.get(Quote, quote_id)
    if quote is not None and quote.payee in (source, "") and quote.state in ("REQUESTED", "QUOTED"):
        if body is None:
            quote.state = "REJECTED"
        else:
            try:
                amount = money.to_minor(body.transferAmount.amount, body.transferAmount.currency)
            except money.MoneyError:
                amount = None
            quote.state, quote.payee, quote.condition = "QUOTED", source, body.condition
            quote.ilp_packet_hash = ilp.packet_hash(body.ilpPacket)
            quote.currency, quote.transfer_amount = body.transferAmount.currency, amount
            quote.expiration = parse_time(body.expiration)
        session.flush()
    path = f"/quotes/{quote_id}" + ("/error" if body is None else "")
    relay(session, platform, "quotes", source, destination, "PUT", path, headers, raw, request=False,
          object_id=quote_id)
