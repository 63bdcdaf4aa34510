"""Status lists: the status of each credential this platform issues, in two standard forms.

* **Bitstring Status List v1.0 (W3C)** for W3C credentials (below).
* **Token Status List** (IETF draft-ietf-oauth-status-list) for SD-JWT VCs: the credential's
  plain claim ``status: {status_list: {idx, uri}}`` points into a list served as a JWT of
  ``typ: statuslist+jwt`` (``GET /credentials/v1/status-lists/{list}``) whose ``status_list``
  is ``{bits: 2, lst}``, ``lst`` the base64url of the zlib-compressed byte array where each
  credential has 2 bits (entry 0 in the least significant bits of the first byte): 0 VALID,
  1 INVALID (revoked, for good), 2 SUSPENDED. The same lists and entries as the W3C ones (an
  index is one credential's, whatever its format); an SD-JWT VC's id is its ``uri#idx``.

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
import time
import uuid
import zlib
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
    list_id, index = _allocate(platform, lambda _list, _index: credential_id, agent_id)
    url = base_url(platform) + list_id
    return [{"id": f"{url}-{purpose}#{index}", "type": ENTRY_TYPE, "statusPurpose": purpose,
             "statusListIndex": str(index), "statusListCredential": f"{url}-{purpose}"} for purpose in PURPOSES]


def _allocate(platform: Platform, credential_id, agent_id: str) -> tuple[str, int]:
    """(list, index) newly taken for the credential ``credential_id(list, index)`` names."""
    now = datetime.now(UTC)
    for _ in range(64):
        with platform.db.uow(write=True) as session:
            # the newest list, and how full it is (counted on its own index, not over every list)
            list_id = session.scalar(select(StatusList.id).order_by(StatusList.created_at.desc()).limit(1))
            if list_id is None or session.scalar(select(func.count()).select_from(StatusEntry).where(
                    StatusEntry.list_id == list_id)) >= MAX_FILL:
                list_id = uuid.uuid4().hex
                session.add(StatusList(id=list_id, size=SIZE, created_at=now))
                session.flush()
        index = secrets.randbelow(SIZE)
        try:
            with platform.db.uow(write=True) as session:
                session.add(StatusEntry(credential_id=credential_id(list_id, index), list_id=list_id, list_index=index,
                                        agent_id=agent_id, revoked=False, suspended=False, updated_at=now))
        except IntegrityError:
            continue  # that index (or credential id) is taken: try another
        return list_id, index
    raise RuntimeError("no free status list index")


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


# -- Token Status List (IETF), for SD-JWT VCs -------------------------------------------------
TOKEN_TYP = "statuslist+jwt"
TOKEN_MEDIA_TYPE = "application/statuslist+jwt"
TOKEN_BITS = 2
VALID, INVALID, SUSPENDED = 0, 1, 2
TOKEN_LIFETIME = 86400  # exp of a served list: a verifier may keep it for a day
TOKEN_TTL = 300  # ttl: fetch a fresh one after five minutes when online
MAX_TOKEN_BYTES = 1 << 20  # a verifier inflates at most 1 MiB (4 Mi entries of 2 bits)


def token_list_url(platform: Platform, list_id: str) -> str:
    return platform.settings.public_url.rstrip("/") + f"/credentials/v1/status-lists/{list_id}"


def allocate_token_status(platform: Platform, agent_id: str) -> tuple[str, dict]:
    """(credential id, ``status`` claim) of a new SD-JWT VC: a fresh index in a status list."""
    def named(list_id: str, index: int) -> str:
        return f"{token_list_url(platform, list_id)}#{index}"

    list_id, index = _allocate(platform, named, agent_id)
    return named(list_id, index), {"status_list": {"idx": index, "uri": token_list_url(platform, list_id)}}


def token_array(platform: Platform, list_id: str) -> bytes | None:
    """The list's byte array (2 bits an entry); None for no such list."""
    with platform.db.uow() as session:
        listed = session.get(StatusList, list_id)
        if listed is None:
            return None
        size = listed.size
        rows = session.execute(select(StatusEntry.list_index, StatusEntry.revoked).where(
            StatusEntry.list_id == list_id, StatusEntry.revoked | StatusEntry.suspended)).all()
    array = bytearray(size * TOKEN_BITS // 8)
    for index, revoked in rows:
        array[index // 4] |= (INVALID if revoked else SUSPENDED) << (2 * (index % 4))
    return bytes(array)


def token_payload(platform: Platform, list_id: str, issuer: str, now: int | None = None) -> dict | None:
    array = token_array(platform, list_id)
    if array is None:
        return None
    now = int(time.time()) if now is None else now
    return {"iss": issuer, "sub": token_list_url(platform, list_id), "iat": now, "exp": now + TOKEN_LIFETIME,
            "ttl": TOKEN_TTL, "status_list": {"bits": TOKEN_BITS, "lst": base64.urlsafe_b64encode(
                zlib.compress(array, 9)).decode().rstrip("=")}}


def token_value(status_list: dict, index: int) -> int:
    """The status of entry ``index`` in a Token Status List's ``status_list`` object."""
    if not isinstance(status_list, dict) or status_list.get("bits") not in (1, 2, 4, 8) \
            or not isinstance(status_list.get("lst"), str):
        raise MalformedStatus("The status list has no valid bits and lst.")
    bits, lst = status_list["bits"], status_list["lst"]
    try:
        inflater = zlib.decompressobj()
        array = inflater.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)), MAX_TOKEN_BYTES + 1)
    except (ValueError, zlib.error) as exc:
        raise MalformedStatus(f"The status list's lst does not decode: {exc}.") from None
    if len(array) > MAX_TOKEN_BYTES:
        raise MalformedStatus("The status list is larger than this verifier reads.")
    per_byte = 8 // bits
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(array) * per_byte:
        raise MalformedStatus(f"Status index {index!r} is outside the status list ({len(array) * per_byte} entries).")
    return (array[index // per_byte] >> (bits * (index % per_byte))) & ((1 << bits) - 1)


def own_token_value(platform: Platform, list_id: str, index: int) -> int | None:
    """This platform's status of (list, index) from its own table; None for no such list."""
    with platform.db.uow() as session:
        if session.get(StatusList, list_id) is None:
            return None
        row = session.execute(select(StatusEntry.revoked, StatusEntry.suspended).where(
            StatusEntry.list_id == list_id, StatusEntry.list_index == index)).first()
    if row is None:
        return VALID
    return INVALID if row[0] else SUSPENDED if row[1] else VALID


def token_list_urls(platform: Platform) -> list[str]:
    """Every status list of this platform, as Token Status List URIs (what an offline verifier keeps)."""
    with platform.db.uow() as session:
        ids = session.scalars(select(StatusList.id).order_by(StatusList.created_at)).all()
    return [token_list_url(platform, i) for i in ids]


def signed_token_list(platform: Platform, list_id: str, issuer: str, key) -> str | None:
    """The list as a ``statuslist+jwt`` signed with ``key`` (an ``sdjwt.SigningKey``)."""
    from dpistack.credentials import sdjwt

    payload = token_payload(platform, list_id, issuer)
    if payload is None:
        return None
    return sdjwt.sign_jws({"alg": sdjwt.ALG, "typ": TOKEN_TYP, "kid": key.kid}, payload, key.private)
