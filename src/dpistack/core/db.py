"""Storage: the SQLAlchemy engine, Alembic migrations and the unit of work.

SQLite (WAL, synchronous=FULL) is the embedded default; ``DPI_DATABASE_URL`` switches to
PostgreSQL (psycopg 3). The schema is only ever made by Alembic migrations.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from dpistack.core.config import Settings

CHECKPOINT_INTERVAL = 0.1  # seconds between background checkpoints (see Database.checkpoint_in_background)
BACKSTOP_CHECKPOINT_PAGES = 10_000  # then a commit checkpoints itself (SQLite's default is 1,000)

# Stable constraint names so that migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Pages of 8 KiB for a new SQLite database (PostgreSQL's size too): a batch of inserts under
# random keys dirties a page per key, and the WAL writes each dirty page whole; measured, the
# ledger alone did 4-7 % more with 8 KiB pages than with SQLite's 4 KiB, 16 KiB no better.
SQLITE_PAGE_SIZE = 8192

# The page cache of the one connection a process writes SQLite through (see Database.uow):
# SQLite's default is 2 MiB, less than the primary-key index of a busy table, so each batch of
# writes under random keys re-read most of the index's pages from the file. Only that connection
# has it: every other connection's cache is emptied whenever another connection commits anyway.
SQLITE_WRITER_CACHE_KIB = 32 * 1024


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # A pool as large as the worker threads: a connection opened per request would redo the PRAGMAs.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=40,
                               max_overflow=10)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # takes effect on a new database only
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # durable before acknowledged
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock up front: a deferred transaction that later writes can
        # fail with SQLITE_BUSY instead of waiting its turn.
        options = conn.get_execution_options()
        if options.get("dpi_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("dpi_autocommit"):
            conn.exec_driver_sql("BEGIN")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("dpistack") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (safe to call on every start)."""
    command.upgrade(alembic_config(engine), "head")


class _SqliteWriterLock:
    """SQLite writers queue on a file lock instead of SQLite's busy handler, which sleeps in
    growing steps (up to 100 ms) and wastes most of the time when several worker processes
    write at once. A thread lock orders the threads of one process (flock is per process)."""

    def __init__(self, settings: Settings):
        self._path = settings.data_dir / "dpi.sqlite3.write-lock"
        self._threads = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def try_acquire(self) -> bool:
        """Take the lock if no one holds it, without waiting."""
        if not self._threads.acquire(blocking=False):
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            self._threads.release()
            return False
        except BaseException:
            self._threads.release()
            raise


class _Slot:
    """Where a value of the caller's parameters goes in an expanded statement (see DriverQuery.all)."""

    __slots__ = ("name", "index")

    def __init__(self, name: str, index: int | None):
        self.name, self.index = name, index


class DriverSavepoint:
    """A savepoint set at the driver, inside the connection's transaction, for a hot path that
    tries the fast way first (SQLAlchemy's ``begin_nested`` compiles its SAVEPOINT statement
    anew on every use: ~13 % of a small ledger batch, profiled). As a context manager it is
    rolled back when the block raises and released otherwise; :meth:`rollback` undoes the block
    without an exception. SQLAlchemy does not see it, so use it only around driver-level
    statements (``DriverQuery``)."""

    def __init__(self, connection: Connection, name: str = "dpi_fast"):
        self._cursor = connection.connection.driver_connection.cursor()
        self._name = name
        self._open = True
        self._cursor.execute(f"SAVEPOINT {name}")

    def __enter__(self) -> "DriverSavepoint":
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            self.rollback()
        else:
            self.release()

    def release(self) -> None:
        if self._open:
            self._open = False
            self._cursor.execute(f"RELEASE SAVEPOINT {self._name}")
            self._cursor.close()

    def rollback(self) -> None:
        if self._open:
            self._open = False
            self._cursor.execute(f"ROLLBACK TO SAVEPOINT {self._name}")
            self._cursor.execute(f"RELEASE SAVEPOINT {self._name}")
            self._cursor.close()


