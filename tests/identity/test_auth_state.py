"""The per-process cache of what authentication reads: it saves the reads, and any change to
the person, made by this process or another one of the host, is seen by the next attempt."""

from __future__ import annotations

import pytest
from sqlalchemy import event, update

from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.identity import residents
from dpistack.identity.auth_state import PersonStates
from dpistack.identity.models import Person
from dpistack.identity.service import IdentityContext

from .test_authentication import auth, world  # noqa: F401  (fixture)

BIRTH = {"demographics": {"birth_date": "1990-04-12"}}
WRONG = {"demographics": {"birth_date": "1991-01-01"}}


@pytest.fixture
def statements(platform):
    """The SQL statements the platform has run so far."""
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
    event.listen(platform.db.engine, "before_cursor_execute", listener)
    yield seen
    event.remove(platform.db.engine, "before_cursor_execute", listener)


def _reads_of_people(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and "identity_persons" in s]


def test_a_kept_state_saves_the_reads_until_a_failure(world, platform):
    uin, rp, _, _ = world
    people = IdentityContext.of(platform).people
    assert auth(rp, uin, **BIRTH)["authenticated"]
    kept = people.cached(uin, "UIN")
    assert kept is not None and kept.known and kept.failures == 0
    assert kept.demographics is None and kept.facts  # no record, only digests of the matched facts
    assert b"1990" not in kept.facts and b"amina" not in kept.facts.lower() and len(kept.facts) % 16 == 0
    assert not auth(rp, uin, txn="t2", **WRONG)["authenticated"]
    assert people.cached(uin, "UIN") is None  # the failure was committed: the next attempt reads it
    assert auth(rp, uin, txn="t3", **BIRTH)["authenticated"]
    assert people.cached(uin, "UIN") is None  # a person with a recent failure is never kept...
    assert auth(rp, uin, txn="t4", **BIRTH)["authenticated"]
    assert people.cached(uin, "UIN") is not None  # ...until a success starts the count again


def test_authentication_from_the_cache_reads_nothing(world, platform, statements):
    """A change made behind the platform's back (no bump) is not seen while the state is kept:
    proof that the kept state, not the database, answered. Once forgotten, it is read again."""
    uin, rp, _, _ = world
    assert auth(rp, uin, **BIRTH)["authenticated"]
    with platform.db.uow(write=True) as session:
        session.execute(update(Person).where(Person.uin == uin).values(status="retired"))
    statements.clear()
    assert auth(rp, uin, txn="t2", **BIRTH)["authenticated"]
    assert _reads_of_people(statements) == []  # no read through SQLAlchemy either (the careful path's)
    IdentityContext.of(platform).people._kept.clear()
    assert not auth(rp, uin, txn="t3", **BIRTH)["authenticated"]  # read again: no longer active


def test_a_change_by_another_process_is_seen(world, platform, tmp_path):
    """A second platform on the same data directory and database stands for another worker."""
    uin, rp, _, _ = world
    assert auth(rp, uin, **BIRTH)["authenticated"]
    assert IdentityContext.of(platform).people.cached(uin, "UIN") is not None
    # Its own caches and change-board mapping; the same database (the engine is shared only
    # because the test database lives in a private schema).
    other = Platform(settings=platform.settings, db=platform.db, keys=platform.keys)
    try:
        ctx = IdentityContext.of(other)
        with other.db.uow(write=True) as session:
            residents.set_locks(session, ctx, residents.Resident(uin=uin, session_id="s-1"), {"demographics": True})
    finally:
        other.extras.clear()
    assert IdentityContext.of(platform).people.cached(uin, "UIN") is None
    assert not auth(rp, uin, txn="t2", **BIRTH)["authenticated"]  # blocked at once, not after a TTL


def test_a_revoked_vid_stops_at_once(world, platform, actors):
    uin, rp, _, _ = world
    office = actors("auth-registry")
    vid = office.post("/identity/v1/vids", json={"uin": uin, "vid_type": "perpetual"}).json()["vid"]
    as_vid = {"individual_id_type": "VID", **BIRTH}
    assert auth(rp, vid, **as_vid)["authenticated"]
    assert IdentityContext.of(platform).people.cached(vid, "VID") is not None
    assert office.post(f"/identity/v1/vids/{vid}/revoke").status_code == 200
    assert not auth(rp, vid, txn="t2", **as_vid)["authenticated"]


