"""Account lookup: which FSP holds a party (``/participants``), and the ``/parties`` requests routed
to it.

The oracle keeps, per party id type, only a keyed blind index of the identifier (a phone number
is personal data: it is never stored in the clear) and the FSP holding it, optionally per
currency. An alias belongs to one FSP: another FSP cannot take it over until the holder deletes
it. A national ID (``PERSONAL_ID`` with ``NATIONAL_ID_CARD`` or ``NATIONAL_REGISTRATION``)
becomes an alias only after the identity system confirmed, through its relying-party API, that
the number is the person the registering FSP names (``firstName``, ``lastName``,
``dateOfBirth`` in the request's extension list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dpistack.core.crypto import blind_index
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.governance.models import Participant
from dpistack.payments import callbacks, fspiop
from dpistack.payments.callbacks import Endpoints
from dpistack.payments.models import HUB, PartyLink, SwitchParticipant

NATIONAL_ID_TYPES = ("NATIONAL_ID_CARD", "NATIONAL_REGISTRATION")
L = PartyLink.__table__


@dataclass(frozen=True)
class PartyRef:
    type: str
    id: str
    sub_id: str | None = None

    @property
    def path(self) -> str:
        return f"/{self.type}/{self.id}" + (f"/{self.sub_id}" if self.sub_id else "")

    @property
    def is_national_id(self) -> bool:
        return self.type == "PERSONAL_ID" and self.sub_id in NATIONAL_ID_TYPES

    def values(self) -> dict[str, str]:
        return {"partyIdType": self.type, "partyIdentifier": self.id, "partySubIdOrType": self.sub_id or ""}

    def info(self, fsp: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"partyIdType": self.type, "partyIdentifier": self.id}
        if self.sub_id:
            out["partySubIdOrType"] = self.sub_id
        if fsp:
            out["fspId"] = fsp
        return out


def party_key(platform: Platform, party: PartyRef) -> str:
    secret = platform.extras.get("payments_party_key")
    if secret is None:
        secret = platform.extras["payments_party_key"] = platform.keys.derived_secret("payments:party-index")
    return blind_index(secret, f"{party.type}\x00{party.id}\x00{party.sub_id or ''}", purpose="payments:party")


class Refused(Exception):
    def __init__(self, code: str, description: str):
        super().__init__(description)
        self.code, self.description = code, description


def holders(session: Session, platform: Platform, party: PartyRef, currency: str | None) -> list[str]:
    """The FSPs holding ``party`` (for ``currency`` when given: an alias for any currency counts)."""
    currencies = ["", currency] if currency else None
    query = select(L.c.fsp).where(L.c.key == party_key(platform, party))
    if currencies:
        query = query.where(L.c.currency.in_(currencies))
    active = select(SwitchParticipant.name).where(SwitchParticipant.is_active.is_(True))
    return sorted(set(session.scalars(query.where(L.c.fsp.in_(active)))))


def accounts_of(session: Session, platform: Platform, party: PartyRef) -> list[dict[str, Any]]:
    """Where ``party`` resolves on the switch: each (FSP, currency) holding it, with the FSP's
    name in the participant registry and since when (an alias for any currency has ``None``)."""
    rows = session.execute(select(L.c.fsp, L.c.currency, L.c.created_at, SwitchParticipant.is_active)
                           .join(SwitchParticipant, SwitchParticipant.name == L.c.fsp)
                           .where(L.c.key == party_key(platform, party)).order_by(L.c.fsp, L.c.currency)).all()
    names = dict(session.execute(select(Participant.id, Participant.name)
                                 .where(Participant.id.in_({r.fsp for r in rows}))).all()) if rows else {}
    return [{"fspId": r.fsp, "fspName": names.get(r.fsp, r.fsp), "currency": r.currency or None,
             "active": bool(r.is_active), "since": iso(r.created_at)} for r in rows]


def register(session: Session, platform: Platform, party: PartyRef, fsp: str, currency: str | None) -> None:
    key = party_key(platform, party)
    rows = session.execute(select(L.c.fsp, L.c.currency).where(L.c.key == key)).all()
    taken = [r.fsp for r in rows if r.fsp != fsp and (not currency or r.currency in ("", currency))]
    if taken:
        raise Refused("3003", "The party is already registered with another FSP; it must delete it first")
    if any(r.fsp == fsp and r.currency == (currency or "") for r in rows):
        return  # registered already: registering again changes nothing
    session.add(PartyLink(key=key, currency=currency or "", party_id_type=party.type, fsp=fsp, created_at=utcnow()))
    session.flush()


def remove(session: Session, platform: Platform, party: PartyRef, fsp: str, currency: str | None) -> None:
    key = party_key(platform, party)
    query = delete(L).where(L.c.key == key, L.c.fsp == fsp)
    if currency:
        query = query.where(L.c.currency == currency)
    if session.execute(query).rowcount == 0:
        raise Refused("3040", "Delete Party information error: only the FSP holding the party can delete it")


def national_id_demographics(extensions: list[dict] | None) -> dict[str, str] | None:
    """The holder's name and birth date the registering FSP vouches for (from its KYC)."""
    values = {e["key"]: e["value"] for e in extensions or []}
    if not all(values.get(k) for k in ("firstName", "lastName", "dateOfBirth")):
        return None
    return {"given": values["firstName"], "family": values["lastName"], "birth_date": values["dateOfBirth"]}


