"""Virtual IDs: revocable aliases of a UIN that a person gives out instead of the UIN itself.

Each VID type has a lifecycle in the shape of MOSIP's VID policy (``vidPolicy``:
``validForInMinutes``, ``transactionsAllowed``, ``instancesAllowed``, ``autoRestoreAllowed``,
``restoreOnAction``). Here a person holds at most one active VID per type, and asking for a new
one revokes the old one (auto-restore with ``REVOKE``):

* ``perpetual``: never expires, any number of authentications;
* ``temporary``: expires after 30 minutes and is good for one successful authentication.

The VID resolves to the UIN only inside the identity service; partner tokens are derived from
the UIN, so a relying party sees the same token whichever VID the person used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dpistack.core.timeutil import as_utc, iso, utcnow
from dpistack.identity import numbers
from dpistack.identity.errors import UnknownVid
from dpistack.identity.models import Person, VirtualId


@dataclass(frozen=True)
class VidLifecycle:
    valid_for: timedelta | None  # None: does not expire
    transactions_allowed: int | None  # successful authentications; None: unlimited


VID_TYPES: dict[str, VidLifecycle] = {
    "perpetual": VidLifecycle(valid_for=None, transactions_allowed=None),
    "temporary": VidLifecycle(valid_for=timedelta(minutes=30), transactions_allowed=1),
}


def create(session: Session, uin: str, vid_type: str, created_by: str,
           policy: numbers.NumberPolicy = numbers.DEFAULT_VID_POLICY) -> VirtualId:
    """A fresh VID of ``vid_type`` for the person; their previous active one of that type is revoked."""
    lifecycle = VID_TYPES[vid_type]
    # Lock the person's row: two simultaneous requests take turns instead of both inserting.
    if session.scalars(select(Person).where(Person.uin == uin).with_for_update()).first() is None:
        raise UnknownVid()
    now = utcnow()
    session.execute(update(VirtualId)
                    .where(VirtualId.uin == uin, VirtualId.vid_type == vid_type, VirtualId.status == "active")
                    .values(status="revoked", revoked_at=now))
    for _ in range(20):
        row = VirtualId(vid=numbers.generate_vid(policy), uin=uin, vid_type=vid_type, status="active",
                        expires_at=now + lifecycle.valid_for if lifecycle.valid_for else None,
                        transactions_left=lifecycle.transactions_allowed, created_by=created_by, created_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            continue  # that number was drawn before (a VID is never reused): draw another
    raise RuntimeError("could not draw an unused VID")  # pragma: no cover - number space exhausted


def revoke(session: Session, vid: str, uin: str | None = None) -> VirtualId:
    """Revoke a VID (of ``uin`` when given: a person revokes only their own)."""
    row = session.get(VirtualId, vid) if numbers.is_valid_vid(vid) else None
    if row is None or (uin is not None and row.uin != uin):
        raise UnknownVid()
    if row.status == "active":
        row.status, row.revoked_at = "revoked", utcnow()
    return row


def usable(row: VirtualId | None) -> bool:
    if row is None or row.status != "active":
        return False
    if row.expires_at is not None and as_utc(row.expires_at) <= utcnow():
        return False
    return row.transactions_left is None or row.transactions_left > 0


_PERSON = select(Person.__table__.c.uin, Person.__table__.c.status, Person.__table__.c.demographics).where(
    Person.__table__.c.uin == bindparam("uin"))


VID_ROW = select(VirtualId.__table__).where(VirtualId.__table__.c.vid == bindparam("vid"))


def resolve(session: Session | Connection, individual_id: str, id_type: str) -> Row | None:
    """The active person behind a UIN or a usable VID (a row with ``uin``, ``status``,
    ``demographics``); None for anything else (never says why)."""
    if id_type == "VID":
        row = session.execute(VID_ROW, {"vid": individual_id}).first() if numbers.is_valid_vid(individual_id) else None
        if not usable(row):
            return None
        individual_id = row.uin
    elif not numbers.is_valid_uin(individual_id, strict=False):  # well formed; may predate a filter
        return None
    person = session.execute(_PERSON, {"uin": individual_id}).first()
    return person if person is not None and person.status == "active" else None


def spend(session: Session, vid: str) -> bool:
    """Count one successful authentication against a VID with limited transactions (True
    when there was something to count)."""
    row = session.scalars(select(VirtualId).where(VirtualId.vid == vid).with_for_update()).first()
    if row is None or row.transactions_left is None:
        return False
    row.transactions_left -= 1
    if row.transactions_left <= 0:
        row.status = "used"
    return True


def of_person(session: Session, uin: str) -> list[VirtualId]:
    return list(session.scalars(select(VirtualId).where(VirtualId.uin == uin).order_by(VirtualId.created_at)))


def view(row: VirtualId) -> dict:
    status = row.status
    if status == "active" and not usable(row):
        status = "expired"
    return {"vid": row.vid, "vid_type": row.vid_type, "status": status, "created_at": iso(row.created_at),
            "expires_at": iso(row.expires_at) if row.expires_at else None,
            "transactions_left": row.transactions_left}
