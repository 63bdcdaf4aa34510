"""Bitstring Status List v1.0 (W3C): the status of each W3C credential this platform issues.

Each issued credential gets a random index in a pair of status lists (revocation and
suspension share the index space) and two ``BitstringStatusListEntry`` objects in its
``credentialStatus``. The lists are served as status list credentials
(``GET /credentials/status/{list}-{purpose}``), each a VC of type
``BitstringStatusListCredential`` signed with eddsa-rdfc-2022 whose ``encodedList`` is the
multibase base64url (``u…``, no padding) of the GZIP of the bitstring, 131,072 bits (16 KB,
the spec's minimum), bit 0 the left-most bit of the first byte. Indexes are random (the
spec's herd privacy); a pair takes at most half its size so that a free index is quick to
find, then a new pair is made.

Inside this block the verifier reads its own entries for its own lists; a foreign list would
be read from a cached copy of its list credential (none is fetched at run time).
"""

from __future__ import annotations

import base64
import gzip
import io
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from dpistack.core.platform import Platform
from dpistack.credentials.models import StatusEntry, StatusList
from dpistack.credentials.vcerrors import MalformedStatus

SIZE = 131_072  # bits: the spec's minimum (16 KB) for herd privacy
ENTRY_TYPE = "BitstringStatusListEntry"
PURPOSES = ("revocation", "suspension")
MAX_FILL = SIZE // 2
MAX_BYTES = 8 * (SIZE // 8)  # a verifier reads lists of up to 8x the minimum (1 Mbit)


def encode(indexes: set[int] | list[int], size: int = SIZE) -> str:
    """``encodedList``: multibase base64url (no padding) of the GZIP of the bitstring."""
    bits = bytearray(size // 8)
    for i in indexes:
        bits[i // 8] |= 0x80 >> (i % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).decode().rstrip("=")


def decode(encoded: str) -> bytes:
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > 200_000:
        raise MalformedStatus("encodedList is not a multibase base64url string (u…).")
    try:
        data = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            bits = f.read(MAX_BYTES + 1)  # bounded: a small GZIP cannot inflate without limit
    except (ValueError, OSError, EOFError) as exc:
        raise MalformedStatus(f"encodedList does not decode: {exc}.") from None
    if len(bits) > MAX_BYTES:
        raise MalformedStatus("The status list is larger than this verifier reads.")
    return bits


def bit(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise MalformedStatus(f"statusListIndex {index} is outside the status list ({len(bits) * 8} entries).")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def base_url(platform: Platform) -> str:
    return platform.settings.public_url.rstrip("/") + "/credentials/status/"


def allocate(platform: Platform, credential_id: str, agent_id: str) -> list[dict]:
    """A fresh index for ``credential_id`` and its two ``credentialStatus`` entries."""
    now = datetime.now(UTC)
    for _ in range(64):
        with platform.db.uow(write=True) as session:
            current = session.execute(
                select(StatusList.id, func.count(StatusEntry.credential_id))
                .outerjoin(StatusEntry, StatusEntry.list_id == StatusList.id)
                .group_by(StatusList.id, StatusList.created_at).order_by(StatusList.created_at.desc()).limit(1)).first()
            if current is None or current[1] >= MAX_FILL:
                list_id = uuid.uuid4().hex
                session.add(StatusList(id=list_id, size=SIZE, created_at=now))
                session.flush()
            else:
                list_id = current[0]
        index = secrets.randbelow(SIZE)
        try:
            with platform.db.uow(write=True) as session:
                session.add(StatusEntry(credential_id=credential_id, list_id=list_id, list_index=index,
                                        agent_id=agent_id, revoked=False, suspended=False, updated_at=now))
        except IntegrityError:
            continue  # that index (or credential id) is taken: try another
        break
    else:
        raise RuntimeError("no free status list index")
    url = base_url(platform) + list_id
    return [{"id": f"{url}-{purpose}#{index}", "type": ENTRY_TYPE, "statusPurpose": purpose,
             "statusListIndex": str(index), "statusListCredential": f"{url}-{purpose}"} for purpose in PURPOSES]


def set_status(platform: Platform, credential_id: str, agent_id: str, purpose: str, value: bool) -> bool:
    """Set a credential's revocation or suspension bit; False if it is not one this agent issued.
    A revocation is final (the spec: a revoked credential is never reinstated)."""
    column = {"revocation": StatusEntry.revoked, "suspension": StatusEntry.suspended}[purpose]
    if purpose == "revocation" and not value:
        raise MalformedStatus("A revocation cannot be undone.")
    with platform.db.uow(write=True) as session:
        changed = session.execute(update(StatusEntry).where(
            StatusEntry.credential_id == credential_id, StatusEntry.agent_id == agent_id)
            .values({column.key: value, "updated_at": datetime.now(UTC)}))
    return changed.rowcount == 1


def set_indexes(platform: Platform, list_id: str, purpose: str) -> set[int] | None:
    """The indexes whose ``purpose`` bit is set in list ``list_id``; None for no such list."""
    column = {"revocation": StatusEntry.revoked, "suspension": StatusEntry.suspended}[purpose]
    with platform.db.uow() as session:
        if session.get(StatusList, list_id) is None:
            return None
        return set(session.scalars(select(StatusEntry.list_index).where(StatusEntry.list_id == list_id, column)))


def own_status(platform: Platform, list_id: str, index: int, purpose: str) -> bool | None:
    """This platform's bit for (list, index, purpose), read from its own table; None if unknown list."""
    column = {"revocation": StatusEntry.revoked, "suspension": StatusEntry.suspended}[purpose]
    with platform.db.uow() as session:
        if session.get(StatusList, list_id) is None:
            return None
        return bool(session.scalar(select(column).where(StatusEntry.list_id == list_id,
                                                        StatusEntry.list_index == index)))
