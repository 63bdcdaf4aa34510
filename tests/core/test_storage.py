"""Storage: Alembic-made schema on SQLite (WAL) and PostgreSQL; one transaction per command."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from dpistack.core.config import Settings
from dpistack.core.db import Base, migrate
from dpistack.core.platform import Platform
from dpistack.governance.models import InstanceInfo


def test_schema_comes_from_migrations_and_matches_the_models(platform):
    tables = set(inspect(platform.db.engine).get_table_names())
    assert "alembic_version" in tables
    assert set(Base.metadata.tables) <= tables
    with platform.db.uow() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    migrate(platform.db.engine)  # idempotent on every start
    # Autogenerate finds nothing to do: the migrations describe the models exactly.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with platform.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_default_lives_in_the_data_dir_in_wal_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("DPI_DATABASE_URL", raising=False)
    monkeypatch.setenv("DPI_DATA_DIR", str(tmp_path / "instance"))
    p = Platform.open(Settings())
    try:
        assert (tmp_path / "instance" / "dpi.sqlite3").exists()
        with p.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        p.close()


def test_unit_of_work_rolls_back_everything_on_error(platform):
    with pytest.raises(RuntimeError):
        with platform.db.uow(write=True) as s:
            s.add(InstanceInfo(key="half-written", value="x"))
            s.flush()
            raise RuntimeError("fails midway")
    with platform.db.uow() as s:
        assert s.get(InstanceInfo, "half-written") is None
    with platform.db.uow(write=True) as s:
        s.add(InstanceInfo(key="whole", value="y"))
    with platform.db.uow() as s:
        assert s.get(InstanceInfo, "whole").value == "y"


def test_database_url_switches_to_postgresql(monkeypatch, tmp_path):
    monkeypatch.setenv("DPI_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    settings = Settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://") and not settings.is_sqlite


def test_reading_keeps_one_connection_per_thread_that_sees_each_commit(platform):
    import threading

    with platform.db.reading() as first:
        pass
    with platform.db.reading() as again:
        assert again is first  # kept: no pool check-out per read
    other: list = []
    thread = threading.Thread(target=lambda: other.append(platform.db.reading().__enter__()))
    thread.start()
    thread.join()
    assert other[0] is not first
    # No snapshot is held between reads: a commit made meanwhile is seen by the next read.
    query = text("SELECT value FROM instance_info WHERE key = 'reading-test'")
    with platform.db.reading() as conn:
        assert conn.execute(query).first() is None
    with platform.db.uow(write=True) as s:
        s.add(InstanceInfo(key="reading-test", value="1"))
    with platform.db.reading() as conn:
        assert conn.execute(query).scalar_one() == "1"


def test_a_failed_read_drops_its_kept_connection(platform):
    with platform.db.reading() as first:
        pass
    with pytest.raises(Exception):
        with platform.db.reading() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
    with platform.db.reading() as after:
        assert after is not first
        assert after.execute(text("SELECT 1")).scalar_one() == 1


def test_a_server_process_checkpoints_the_sqlite_log_from_a_thread_of_its_own(tmp_path):
    import time

    from dpistack.core.db import BACKSTOP_CHECKPOINT_PAGES

    p = Platform.open(Settings(data_dir=tmp_path))
    try:
        db_file = tmp_path / "dpi.sqlite3"
        p.db.checkpoint_in_background(interval=0.02)
        with p.db.engine.connect() as conn:  # commits no longer checkpoint at 1,000 pages
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_CHECKPOINT_PAGES
        with p.db.uow(write=True) as s:
            s.execute(text("CREATE TABLE filler (data BLOB)"))
        size = db_file.stat().st_size
        with p.db.uow(write=True) as s:  # 2 MB into the log, far below the backstop
            s.execute(text("INSERT INTO filler VALUES (randomblob(1000000)), (randomblob(1000000))"))
        deadline = time.monotonic() + 10
        while db_file.stat().st_size < size + 1_500_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert db_file.stat().st_size >= size + 1_500_000  # copied into the database by the thread
    finally:
        p.close()
    assert p.db._checkpointer is None  # stopped with the platform


def test_sqlite_writes_go_through_one_connection_that_keeps_a_large_page_cache(tmp_path):
    from dpistack.core.db import BACKSTOP_CHECKPOINT_PAGES, SQLITE_WRITER_CACHE_KIB

    p = Platform.open(Settings(data_dir=tmp_path))
    try:
        seen: list[object] = []

        def writer() -> object:
            with p.db.uow(write=True) as s:
                connection = s.connection()
                assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_WRITER_CACHE_KIB
                assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
                s.add(InstanceInfo(key=f"k{len(seen)}", value="v"))
                return connection.connection.driver_connection

        seen.append(writer())
        with pytest.raises(RuntimeError):  # a write that fails is rolled back; the connection goes on
            with p.db.uow(write=True) as s:
                s.add(InstanceInfo(key="half-written", value="x"))
                s.flush()
                raise RuntimeError("fails midway")
        seen.append(writer())
        assert seen[0] is seen[1]
        with p.db.uow() as s:  # readers keep SQLite's default cache
            assert s.connection().exec_driver_sql("PRAGMA cache_size").scalar() == -2000
            assert s.get(InstanceInfo, "half-written") is None and s.get(InstanceInfo, "k1").value == "v"
        p.db.checkpoint_in_background(interval=0.05)  # the writer's connection reopens with the backstop
        with p.db.uow(write=True) as s:
            assert s.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_CHECKPOINT_PAGES
            assert s.connection().exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_WRITER_CACHE_KIB
    finally:
        p.close()


def test_driver_query_fills_in_lists_of_any_length_as_sqlalchemy_would(platform):
    """DriverQuery.all: an IN list of each length (none too) answers as SQLAlchemy's own execution
    does, the statement's literals included, on both databases."""
    from sqlalchemy import bindparam, select

    from dpistack.core.db import DriverQuery
    from dpistack.governance.models import Participant

    P = Participant.__table__
    with platform.db.uow(write=True) as s:
        for name in ("a", "b", "c"):
            s.add(Participant(id=name, name=name, kind="bank" if name != "c" else "ministry", roles=[],
                              status="active", endpoints={}))
    statement = select(P.c.id).where(P.c.id.in_(bindparam("ids", expanding=True)), P.c.kind == "bank").order_by(P.c.id)
    query = DriverQuery(statement)
    with platform.db.uow() as s:
        connection = s.connection()
        for ids in (["a"], ["a", "b", "c"], ["c", "b"], [], ["zz", "b"], ["a", "b", "c"]):
            expected = [tuple(r) for r in connection.execute(statement, {"ids": ids})]
            assert query.all(connection, {"ids": ids}) == expected
        assert query.all(connection, {"ids": ["a", "b", "c"]}) == [("a",), ("b",)]