class DriverQuery:
    """A Core statement compiled once per dialect and run on the driver's own cursor, for the
    hottest reads and the rows group commit writes: SQLAlchemy's work per execution (compiled-cache lookup, parameter and
    result processing) cost several times what SQLite takes to answer an indexed look-up
    (profiled on authentication). Parameters go through their columns' bind processors;
    rows come back as the driver gives them (JSON columns as text on SQLite)."""

    def __init__(self, statement: Any):
        self._statement = statement
        self._plans: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any], dict[str, Any]]] = {}
        self._rows_plans: dict[tuple, tuple] = {}
        self._expanded: dict[tuple, tuple] = {}

    def _plan(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any], dict[str, Any]]:
        compiled = self._statement.compile(dialect=dialect)
        # through the dialect's own types, as SQLAlchemy does: SQLite's DATETIME text, psycopg's JSON
        processors = {name: processor for name, bind in compiled.binds.items()
                      if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        literals = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        names = tuple(compiled.positiontup) if compiled.positional else None
        self._plans[dialect.name] = plan = (compiled.string, names, processors, literals)
        return plan

    @staticmethod
    def _values(plan: tuple, params: dict[str, Any]) -> tuple | dict:
        _, names, processors, literals = plan
        values = {name: processors[name](value) if name in processors else value
                  for name, value in {**literals, **params}.items()}
        return tuple(values[name] for name in names) if names is not None else values

    def first(self, connection: Connection, params: dict[str, Any]) -> tuple | None:
        """The first row of the statement's answer, or None."""
        plan = self._plans.get(connection.dialect.name) or self._plan(connection.dialect)
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(plan[0], self._values(plan, params))
            return cursor.fetchone()
        finally:
            cursor.close()

    def all(self, connection: Connection, params: dict[str, Any]) -> list[tuple]:
        """Every row of the statement's answer. A list in ``params`` fills an IN list
        (``bindparam(name, expanding=True)``): the statement is expanded once per dialect and
        list lengths and kept, so a batch's look-up of "these accounts" costs the driver's time
        only."""
        dialect = connection.dialect
        key = (dialect.name, tuple((n, len(v)) for n, v in sorted(params.items()) if isinstance(v, list)))
        plan = self._expanded.get(key) or self._expand(dialect, key, params)
        sql, names, sources = plan
        values = [(proc(params[name] if index is None else params[name][index]) if proc
                   else (params[name] if index is None else params[name][index])) if name is not None else literal
                  for name, index, literal, proc in sources]
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(sql, tuple(values) if names is None else dict(zip(names, values)))
            return cursor.fetchall()
        finally:
            cursor.close()

    def _expand(self, dialect: Any, key: tuple, params: dict[str, Any]) -> tuple:
        compiled = self._statement.compile(dialect=dialect)
        processors = {name: processor for name, bind in compiled.binds.items()
                      if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        # Expanded with markers in place of the values, to learn which value goes where.
        markers = {name: [_Slot(name, i) for i in range(len(v))] if isinstance(v, list) else _Slot(name, None)
                   for name, v in params.items()}
        state = compiled.construct_expanded_state(markers)
        order = state.positiontup if compiled.positional else list(state.parameters)
        sources = []
        for expanded in order:
            value = state.parameters[expanded]
            if isinstance(value, _Slot):
                sources.append((value.name, value.index, None, processors.get(value.name)))
            else:  # a literal of the statement (``type == 'NET_DEBIT_CAP'``)
                processor = processors.get(expanded)
                sources.append((None, None, processor(value) if processor else value, None))
        if len(self._expanded) > 1024:  # lengths vary with the batch: keep the cache bounded
            self._expanded.clear()
        plan = self._expanded[key] = (state.statement, None if compiled.positional else tuple(order), tuple(sources))
        return plan

    def many_rows(self, connection: Connection, names: tuple[str, ...], rows: list[tuple]) -> int:
        """:meth:`many` with each row as a tuple of values in ``names`` order: no dict per row, and
        no work at all per row when the columns need no conversion (integers, text), as on the
        ledger's hot rows. Returns how many rows the statements changed."""
        dialect = connection.dialect
        key = (dialect.name, names)
        plan = self._rows_plans.get(key)
        if plan is None:
            sql, positional, processors, literals = self._plans.get(dialect.name) or self._plan(dialect)
            if literals:
                raise ValueError("many_rows needs every value bound by the caller")
            steps = [(names.index(n), processors.get(n)) for n in (positional or names)]
            direct = positional is not None and [i for i, _ in steps] == list(range(len(names))) \
                and not any(p for _, p in steps)
            plan = self._rows_plans[key] = (sql, positional, steps, direct)
        sql, positional, steps, direct = plan
        if direct:
            values: list = rows
        elif positional is not None:
            values = [tuple(proc(row[i]) if proc else row[i] for i, proc in steps) for row in rows]
        else:
            values = [{n: (proc(row[i]) if proc else row[i]) for n, (i, proc) in zip(names, steps)} for row in rows]
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(sql, values)
            return cursor.rowcount  # the rows all the statements changed (both drivers sum them)
        finally:
            cursor.close()

    def many(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Run the statement (an INSERT) once per row, in one driver call, in the
        connection's transaction."""
        plan = self._plans.get(connection.dialect.name) or self._plan(connection.dialect)
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(plan[0], [self._values(plan, row) for row in rows])
        finally:
            cursor.close()


class Database:
    """The engine and session factory of one instance."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = _SqliteWriterLock(settings) if self.engine.dialect.name == "sqlite" else None
        self._readers = threading.local()  # each reading thread's kept connection (see reading)
        self._readers_lock = threading.Lock()
        self._all_readers: list[Connection] = []
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None
        self._write_connection: Connection | None = None  # SQLite: what every write goes through

    @contextmanager
    def uow(self, write: bool = False, locked: bool = False) -> Iterator[Session]:
        """One transaction per command: commit on success, roll back on any exception.
        ``locked``: the caller holds the writer lock already (see :meth:`try_write_lock`)."""
        if write and self._writer is not None and not locked:
            with self._writer:
                with self._uow(write) as session:
                    yield session
            return
        with self._uow(write) as session:
            yield session

    @contextmanager
    def _uow(self, write: bool) -> Iterator[Session]:
        # On SQLite a process writes through one connection: writes take turns under the writer
        # lock anyway, and the connection keeps its page cache from one write to the next (a
        # pooled one had it emptied by every other connection's commit). Measured in one run,
        # batches alternated: the ledger alone did 1 % more with it after 200,000 transfers, 5 %
        # after 300,000 (the index it saves re-reading grows with the table).
        session = self._sessions(bind=self._writing()) if write and self._writer is not None else self._sessions()
        try:
            if write:
                session.connection(execution_options={"dpi_write": True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _writing(self) -> Connection:
        """The connection writes go through (SQLite; the caller holds the writer lock)."""
        connection = self._write_connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect().execution_options(dpi_write=True)
            # at the driver: a statement through SQLAlchemy would begin a transaction
            driver = connection.connection.driver_connection
            driver.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
            # A savepoint keeps the original of each page it changes (to roll back to) in a
            # statement journal, a temporary file past 64 KiB: in memory instead (a batch of
            # 2,000 transfers, ~8 MiB). Measured: the ledger alone 2-7 % more.
            driver.execute("PRAGMA temp_store=MEMORY")
            self._write_connection = connection
        return connection

    def _close_writing(self) -> None:
        connection, self._write_connection = self._write_connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close too
                pass

    def try_write_lock(self) -> bool:
        """Take the writer lock if it is free (True), for callers that must not wait for it;
        they pass ``locked=True`` to :meth:`uow` and call :meth:`release_write_lock`."""
        return self._writer is None or self._writer.try_acquire()

    def release_write_lock(self) -> None:
        if self._writer is not None:
            self._writer.release()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A plain connection without a transaction, for hot paths: every statement sees what
        is committed when it runs (so a reader that needs one snapshot asks in one statement).
        The ORM session's bookkeeping, BEGIN and ROLLBACK cost more than SQLite takes to
        answer a primary-key look-up, and so did checking a connection out of the pool and
        back in (about a quarter of an uncached authentication, profiled): each thread that
        reads here keeps one connection for itself. Meant for the event loop's thread (one a
        process); a connection that failed is dropped and the next read opens another."""
        connection = getattr(self._readers, "connection", None)
        if connection is None:
            connection = self.engine.connect()
            if self.engine.dialect.name == "sqlite":
                connection = connection.execution_options(dpi_autocommit=True)
            else:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            self._readers.connection = connection
            with self._readers_lock:
                self._all_readers.append(connection)
        try:
            yield connection
        except BaseException:
            self._drop_reader(connection)  # its state is unknown: never hand it out again
            raise

    def _drop_reader(self, connection: Connection) -> None:
        self._readers.connection = None
        with self._readers_lock:
            if connection in self._all_readers:
                self._all_readers.remove(connection)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close too
            pass

    def checkpoint_in_background(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        """SQLite: copy the write-ahead log into the database from a thread of its own.

        SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages of log,
        so under our writer lock: measured under authentication load, those commits took
        16-20 ms instead of 2 and held every writer of the host back. Here a thread runs a
        PASSIVE checkpoint every ``interval`` seconds on its own connection (alongside the
        writers, the GIL released while it copies), and commits checkpoint themselves only
        past ``BACKSTOP_CHECKPOINT_PAGES``, by when little is left to copy; that checkpoint,
        under the lock, also lets the log restart from its beginning. For server processes;
        a no-op on PostgreSQL.
        """
        if self.engine.dialect.name != "sqlite" or self._checkpointer is not None:
            return

        def backstop(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")

        event.listen(self.engine, "connect", backstop)
        self._close_writing()
        self.engine.dispose()  # pooled connections reopen with the backstop
        stop = threading.Event()
        path = self.engine.url.database

        def run() -> None:
            connection = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
            try:
                while not stop.wait(interval):
                    try:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.OperationalError:
                        continue  # another process is checkpointing: next time
            finally:
                connection.close()

        thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def dispose(self) -> None:
        self._close_writing()
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(timeout=10)
            self._checkpointer = None
        with self._readers_lock:
            readers, self._all_readers = self._all_readers, []
        for connection in readers:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing from another thread than the reader's
                pass
        self._readers = threading.local()
        self.engine.dispose()