def test_a_single_use_vid_is_never_kept(world, platform, actors):
    uin, rp, _, _ = world
    vid = actors("auth-registry").post("/identity/v1/vids", json={"uin": uin, "vid_type": "temporary"}).json()["vid"]
    as_vid = {"individual_id_type": "VID", **BIRTH}
    assert auth(rp, vid, **as_vid)["authenticated"]
    assert IdentityContext.of(platform).people.cached(vid, "VID") is None
    assert not auth(rp, vid, txn="t2", **as_vid)["authenticated"]  # spent


def test_without_process_caches_nothing_is_kept(tmp_path):
    platform = Platform.open(Settings(data_dir=tmp_path / "d", process_caches=False))
    try:
        assert platform.change_board is None
        people = IdentityContext.of(platform).people
        people.read(platform.db, "2345678903", "UIN")
        assert people.cached("2345678903", "UIN") is None
    finally:
        platform.close()


def test_the_cache_is_bounded(world, platform, actors):
    uin, _, _, _ = world
    vid = actors("auth-registry").post("/identity/v1/vids", json={"uin": uin, "vid_type": "perpetual"}).json()["vid"]
    ctx = IdentityContext.of(platform)
    small = PersonStates(ctx.index_key, ctx.cipher, platform.change_board, max_people=1)
    small.read(platform.db, uin, "UIN")
    assert small.cached(uin, "UIN") is not None
    small.read(platform.db, vid, "VID")  # a second entry pushes the oldest out
    assert small.cached(vid, "VID") is not None and small.cached(uin, "UIN") is None


def test_facts_are_kept_at_enrolment_so_an_uncached_authentication_opens_no_record(world, platform):
    uin, rp, _, _ = world
    with platform.db.uow(write=True) as session:
        person = session.get(Person, uin)
        facts, sealed = person.auth_facts, person.demographics
        assert facts and len(facts) % 16 == 0 and b"1990" not in facts  # keyed digests only
        # The sealed record replaced by one that cannot be opened: an authentication that
        # opened it would fail.
        session.execute(update(Person).where(Person.uin == uin).values(demographics={"names": "not a ciphertext"}))
    IdentityContext.of(platform).people._kept.clear()
    assert auth(rp, uin, **BIRTH)["authenticated"]
    IdentityContext.of(platform).people._kept.clear()
    assert not auth(rp, uin, txn="t2", **WRONG)["authenticated"]
    with platform.db.uow(write=True) as session:
        session.execute(update(Person).where(Person.uin == uin).values(demographics=sealed))


def test_people_enrolled_before_facts_were_kept_are_checked_against_their_record(world, platform):
    uin, rp, _, _ = world
    with platform.db.uow(write=True) as session:
        session.execute(update(Person).where(Person.uin == uin).values(auth_facts=None))
    IdentityContext.of(platform).people._kept.clear()
    assert auth(rp, uin, **BIRTH)["authenticated"]
    assert auth(rp, uin, txn="t2", demographics={"given": "amina", "family": "HASSAN"})["authenticated"]
    assert not auth(rp, uin, txn="t3", **WRONG)["authenticated"]


def test_a_uin_issued_before_a_number_filter_was_added_still_authenticates(world, platform):
    """Lookups check the form of a UIN (length, check digit), not today's issuing filters."""
    from dpistack.identity import auth_state, numbers

    uin, rp, _, _ = world
    old = "234567890" + numbers.verhoeff_check_digit("234567890")  # an ascending run: not issued today
    assert numbers.is_valid_uin(old, strict=False) and not numbers.is_valid_uin(old)
    ctx = IdentityContext.of(platform)
    with platform.db.uow(write=True) as session:
        person = session.get(Person, uin)
        data = ctx.cipher.decrypt_fields(person.demographics, record=uin)
        session.add(Person(uin=old, enrolment_id=person.enrolment_id, auth_facts=auth_state.facts_of(ctx.index_key, data),
                           demographics=ctx.cipher.encrypt_fields(data, record=old)))
    assert auth(rp, old, **BIRTH)["authenticated"]
    assert not auth(rp, old, txn="t2", **WRONG)["authenticated"]