# -- the callbacks ---------------------------------------------------------------------------------
def _participants_callback(session: Session, platform: Platform, to: str, party: PartyRef, body: dict | None,
                           error: tuple[str, str] | None) -> None:
    endpoints = Endpoints(session, [to])
    kind = "PARTICIPANT_SUB_ID_PUT" if party.sub_id else "PARTICIPANT_PUT"
    uri = f"/participants{party.path}"
    if error:
        callbacks.send(session, platform, endpoints.url(to, kind + "_ERROR", **party.values()), "PUT",
                       fspiop.hub_headers("participants", HUB, to, "PUT", uri + "/error"), fspiop.error_body(*error))
    else:
        callbacks.send(session, platform, endpoints.url(to, kind, **party.values()), "PUT",
                       fspiop.hub_headers("participants", HUB, to, "PUT", uri), body or {})


def answer_register(session: Session, platform: Platform, source: str, party: PartyRef, fsp: str,
                    currency: str | None, refusal: tuple[str, str] | None) -> None:
    if refusal is None:
        try:
            register(session, platform, party, fsp, currency)
        except Refused as exc:
            refusal = (exc.code, exc.description)
    body = {"fspId": fsp, **({"currency": currency} if currency else {})}
    _participants_callback(session, platform, source, party, body, refusal)


def answer_lookup(session: Session, platform: Platform, source: str, party: PartyRef, currency: str | None) -> None:
    found = holders(session, platform, party, currency)
    if not found:
        _participants_callback(session, platform, source, party, None, ("3204", "Party not found"))
    else:
        _participants_callback(session, platform, source, party, {"fspId": found[0]}, None)


def answer_delete(session: Session, platform: Platform, source: str, party: PartyRef, currency: str | None) -> None:
    try:
        remove(session, platform, party, source, currency)
    except Refused as exc:
        _participants_callback(session, platform, source, party, None, (exc.code, exc.description))
        return
    _participants_callback(session, platform, source, party, {}, None)  # "the fspId element should be empty"


def answer_batch(session: Session, platform: Platform, source: str, request_id: str, party_list: list[dict],
                 currency: str | None) -> None:
    results = []
    for info in party_list:
        party = PartyRef(info["partyIdType"], info["partyIdentifier"], info.get("partySubIdOrType"))
        result: dict[str, Any] = {"partyId": info}
        error = None
        if info.get("fspId") not in (None, source):
            error = ("3100", "fspId must be the FSP sending the request")
        elif party.is_national_id:
            error = ("3003", "National IDs are registered one by one, with the holder's details for verification")
        else:
            try:
                register(session, platform, party, source, currency)
            except Refused as exc:
                error = (exc.code, exc.description)
        if error:
            result["errorInformation"] = fspiop.error_body(*error)["errorInformation"]
        else:
            result["partyId"] = {**info, "fspId": source}
        results.append(result)
    endpoints = Endpoints(session, [source])
    body = {"partyList": results, **({"currency": currency} if currency else {})}
    callbacks.send(session, platform, endpoints.url(source, "PARTICIPANT_BATCH_PUT", requestId=request_id), "PUT",
                   fspiop.hub_headers("participants", HUB, source, "PUT", f"/participants/{request_id}"), body)


# -- parties ---------------------------------------------------------------------------------------
def route_party_get(session: Session, platform: Platform, source: str, destination: str | None, party: PartyRef,
                    headers: dict[str, str]) -> None:
    """``GET /parties``: to the named destination, else to the FSP the oracle names; 3204 if none."""
    targets = [destination] if destination else holders(session, platform, party, None)
    endpoints = Endpoints(session, targets + [source])
    kind = "PARTIES_SUB_ID_GET" if party.sub_id else "PARTIES_GET"
    error_kind = "PARTIES_SUB_ID_PUT_ERROR" if party.sub_id else "PARTIES_PUT_ERROR"
    uri = f"/parties{party.path}"
    target = next((t for t in targets if _active(session, t)), None)
    if target is None:
        code = ("3201", f"Destination FSP {destination} is not on the switch") if destination else \
            ("3204", "Party not found")
        callbacks.send(session, platform, endpoints.url(source, error_kind, **party.values()), "PUT",
                       fspiop.hub_headers("parties", HUB, source, "PUT", uri + "/error"), fspiop.error_body(*code))
        return
    forwarded = {**headers, "fspiop-destination": target}
    callbacks.send(session, platform, endpoints.url(target, kind, **party.values()), "GET", forwarded, b"",
                   forwarded={"resource": "parties", "source": source, "destination": target, "uri": uri,
                              "party": [party.type, party.id, party.sub_id]})


def relay_party_answer(session: Session, platform: Platform, destination: str, party: PartyRef, error: bool,
                       headers: dict[str, str], body: bytes) -> bool:
    endpoints = Endpoints(session, [destination])
    kind = ("PARTIES_SUB_ID_PUT" if party.sub_id else "PARTIES_PUT") + ("_ERROR" if error else "")
    return callbacks.send(session, platform, endpoints.url(destination, kind, **party.values()), "PUT", headers, body)


def _active(session: Session, name: str | None) -> bool:
    row = session.get(SwitchParticipant, name) if name else None
    return bool(row and row.is_active and name != HUB)


def _party_undeliverable(session: Session, platform: Platform, facts: dict, _now: Any) -> None:
    party = PartyRef(*facts["party"])
    endpoints = Endpoints(session, [facts["source"]])
    kind = "PARTIES_SUB_ID_PUT_ERROR" if party.sub_id else "PARTIES_PUT_ERROR"
    callbacks.send(session, platform, endpoints.url(facts["source"], kind, **party.values()), "PUT",
                   fspiop.hub_headers("parties", HUB, facts["source"], "PUT", f"/parties{party.path}/error"),
                   fspiop.error_body("1001", f"{facts['destination']} could not be reached"))


callbacks.ON_UNDELIVERABLE["parties"] = _party_undeliverable
