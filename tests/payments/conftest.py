"""A scheme on the switch for tests: the hub's accounts, FSPs onboarded by governance and put on
the switch by the payments regulator, and a real HTTP receiver standing in for the FSPs'
callback endpoints (what the switch sends arrives over loopback, as in production)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dpistack.core.server import serve_in_thread
from dpistack.core.timeutil import iso, utcnow
from dpistack.payments import fspiop, ilp

ADMIN = "/payments/admin"


class Receiver:
    """Records every request the switch sends to the FSPs' endpoints (``/<fsp>/<path>``)."""

    def __init__(self):
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.status = 200

        async def handle(request: Request) -> Response:
            body = await request.body()
            fsp, _, path = request.url.path.lstrip("/").partition("/")
            with self.lock:
                self.received.append({"fsp": fsp, "method": request.method, "path": "/" + path,
                                      "headers": dict(request.headers), "raw": body,
                                      "body": json.loads(body) if body else None})
            return Response(status_code=self.status)

        self.app = Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])

    def messages(self, fsp: str | None = None, path: str | None = None, method: str | None = None) -> list[dict]:
        with self.lock:
            return [m for m in self.received if fsp in (None, m["fsp"]) and path in (None, m["path"])
                    and method in (None, m["method"])]

    def wait(self, fsp: str | None = None, path: str | None = None, method: str | None = None, count: int = 1,
             seconds: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.messages(fsp, path, method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"no {method} {path} for {fsp} after {seconds} s; got {self.received}")


@pytest.fixture
def receiver():
    r = Receiver()
    with serve_in_thread(r.app) as url:
        r.url = url
        yield r


ENDPOINTS = {
    "FSPIOP_CALLBACK_URL_TRANSFER_POST": "/transfers",
    "FSPIOP_CALLBACK_URL_TRANSFER_PUT": "/transfers/{{transferId}}",
    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR": "/transfers/{{transferId}}/error",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST": "/bulkTransfers",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_PUT": "/bulkTransfers/{{id}}",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_ERROR": "/bulkTransfers/{{id}}/error",
    "FSPIOP_CALLBACK_URL_QUOTES": "",
    "FSPIOP_CALLBACK_URL_BULK_QUOTES": "",
    "FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE": "",
    "FSPIOP_CALLBACK_URL_AUTHORIZATIONS": "",
    "FSPIOP_CALLBACK_URL_TRANSACTIONS": "",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT": "/participants/{{partyIdType}}/{{partyIdentifier}}",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR": "/participants/{{partyIdType}}/{{partyIdentifier}}/error",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT":
        "/participants/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR":
        "/participants/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}/error",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT": "/participants/{{requestId}}",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR": "/participants/{{requestId}}/error",
    "FSPIOP_CALLBACK_URL_PARTIES_GET": "/parties/{{partyIdType}}/{{partyIdentifier}}",
    "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET": "/parties/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT": "/parties/{{partyIdType}}/{{partyIdentifier}}",
    "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT": "/parties/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR": "/parties/{{partyIdType}}/{{partyIdentifier}}/error",
    "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR":
        "/parties/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}/error",
}


class Scheme:
    """The hub operator (the central bank) and the FSPs of one test."""

    def __init__(self, actors, receiver, currency: str = "USD"):
        self.actors, self.receiver, self.currency = actors, receiver, currency
        self.hub = actors("central-bank")
        for kind in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
            r = self.hub.post(f"{ADMIN}/participants/Hub/accounts", json={"currency": currency, "type": kind})
            assert r.status_code == 201, r.text

    def fsp(self, name: str, *, ndc: str = "1000", funds: str = "1000"):
        client = self.actors.onboard(name, "bank", ["fsp"], ["central-bank"])
        r = self.hub.post(f"{ADMIN}/participants", json={"name": name, "currency": self.currency})
        assert r.status_code == 201, r.text
        r = self.hub.post(f"{ADMIN}/participants/{name}/initialPositionAndLimits", json={
            "currency": self.currency, "limit": {"type": "NET_DEBIT_CAP", "value": float(ndc)}, "initialPosition": 0})
        assert r.status_code == 201, r.text
        for kind, path in ENDPOINTS.items():
            r = self.hub.post(f"{ADMIN}/participants/{name}/endpoints",
                              json={"type": kind, "value": f"{self.receiver.url}/{name}{path}"})
            assert r.status_code == 201, r.text
        if funds:
            self.fund(name, funds)
        return client

    def account(self, name: str, kind: str) -> dict:
        accounts = self.hub.get(f"{ADMIN}/participants/{name}/accounts").json()
        return next(a for a in accounts if a["ledgerAccountType"] == kind and a["currency"] == self.currency)

    def fund(self, name: str, amount: str) -> None:
        settlement = self.account(name, "SETTLEMENT")
        r = self.hub.post(f"{ADMIN}/participants/{name}/accounts/{settlement['id']}", json={
            "transferId": str(uuid.uuid4()), "externalReference": "deposit", "action": "recordFundsIn",
            "reason": "collateral", "amount": {"amount": amount, "currency": self.currency}})
        assert r.status_code == 202, r.text

    def position(self, name: str) -> dict:
        return self.account(name, "POSITION")


def send(fsp, method: str, path: str, body=None, *, destination: str | None = None, headers: dict | None = None,
         raw: bytes | None = None):
    """An FSPIOP request from ``fsp`` (a ParticipantClient) with the headers FSPIOP wants."""
    resource = path.strip("/").split("/")[0]
    base = fspiop.request_headers(resource, fsp.id, destination, method, path)
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    return fsp.http.request(method, f"/fspiop{path}", content=content,
                            headers={**fsp.headers, **base, **(headers or {})})


SECRET = b"payee-secret"


def transfer_body(payer: str, payee: str, amount: str = "10", currency: str = "USD", *, seconds: int = 60,
                  transfer_id: str | None = None) -> tuple[dict, str]:
    """A POST /transfers body built as a payer FSP would from a quote, and its fulfilment."""
    transaction = {"transactionId": str(uuid.uuid4()), "quoteId": str(uuid.uuid4()),
                   "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "2557001", "fspId": payee}},
                   "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "2557002", "fspId": payer}},
                   "amount": {"amount": amount, "currency": currency},
                   "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"}}
    packet = ilp.encode(int(float(amount) * 100), ilp.address(payee, transaction["payee"]["partyIdInfo"]), transaction)
    fulfilment = ilp.fulfilment(SECRET, packet)
    return {"transferId": transfer_id or str(uuid.uuid4()), "payerFsp": payer, "payeeFsp": payee,
            "amount": {"amount": amount, "currency": currency}, "ilpPacket": packet,
            "condition": ilp.condition(fulfilment), "expiration": iso(utcnow() + timedelta(seconds=seconds))}, fulfilment


@pytest.fixture
def scheme(actors, receiver):
    return Scheme(actors, receiver)
