"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) is on every CI machine: with CI=true an
unreachable server fails the PostgreSQL tests; elsewhere they skip, saying why.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dpistack.app import create_app
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.oauth import token_endpoint
from dpistack.governance.setup import init_instance

PG_URL = os.environ.get("DPI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL at {PG_URL} is unreachable: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"


_PG_PROBLEM: str | None = None
_PG_CHECKED = False


def require_postgres() -> None:
    global _PG_PROBLEM, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_PROBLEM, _PG_CHECKED = _pg_reachable(), True
    if _PG_PROBLEM:
        if os.environ.get("CI") == "true":
            pytest.fail(_PG_PROBLEM + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(_PG_PROBLEM)


NATS_URL = os.environ.get("DPI_TEST_NATS_URL", "nats://127.0.0.1:4222")


def require_nats() -> str:
    """The NATS JetStream URL the suite uses; skipped when unreachable, failed under CI=true."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(NATS_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 4222), timeout=3).close()
    except OSError as exc:
        problem = f"NATS at {NATS_URL} is unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(problem + " (CI=true: NATS tests must run)")
        pytest.skip(problem)
    return NATS_URL


@pytest.fixture
def pg_engine():
    """An engine on a fresh, private PostgreSQL schema, dropped after the test."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=5)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def open_platform(tmp_path: Path, backend: str, request) -> Platform:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver")
    if backend == "postgres":
        engine = request.getfixturevalue("pg_engine")
        settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver", database_url=PG_URL)
        return Platform.open(settings, engine=engine)
    return Platform.open(settings)


@pytest.fixture
def jetstream_outbox(platform):
    """``platform`` with its outbox on a stream of its own on the machine's NATS JetStream
    (ask for it before any fixture that starts the app)."""
    import asyncio

    import nats

    url = require_nats()
    stream = f"T_{uuid.uuid4().hex[:10]}"
    platform.settings.outbox_url, platform.settings.outbox_stream = url, stream
    yield platform

    async def drop():
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:  # noqa: BLE001 - never made
            pass
        await nc.close()
    asyncio.run(drop())


@pytest.fixture(params=["sqlite", "postgres"])
def platform(request, tmp_path) -> Platform:
    """An initialised-on-disk platform (keys, migrated schema) on each storage backend."""
    p = open_platform(tmp_path, request.param, request)
    yield p
    p.close()


@pytest.fixture
def sqlite_platform(request, tmp_path) -> Platform:
    p = open_platform(tmp_path, "sqlite", request)
    yield p
    p.close()


@pytest.fixture
def client(platform):
    """An HTTP client speaking to the app in-process (no sockets)."""
    with TestClient(create_app(platform), base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


class Actors:
    """The authorities from `dpi init` plus any institution a test onboards."""

    def __init__(self, platform, client):
        self.platform, self.client = platform, client
        init_instance(platform)
        self.token_url = token_endpoint(platform.settings)

    def __call__(self, participant_id: str, key=None) -> ParticipantClient:
        key = key or credentials.load_private_jwk(self.platform.settings.data_dir, participant_id)
        assert key is not None, f"no credential for {participant_id}"
        return ParticipantClient(self.client, participant_id, key, self.token_url)

    def propose_onboarding(self, participant_id: str, kind: str, roles: list[str], by: str = "digital-agency"):
        key = credentials.new_key()
        credentials.save_private_jwk(self.platform.settings.data_dir, participant_id, key)
        payload = onboarding_payload(participant_id, participant_id.replace("-", " ").title(), kind, roles, key)
        response = self(by).propose("participant.onboard", payload)
        assert response.status_code == 201, response.text
        return response.json()

    def onboard(self, participant_id: str, kind: str, roles: list[str], approvers: list[str]) -> ParticipantClient:
        proposal = self.propose_onboarding(participant_id, kind, roles)
        for approver in approvers:
            response = self(approver).decide(proposal)
            assert response.status_code == 200, response.text
        assert response.json()["status"] == "enacted"
        return self(participant_id)

    def grant_claims(self, participant_id: str, claims: list[str]) -> None:
        """Governance grants a relying party identity claims (one access.grant per claim)."""
        from dpistack.identity.claims import category

        for claim in claims:
            proposal = self(participant_id).propose("access.grant", {
                "participant_id": participant_id, "action": "data:read", "category": category(claim),
                "owner_id": "identity-authority", "purpose": "know your customer"}).json()
            assert self("identity-authority").decide(proposal).json()["status"] == "enacted"


@pytest.fixture
def actors(platform, client) -> Actors:
    return Actors(platform, client)
