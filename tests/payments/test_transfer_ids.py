"""Transfer ids are kept as 16 bytes (migration 0038) and read back exactly as FSPs sent them."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text

from dpistack.core.db import alembic_config
from dpistack.payments.ledger import key_of
from dpistack.payments.models import Transfer, id_bytes, id_text

ROW = ("INSERT INTO payments_transfers (id, payer, payee, currency, amount, condition, expiration, state, "
       "request_hash, payee_reserved, created_at) VALUES (:id, 'a', 'b', 'USD', 100, 'c', 1, 'RESERVED', 'h', 0, 1)")


def test_ids_round_trip_and_only_canonical_uuids_become_16_bytes():
    canonical = str(uuid.uuid4())
    assert len(id_bytes(canonical)) == 16 and id_text(id_bytes(canonical)) == canonical
    # Anything else (never stored through the API, whose ids are lower-case UUIDs) is its UTF-8,
    # never 16 bytes, so a look-up finds nothing and it reads back unchanged.
    for other in (canonical.upper(), "not-a-uuid", "sixteen-chars-xx", canonical.replace("-", "")[:32] + "----",
                  "0123456789abcdef0123456789abcdef0123"):
        assert len(id_bytes(other)) != 16 and id_text(id_bytes(other)) == other
    # the ledger's rows bind the same bytes, however the id looks (no letters; spaces fromhex skips)
    for any_id in (canonical, canonical.upper(), "01234567-0123-4567-8901-234567890123",
                   "0 123456-0123-4567-8901-234567890123", canonical[:35] + "G", "not-a-uuid"):
        assert key_of(any_id) == id_bytes(any_id) and isinstance(key_of(any_id), bytearray)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "postgres":
        yield request.getfixturevalue("pg_engine")
        return
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield engine
    engine.dispose()


def test_the_migration_converts_existing_transfers_and_back(engine):
    config = alembic_config(engine)
    command.upgrade(config, "0036")
    ids = [str(uuid.uuid4()) for _ in range(3)] + [str(uuid.uuid4()).upper()]
    with engine.begin() as conn:
        for transfer_id in ids:
            conn.execute(text(ROW), {"id": transfer_id})
    command.upgrade(config, "0038")
    with engine.connect() as conn:
        assert sorted(conn.scalars(select(Transfer.id))) == sorted(ids)
        lengths = sorted(len(raw) for raw in conn.scalars(text("SELECT id FROM payments_transfers")))
        assert lengths == [16, 16, 16, 36]
        assert conn.scalar(select(Transfer.payer).where(Transfer.id == ids[1])) == "a"
    command.downgrade(config, "0036")
    with engine.connect() as conn:
        assert sorted(conn.scalars(text("SELECT id FROM payments_transfers"))) == sorted(ids)


def test_the_window_totals_migration_adds_up_what_was_committed(engine):
    config = alembic_config(engine)
    command.upgrade(config, "0038")
    committed = ("INSERT INTO payments_transfers (id, payer, payee, currency, amount, condition, expiration, state, "
                 "request_hash, payee_reserved, window_id, created_at) "
                 "VALUES (:id, :payer, :payee, 'USD', :amount, 'c', 1, :state, 'h', 0, 1, 1)")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO payments_settlement_windows (id, state, created_at, changed_at) "
                          "VALUES (1, 'OPEN', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for payer, payee, amount, state in (("a", "b", 100, "COMMITTED"), ("a", "b", 50, "COMMITTED"),
                                            ("b", "a", 30, "COMMITTED"), ("a", "b", 999, "ABORTED")):
            conn.execute(text(committed), {"id": id_bytes(str(uuid.uuid4())), "payer": payer, "payee": payee,
                                           "amount": amount, "state": state})
    command.upgrade(config, "0039")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT participant, sent, received, sent_count FROM payments_window_positions "
                                 "WHERE window_id = 1 ORDER BY participant")).all()
        assert [tuple(r) for r in rows] == [("a", 150, 30, 2), ("b", 30, 150, 1)]
    command.downgrade(config, "0038")
    with engine.connect() as conn:
        assert "payments_window_positions" not in {r[0] for r in conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            if engine.dialect.name == "postgresql" else "SELECT name FROM sqlite_master WHERE type = 'table'"))}
