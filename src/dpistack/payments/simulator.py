"""A simulated FSP: a separate process that behaves as a real payer or payee FSP towards the switch.

It holds parties (phone numbers with a name and a balance), registers them with the switch's
account lookup, answers ``GET /parties`` and ``POST /quotes`` (building the ILP packet, the
condition from its secret: fulfilment = HMAC-SHA256 over the packet, as Mojaloop's SDK does),
checks and fulfils incoming transfers, and keeps its own books: a payer holds the amount until
the switch says COMMITTED (or releases it on an error); a payee credits on sending its
fulfilment and takes it back if the switch then aborts. ``/sim/*`` lets a test, the demo or
the benchmark drive it: add parties, register them, send money (lookup → quote → transfer),
read its books.

``dpi payments simulate-fsp --name … --port … --switch URL --key FILE``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dpistack.core.timeutil import iso, utcnow
from dpistack.governance import credentials
from dpistack.governance.oauth import JWT_BEARER
from dpistack.payments import fspiop, ilp, money

log = logging.getLogger("dpistack.simulator")
TIMEOUT = 30.0
RETRY_SECONDS = 60.0  # how long a request is sent again while the switch cannot be reached
ASK_AFTER = 5.0  # seconds without a transfer's callback before asking for its state (§9.5)


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content or b"{}")


@dataclass
class Party:
    type: str
    id: str
    name: str
    balance: int  # minor units
    currency: str
    held: int = 0


@dataclass
class Books:
    """The FSP's own view: what it sent and received through the switch, per state."""

    sent: dict[str, dict] = field(default_factory=dict)  # transfer id -> {amount, currency, state, payee_fsp}
    received: dict[str, dict] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        def total(book: dict, state: str) -> dict[str, int]:
            out: dict[str, int] = {}
            for t in book.values():
                if t["state"] == state:
                    out[t["currency"]] = out.get(t["currency"], 0) + t["amount"]
            return out
        return {"sent_committed": total(self.sent, "COMMITTED"), "received_committed": total(self.received, "COMMITTED"),
                "sent_pending": total(self.sent, "PENDING"), "counts": {
                    "sent": len(self.sent), "received": len(self.received)}}


