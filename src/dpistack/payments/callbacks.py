"""Callbacks: where each FSP takes them, and how they leave (the core's durable outbox).

Endpoints are the hub operator's ``FSPIOP_CALLBACK_URL_*`` entries, Mustache templates such as
``http://fsp/transfers/{{transferId}}``; the quote, transaction-request and authorization
endpoints are base URLs the resource path is appended to (Mojaloop's convention).

Every message the switch forwards or originates is written to the outbox in the transaction
of the ledger change that caused it, and sent once that commits; a message that cannot be
delivered after its retries dies, and if it was a request forwarded to a peer FSP, the FSP
that sent it gets ``1001 Destination communication error`` (and a reserved transfer is
aborted, its funds released).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from dpistack.core.db import DriverQuery
from dpistack.core.outbox import Channel, Message
from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.payments import fspiop
from dpistack.payments.models import HUB, Endpoint

log = logging.getLogger("dpistack.payments")

CHANNEL = "fspiop"
E = Endpoint.__table__

ENDPOINT_TYPES = (
    "FSPIOP_CALLBACK_URL_TRANSFER_POST", "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST", "FSPIOP_CALLBACK_URL_BULK_TRANSFER_PUT",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_ERROR", "FSPIOP_CALLBACK_URL_QUOTES", "FSPIOP_CALLBACK_URL_BULK_QUOTES",
    "FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE", "FSPIOP_CALLBACK_URL_AUTHORIZATIONS", "FSPIOP_CALLBACK_URL_TRANSACTIONS",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT", "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT", "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT", "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTIES_GET", "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT", "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR", "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
    "NET_DEBIT_CAP_THRESHOLD_BREACH_EMAIL", "NET_DEBIT_CAP_ADJUSTMENT_EMAIL",
    "SETTLEMENT_TRANSFER_POSITION_CHANGE_EMAIL",
)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(template: str, **values: str) -> str:
    """Fill a ``{{name}}`` template; an unknown placeholder is left out (as Mustache does)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), template)


_ENDPOINTS = DriverQuery(select(E.c.participant, E.c.type, E.c.value)
                         .where(E.c.participant.in_(bindparam("names", expanding=True))))


class Endpoints:
    """The endpoints of the FSPs one batch talks to, read once for the batch."""

    def __init__(self, connection: Connection | Session, participants: Iterable[str]):
        if isinstance(connection, Session):
            connection = connection.connection()
        rows = _ENDPOINTS.all(connection, {"names": sorted(set(participants))})
        self._by = {(participant, kind): value for participant, kind, value in rows}

    def url(self, participant: str, kind: str, **values: str) -> str | None:
        template = self._by.get((participant, f"FSPIOP_CALLBACK_URL_{kind}"))
        return render(template, **values) if template else None

    def base(self, participant: str, kind: str, path: str) -> str | None:
        """A base-URL endpoint (quotes, transaction requests, authorizations) with ``path`` appended."""
        template = self._by.get((participant, f"FSPIOP_CALLBACK_URL_{kind}"))
        return template.rstrip("/") + path if template else None


def send(session: Session, platform: Platform, url: str | None, method: str, headers: dict[str, str],
         body: bytes | dict | None, *, forwarded: dict | None = None) -> bool:
    """Queue one FSPIOP message; False when the receiver has no endpoint for it (logged).
    ``forwarded``: the facts of a request relayed to a peer (source, resource, ids), so that its
    death is reported back to the source."""
    if url is None:
        log.warning("no callback endpoint for %s %s to %s", method, headers.get("fspiop-uri"),
                    headers.get("fspiop-destination"))
        return False
    raw = body if isinstance(body, bytes) else (json.dumps(body, separators=(",", ":")).encode() if body is not None else b"")
    platform.outbox.enqueue(session, CHANNEL, method, url, headers, raw, context=forwarded)
    return True


def send_error(session: Session, platform: Platform, endpoints: Endpoints, resource: str, to: str, kind: str,
               path: str, code: str, description: str | None, **values: str) -> bool:
    """An error callback from the hub: ``PUT <path>/error`` with ``errorInformation``."""
    uri = f"{path}/error"
    if kind in ("QUOTES", "BULK_QUOTES", "TRX_REQ_SERVICE", "AUTHORIZATIONS", "TRANSACTIONS"):
        url = endpoints.base(to, kind, uri)
    else:
        url = endpoints.url(to, kind, **values)
    return send(session, platform, url, "PUT", fspiop.hub_headers(resource, HUB, to, "PUT", uri),
                fspiop.error_body(code, description))


def register(platform: Platform) -> None:
    """The outbox channel of FSPIOP messages (at most ~8 s of retries: expirations are ~a minute)."""
    platform.outbox.register(Channel(CHANNEL, max_attempts=5, timeout=5.0, backoff=0.5, on_dead=_undeliverable))


# What to do when a forwarded request dies: set by the services that forward (transfers, quotes …).
ON_UNDELIVERABLE: dict[str, Any] = {}


def _undeliverable(session: Session, platform: Platform, message: Message, error: str) -> None:
    facts = message.context
    if not facts:
        return  # a callback back to its requester: the requester can ask again (GET)
    log.warning("FSPIOP %s %s could not be delivered to %s: %s", message.method, facts.get("uri"),
                facts.get("destination"), error)
    handler = ON_UNDELIVERABLE.get(facts.get("resource", ""))
    if handler is not None:
        handler(session, platform, facts, utcnow())
