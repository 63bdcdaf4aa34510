"""Interledger v1 packets as Mojaloop's FSP software builds them (sdk-standard-components on
ilp-packet 2.2.0), and the fulfilment and condition of a transfer.

Packet: ``0x01`` (ILP payment), an OER length, then the amount (uint64, in the currency's minor
units), the payee's ILP address ``g.<fspId>.<type>.<id>[.<subId>]`` and the data — the
Transaction object as sorted, compact JSON, base64url-encoded — each OER length-prefixed,
and ``0x00`` (no extensions). The ``ilpPacket`` field is base64url of that, without padding.

Fulfilment (FSPIOP §6.5.2.3, as the SDK computes it): HMAC-SHA256 keyed with the ASCII of the
secret's standard base64, over the ASCII of the ``ilpPacket`` string; condition = SHA-256 of
the fulfilment's 32 bytes. Both base64url without padding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from dpistack.payments import money

ILP_PAYMENT = 1


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _length(n: int) -> bytes:
    """An OER length prefix: one byte up to 127, else 0x80|k and k big-endian bytes."""
    if n <= 127:
        return bytes([n])
    size = (n.bit_length() + 7) // 8
    return bytes([0x80 | size]) + n.to_bytes(size, "big")


def _var(data: bytes) -> bytes:
    return _length(len(data)) + data


def _read_length(raw: bytes, at: int) -> tuple[int, int]:
    first = raw[at]
    if first <= 127:
        return first, at + 1
    size = first & 0x7F
    return int.from_bytes(raw[at + 1:at + 1 + size], "big"), at + 1 + size


def _read_var(raw: bytes, at: int) -> tuple[bytes, int]:
    n, at = _read_length(raw, at)
    if at + n > len(raw):
        raise ValueError("truncated ILP packet")
    return raw[at:at + n], at + n


def address(fsp_id: str, party: dict[str, Any]) -> str:
    """``g.<fspId>.<partyIdType>.<partyIdentifier>[.<partySubIdOrType>]`` (type and ids lower-cased)."""
    parts = ["g", fsp_id, party["partyIdType"].lower(), party["partyIdentifier"].lower()]
    if party.get("partySubIdOrType"):
        parts.append(party["partySubIdOrType"].lower())
    return ".".join(parts)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode(amount_minor: int, ilp_address: str, transaction: dict[str, Any]) -> str:
    """The ``ilpPacket`` string for a transfer of ``amount_minor`` to ``ilp_address``."""
    data = b64url(canonical(transaction)).encode()
    contents = amount_minor.to_bytes(8, "big") + _var(ilp_address.encode()) + _var(data) + b"\x00"
    return b64url(bytes([ILP_PAYMENT]) + _var(contents))


@dataclass(frozen=True)
class Packet:
    amount: int
    address: str
    transaction: dict[str, Any]


def decode(ilp_packet: str) -> Packet:
    """Read an ``ilpPacket``; raises ValueError when it is not an ILP v1 payment."""
    try:
        raw = unb64url(ilp_packet)
        if not raw or raw[0] != ILP_PAYMENT:
            raise ValueError("not an ILP payment packet")
        contents, _ = _read_var(raw, 1)
        amount = int.from_bytes(contents[:8], "big")
        account, at = _read_var(contents, 8)
        data, _ = _read_var(contents, at)
        try:
            transaction = json.loads(unb64url(data.decode()))
        except ValueError:
            transaction = json.loads(data)  # the spec's own example carries the JSON as it is
        if not isinstance(transaction, dict):
            raise ValueError("the packet's data is not a Transaction object")
        return Packet(amount, account.decode(), transaction)
    except (IndexError, UnicodeDecodeError, TypeError) as exc:
        raise ValueError(f"malformed ILP packet: {exc}") from exc


def packet_hash(ilp_packet: str) -> str:
    """What the switch keeps of a quote's packet to check the transfer against (SHA-256, base64url)."""
    return b64url(hashlib.sha256(ilp_packet.encode()).digest())


def fulfilment(secret: bytes, ilp_packet: str) -> str:
    return b64url(hmac.new(base64.b64encode(secret), ilp_packet.encode(), hashlib.sha256).digest())


def condition(fulfilment_: str) -> str:
    return b64url(hashlib.sha256(unb64url(fulfilment_)).digest())


def amount_of(money_: dict[str, str]) -> int:
    return money.to_minor(money_["amount"], money_["currency"])