class SimulatedFsp:
    def __init__(self, name: str, key: Any, switch_url: str, secret: bytes, *, answer: str = "COMMITTED"):
        self.name, self.key, self.switch_url, self.secret, self.answer = name, key, switch_url.rstrip("/"), secret, answer
        self.parties: dict[tuple[str, str], Party] = {}
        self.books = Books()
        self.quotes: dict[str, dict] = {}
        self.lookups: dict[tuple[str, str], str] = {}  # party -> FSP (cached, as a real FSP would)
        self.waiting: dict[tuple[str, str], asyncio.Future] = {}
        self._token: tuple[str, float] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._token_lock: asyncio.Lock | None = None

    # -- talking to the switch ------------------------------------------------------------------
    @property
    def http(self) -> aiohttp.ClientSession:
        # aiohttp: ~0.14 ms of CPU a request where httpx took ~4 ms, measured here (a simulator shares the cores)
        if self._http is None:
            self._http = aiohttp.ClientSession(self.switch_url, connector=aiohttp.TCPConnector(limit=256),
                                               timeout=aiohttp.ClientTimeout(total=TIMEOUT),
                                               skip_auto_headers=("Accept",))
        return self._http

    async def token(self) -> str:
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            if self._token is None or self._token[1] < time.time() + 30:
                token_url = f"{self.switch_url}/oauth/token"
                async with self.http.post("/oauth/token", data={
                        "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                        "client_assertion": credentials.client_assertion(self.name, self.key, token_url)}) as r:
                    r.raise_for_status()
                    body = await r.json()
                self._token = (body["access_token"], time.time() + body["expires_in"])
        return self._token[0]

    async def call(self, method: str, path: str, body: Any = None, destination: str | None = None) -> "Answer":
        resource = path.strip("/").split("/")[0].split("?")[0]
        headers = fspiop.request_headers(resource, self.name, destination, method, path)
        headers["authorization"] = f"Bearer {await self.token()}"
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        deadline = time.monotonic() + RETRY_SECONDS
        while True:  # the same request again until the switch takes it: FSPIOP requests are idempotent
            try:
                async with self.http.request(method, f"/fspiop{path}", data=content, headers=headers) as r:
                    answer = Answer(r.status, await r.read())
                if answer.status_code < 500 or time.monotonic() > deadline:
                    break
            except (aiohttp.ClientError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.5)
        if answer.status_code >= 400:
            log.warning("%s %s refused: %s %s", method, path, answer.status_code, answer.content[:300])
        return answer

    def _expect(self, kind: str, key: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[(kind, key)] = future
        return future

    def _settle(self, kind: str, key: str, value: Any) -> None:
        future = self.waiting.pop((kind, key), None)
        if future is not None and not future.done():
            future.set_result(value)

    # -- what the FSP's customers do ------------------------------------------------------------
    def add_party(self, type_: str, id_: str, name: str, balance: str, currency: str) -> Party:
        party = Party(type_, id_, name, money.to_minor(balance, currency), currency)
        self.parties[(type_, id_)] = party
        return party

    async def register(self, party: Party) -> dict:
        waiter = self._expect("participants", f"{party.type}/{party.id}")
        await self.call("POST", f"/participants/{party.type}/{party.id}", {"fspId": self.name, "currency": party.currency})
        return await self._wait(waiter, "registration")

    async def lookup(self, type_: str, id_: str) -> dict:
        pending = self.waiting.get(("parties", f"{type_}/{id_}"))
        if pending is not None:  # someone is asking already: one lookup answers both
            return await self._wait(asyncio.shield(pending), "lookup")
        waiter = self._expect("parties", f"{type_}/{id_}")
        await self.call("GET", f"/parties/{type_}/{id_}")
        return await self._wait(asyncio.shield(waiter), "lookup")

    async def send(self, from_id: str, to_type: str, to_id: str, amount: str, currency: str,
                   note: str | None = None) -> dict:
        """Pay ``to`` from one of our parties: lookup (cached) → quote → transfer → outcome."""
        payer = self.parties[("MSISDN", from_id)]
        steps: dict[str, Any] = {}
        payee_fsp = self.lookups.get((to_type, to_id))
        if payee_fsp is None:
            found = await self.lookup(to_type, to_id)
            if "errorInformation" in found:
                return {"state": "FAILED", "step": "lookup", "error": found["errorInformation"]}
            payee_fsp = self.lookups[(to_type, to_id)] = found["party"]["partyIdInfo"]["fspId"]
            steps["payee"] = found["party"]
        quote_id, transaction_id = str(uuid.uuid4()), str(uuid.uuid4())
        quote_request = {
            "quoteId": quote_id, "transactionId": transaction_id,
            "payee": {"partyIdInfo": {"partyIdType": to_type, "partyIdentifier": to_id, "fspId": payee_fsp}},
            "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": from_id, "fspId": self.name},
                      "name": payer.name},
            "amountType": "SEND", "amount": {"amount": amount, "currency": currency},
            "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
            **({"note": note} if note else {})}
        waiter = self._expect("quotes", quote_id)
        r = await self.call("POST", "/quotes", quote_request, destination=payee_fsp)
        if r.status_code != 202:
            self.waiting.pop(("quotes", quote_id), None)
            return {"state": "FAILED", "step": "quote", "error": r.json().get("errorInformation")}
        quote = await self._wait(waiter, "quote")
        if "errorInformation" in quote:
            return {"state": "FAILED", "step": "quote", "error": quote["errorInformation"]}
        steps["quote"] = quote
        result = await self.transfer(from_id, payee_fsp, quote["transferAmount"]["amount"], currency,
                                     quote["ilpPacket"], quote["condition"])
        return {**result, **steps}

    def quoteless_packet(self, payee_fsp: str, to_id: str, amount: str, currency: str, payee_secret: bytes,
                         from_id: str) -> tuple[str, str]:
        """The packet and condition the payee's quote would have given (benchmark shortcut: the
        payer knows the payee simulator's secret, so no quote is needed in the measured loop)."""
        transaction = {"transactionId": str(uuid.uuid4()), "quoteId": str(uuid.uuid4()),
                       "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": to_id,
                                                 "fspId": payee_fsp}},
                       "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": from_id,
                                                 "fspId": self.name}},
                       "amount": {"amount": amount, "currency": currency},
                       "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"}}
        packet = ilp.encode(money.to_minor(amount, currency),
                            ilp.address(payee_fsp, transaction["payee"]["partyIdInfo"]), transaction)
        return packet, ilp.condition(ilp.fulfilment(payee_secret, packet))

    async def transfer(self, from_id: str, payee_fsp: str, amount: str, currency: str, packet: str,
                       condition: str, expiry_seconds: int = 60) -> dict:
        payer = self.parties[("MSISDN", from_id)]
        minor = money.to_minor(amount, currency)
        if payer.balance - payer.held < minor:
            return {"state": "FAILED", "step": "funds", "error": {"errorCode": "4001",
                                                                  "errorDescription": "insufficient funds"}}
        transfer_id = str(uuid.uuid4())
        payer.held += minor
        self.books.sent[transfer_id] = {"amount": minor, "currency": currency, "state": "PENDING",
                                        "payee_fsp": payee_fsp, "party": from_id}
        waiter = self._expect("transfers", transfer_id)
        started = time.perf_counter()
        r = await self.call("POST", "/transfers", {
            "transferId": transfer_id, "payerFsp": self.name, "payeeFsp": payee_fsp,
            "amount": {"amount": amount, "currency": currency}, "ilpPacket": packet, "condition": condition,
            "expiration": iso(utcnow() + timedelta(seconds=expiry_seconds))}, destination=payee_fsp)
        if r.status_code != 202:
            self._finish_sent(transfer_id, "ABORTED")
            return {"state": "FAILED", "step": "transfer", "transfer_id": transfer_id, "error": r.json().get(
                "errorInformation")}
        outcome = await self._outcome(transfer_id, waiter, time.monotonic() + TIMEOUT + expiry_seconds)
        elapsed = time.perf_counter() - started
        if "errorInformation" in outcome:
            return {"state": "ABORTED", "transfer_id": transfer_id, "error": outcome["errorInformation"],
                    "seconds": elapsed}
        return {"state": outcome.get("transferState"), "transfer_id": transfer_id, "seconds": elapsed,
                "fulfilment": outcome.get("fulfilment")}

    async def _wait(self, waiter: asyncio.Future, what: str) -> dict:
        try:
            return await asyncio.wait_for(waiter, TIMEOUT)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(f"no answer to the {what} in {TIMEOUT:.0f} s") from None

    async def _outcome(self, transfer_id: str, waiter: asyncio.Future, deadline: float) -> dict:
        """The transfer's callback; when it is late, ask the switch (GET) and keep waiting."""
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), ASK_AFTER)
            except asyncio.TimeoutError:
                if time.monotonic() > deadline:
                    raise
                self.waiting[("transfers", transfer_id)] = waiter
                try:
                    await self.call("GET", f"/transfers/{transfer_id}")
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass

    def _finish_sent(self, transfer_id: str, state: str) -> None:
        t = self.books.sent.get(transfer_id)
        if t is None or t["state"] != "PENDING":
            return
        party = self.parties[("MSISDN", t["party"])]
        party.held -= t["amount"]
        if state == "COMMITTED":
            party.balance -= t["amount"]
        t["state"] = state

    # -- what the switch sends us ---------------------------------------------------------------
    async def on_party_get(self, request: Request) -> Response:
        type_, id_ = request.path_params["type"], request.path_params["id"]
        source = request.headers.get("fspiop-source", "")
        party = self.parties.get((type_, id_))
        asyncio.get_running_loop().create_task(self._answer_party(type_, id_, party, source))
        return Response(status_code=202)

    async def _answer_party(self, type_: str, id_: str, party: Party | None, to: str) -> None:
        if party is None:
            await self.call("PUT", f"/parties/{type_}/{id_}/error", fspiop.error_body("3204", "Party not found"), to)
            return
        first, _, last = party.name.partition(" ")
        await self.call("PUT", f"/parties/{type_}/{id_}", {"party": {
            "partyIdInfo": {"partyIdType": type_, "partyIdentifier": id_, "fspId": self.name}, "name": party.name,
            "personalInfo": {"complexName": {"firstName": first, **({"lastName": last} if last else {})}}}}, to)

    async def on_quote(self, request: Request) -> Response:
        body = json.loads(await request.body())
        asyncio.get_running_loop().create_task(self._answer_quote(body, request.headers.get("fspiop-source", "")))
        return Response(status_code=202)

    async def _answer_quote(self, q: dict, to: str) -> None:
        payee = q["payee"]["partyIdInfo"]
        party = self.parties.get((payee["partyIdType"], payee["partyIdentifier"]))
        if party is None or party.currency != q["amount"]["currency"]:
            code = ("3204", "Party not found") if party is None else ("5106", "Payee unsupported currency")
            await self.call("PUT", f"/quotes/{q['quoteId']}/error", fspiop.error_body(*code), to)
            return
        expiration = iso(utcnow() + timedelta(minutes=5))
        transaction = {"transactionId": q["transactionId"], "quoteId": q["quoteId"], "payee": q["payee"],
                       "payer": q["payer"], "amount": q["amount"], "transactionType": q["transactionType"],
                       **({"note": q["note"]} if q.get("note") else {})}
        packet = ilp.encode(ilp.amount_of(q["amount"]), ilp.address(self.name, payee), transaction)
        self.quotes[q["quoteId"]] = {"packet": packet}
        await self.call("PUT", f"/quotes/{q['quoteId']}", {
            "transferAmount": q["amount"], "payeeReceiveAmount": q["amount"], "expiration": expiration,
            "ilpPacket": packet, "condition": ilp.condition(ilp.fulfilment(self.secret, packet))}, to)

    async def on_transfer(self, request: Request) -> Response:
        body = json.loads(await request.body())
        asyncio.get_running_loop().create_task(self._answer_transfer(body))
        return Response(status_code=202)

    async def _answer_transfer(self, t: dict) -> None:
        """As the payee: check the packet against the transfer (§6.7.2.8), fulfil, credit."""
        transfer_id, payer_fsp = t["transferId"], t["payerFsp"]
        known = self.books.received.get(transfer_id)
        if known is not None:  # the switch sent it again (after a crash): the same answer, credited once
            if known.get("answer") is not None:
                await self.call("PUT", f"/transfers/{transfer_id}", known["answer"], payer_fsp)
            return
        try:
            packet = ilp.decode(t["ilpPacket"])
            payee = packet.transaction["payee"]["partyIdInfo"]
            party = self.parties.get((payee["partyIdType"], payee["partyIdentifier"]))
            minor = money.to_minor(t["amount"]["amount"], t["amount"]["currency"])
            problem = None
            if party is None or packet.address != ilp.address(self.name, payee):
                problem = ("3204", "Party not found")
            elif packet.amount != minor or party.currency != t["amount"]["currency"]:
                problem = ("5105", "The ILP packet does not match the transfer")
        except (ValueError, KeyError, money.MoneyError):
            problem, party, minor = ("3100", "Malformed ILP packet"), None, 0
        if problem is not None:
            await self.call("PUT", f"/transfers/{transfer_id}/error", fspiop.error_body(*problem), payer_fsp)
            return
        state = self.answer
        answer = {"fulfilment": ilp.fulfilment(self.secret, t["ilpPacket"]), "completedTimestamp": iso(utcnow()),
                  "transferState": state}
        self.books.received[transfer_id] = {"amount": minor, "currency": t["amount"]["currency"],
                                            "state": "COMMITTED" if state == "COMMITTED" else "RESERVED",
                                            "party": payee["partyIdentifier"], "answer": answer}
        if state == "COMMITTED":
            party.balance += minor  # the payee FSP commits when it releases the fulfilment
        await self.call("PUT", f"/transfers/{transfer_id}", answer, payer_fsp)

    async def on_transfer_put(self, request: Request) -> Response:
        transfer_id = request.path_params["id"]
        body = json.loads(await request.body())
        state = body.get("transferState", "ABORTED")
        if state in ("RECEIVED", "RESERVED"):
            return Response(status_code=200)  # a GET's answer while it is in flight: the outcome is still to come
        if transfer_id in self.books.sent:
            self._finish_sent(transfer_id, state)
        self._settle("transfers", transfer_id, body)
        return Response(status_code=200)

    async def on_transfer_patch(self, request: Request) -> Response:
        transfer_id = request.path_params["id"]
        body = json.loads(await request.body())
        t = self.books.received.get(transfer_id)
        if t is not None and t["state"] == "RESERVED":
            t["state"] = body.get("transferState", "ABORTED")
            if t["state"] == "COMMITTED":
                self.parties[("MSISDN", t["party"])].balance += t["amount"]
        return Response(status_code=200)

    async def on_transfer_error(self, request: Request) -> Response:
        transfer_id = request.path_params["id"]
        body = json.loads(await request.body())
        if body.get("errorInformation", {}).get("errorCode") == "3106":
            return Response(status_code=200)  # about a request of ours sent twice differently, not the transfer's fate
        if transfer_id in self.books.sent:
            self._finish_sent(transfer_id, "ABORTED")
        received = self.books.received.get(transfer_id)
        if received is not None and received["state"] == "COMMITTED":  # the switch aborted after all: take it back
            self.parties[("MSISDN", received["party"])].balance -= received["amount"]
        if received is not None:
            received["state"] = "ABORTED"
        self._settle("transfers", transfer_id, body)
        return Response(status_code=200)

    async def on_callback(self, request: Request) -> Response:
        """PUT answers for lookups, registrations and quotes (and their errors)."""
        parts = request.url.path.strip("/").split("/")
        body = json.loads(await request.body() or b"{}")
        kind = parts[0]
        if parts[-1] == "error":
            parts = parts[:-1]
        key = "/".join(parts[1:3]) if kind in ("parties", "participants") else parts[1]
        if kind == "parties" and "party" in body:
            self.lookups[tuple(parts[1:3])] = body["party"]["partyIdInfo"].get("fspId", "")
        self._settle(kind, key, body)
        return Response(status_code=200)

    # -- the control API ------------------------------------------------------------------------
    async def sim_party(self, request: Request) -> Response:
        b = await request.json()
        party = self.add_party(b.get("type", "MSISDN"), b["id"], b["name"], b["balance"], b["currency"])
        if b.get("register", True):
            answer = await self.register(party)
            if "errorInformation" in answer:
                return JSONResponse(answer, status_code=409)
        return JSONResponse({"type": party.type, "id": party.id}, status_code=201)

    async def sim_send(self, request: Request) -> Response:
        b = await request.json()
        try:
            result = await self.send(b["from"], b.get("to_type", "MSISDN"), b["to"], b["amount"], b["currency"],
                                     b.get("note"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            result = {"state": "UNKNOWN", "error": {"errorCode": "1000", "errorDescription": str(exc)[:120]}}
        return JSONResponse(result)

    async def sim_load(self, request: Request) -> Response:
        """Send transfers from ``from`` to ``to`` at ``payee_fsp`` for ``seconds`` with ``concurrency``
        in flight (the benchmark's load: the lookup is cached, and the packet is the one the payee's
        quote would give, built with ``payee_secret``); each is timed from its prepare to its
        outcome callback."""
        b = await request.json()
        secret = bytes.fromhex(b["payee_secret"])
        deadline = time.monotonic() + float(b["seconds"])
        latencies: list[float] = []
        states: dict[str, int] = {}

        async def worker() -> None:
            while time.monotonic() < deadline:
                packet, condition = self.quoteless_packet(b["payee_fsp"], b["to"], b["amount"], b["currency"], secret,
                                                          b["from"])
                try:
                    result = await self.transfer(b["from"], b["payee_fsp"], b["amount"], b["currency"], packet,
                                                 condition, int(b.get("expiry_seconds", 60)))
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    result = {"state": "UNKNOWN"}
                states[result["state"]] = states.get(result["state"], 0) + 1
                if result["state"] == "COMMITTED":
                    latencies.append(result["seconds"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(int(b["concurrency"]))))
        return JSONResponse({"seconds": time.perf_counter() - started, "states": states,
                             "latencies": sorted(latencies)})

    async def sim_state(self, _request: Request) -> Response:
        return JSONResponse({"name": self.name, "parties": [
            {"type": p.type, "id": p.id, "name": p.name, "balance": money.to_amount(p.balance, p.currency),
             "currency": p.currency} for p in self.parties.values()], "books": self.books.totals()})

    def app(self) -> Starlette:
        routes = [
            Route("/parties/{type}/{id}", self.on_party_get, methods=["GET"]),
            Route("/parties/{type}/{id}", self.on_callback, methods=["PUT"]),
            Route("/parties/{type}/{id}/error", self.on_callback, methods=["PUT"]),
            Route("/participants/{type}/{id}", self.on_callback, methods=["PUT"]),
            Route("/participants/{type}/{id}/error", self.on_callback, methods=["PUT"]),
            Route("/participants/{type}/{id}/{sub}", self.on_callback, methods=["PUT"]),
            Route("/quotes", self.on_quote, methods=["POST"]),
            Route("/quotes/{id}", self.on_callback, methods=["PUT"]),
            Route("/quotes/{id}/error", self.on_callback, methods=["PUT"]),
            Route("/transfers", self.on_transfer, methods=["POST"]),
            Route("/transfers/{id}", self.on_transfer_put, methods=["PUT"]),
            Route("/transfers/{id}", self.on_transfer_patch, methods=["PATCH"]),
            Route("/transfers/{id}/error", self.on_transfer_error, methods=["PUT"]),
            Route("/sim/parties", self.sim_party, methods=["POST"]),
            Route("/sim/send", self.sim_send, methods=["POST"]),
            Route("/sim/state", self.sim_state, methods=["GET"]),
            Route("/sim/load", self.sim_load, methods=["POST"]),
        ]
        return Starlette(routes=routes)


ENDPOINT_PATHS = {
    "FSPIOP_CALLBACK_URL_TRANSFER_POST": "/transfers",
    "FSPIOP_CALLBACK_URL_TRANSFER_PUT": "/transfers/{{transferId}}",
    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR": "/transfers/{{transferId}}/error",
    "FSPIOP_CALLBACK_URL_QUOTES": "",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT": "/participants/{{partyIdType}}/{{partyIdentifier}}",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR": "/participants/{{partyIdType}}/{{partyIdentifier}}/error",
    "FSPIOP_CALLBACK_URL_PARTIES_GET": "/parties/{{partyIdType}}/{{partyIdentifier}}",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT": "/parties/{{partyIdType}}/{{partyIdentifier}}",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR": "/parties/{{partyIdType}}/{{partyIdentifier}}/error",
}


def endpoints_for(base_url: str) -> dict[str, str]:
    """The callback endpoints a simulated FSP at ``base_url`` takes (what the hub operator registers)."""
    return {kind: base_url.rstrip("/") + path for kind, path in ENDPOINT_PATHS.items()}


@contextmanager
def spawn(name: str, port: int, switch: str, data_dir: Path, *, secret: str = "", log: Path | None = None,
          env: dict[str, str] | None = None, start_timeout: float = 60.0) -> Iterator[str]:
    """``dpi payments simulate-fsp`` as a child process until the block ends; yields its base URL
    once its control API answers. What it prints goes to ``log`` (default: beside ``data_dir``)."""
    log = log or data_dir.parent / f"sim-{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dpistack.cli", "payments", "simulate-fsp", "--name", name,
                                 "--port", str(port), "--switch", switch, "--data-dir", str(data_dir),
                                 "--secret", secret or name],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(url + "/sim/state", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the simulated FSP {name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
