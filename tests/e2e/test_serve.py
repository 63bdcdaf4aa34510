"""`dpi serve` as a real process on loopback: health, participant tokens, an OpenID Connect
login, the log. Nothing sets DPI_PUBLIC_URL, as for a new user: what the server advertises
(issuer, token endpoint, discovery) follows its --port (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt

from dpistack.app import create_app
from dpistack.core.server import free_port
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient
from dpistack.identity.service import IdentityContext
from tests.conftest import Actors
from tests.identity.test_oidc import Person, _code_and_client, enrol_person_and_register_client, keys

START_DEADLINE = 60  # seconds a server may take to answer /healthz before the test gives up


def new_user_env(data_dir: Path) -> dict[str, str]:
    """No DPI_PUBLIC_URL, SQLite in the data directory."""
    env = {**os.environ, "DPI_DATA_DIR": str(data_dir)}
    env.pop("DPI_PUBLIC_URL", None)
    env.pop("DPI_DATABASE_URL", None)
    return env


@contextmanager
def dpi_serve(data_dir: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """`dpi serve` on a free loopback port (never the default 8000) until the block ends;
    yields its URL and the file holding what it printed."""
    port = next(p for p in iter(free_port, None) if p != 8000)
    printed = data_dir.parent / f"dpi-serve-{port}.log"
    with printed.open("w") as out:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "dpistack.cli", "serve", "--port", str(port), "--data-dir", str(data_dir), *options],
            env=new_user_env(data_dir), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"dpi serve did not come up: {printed.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, printed
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def cli_token(participant_id: str, data_dir: Path, issuer: str) -> str:
    """An access token from `dpi participants token`, as a developer would get one for curl. The
    command signs it in its own process, so it is told the issuer the server uses."""
    return subprocess.run(
        [sys.executable, "-m", "dpistack.cli", "participants", "token", participant_id, "--data-dir", str(data_dir)],
        env={**new_user_env(data_dir), "DPI_PUBLIC_URL": issuer}, capture_output=True, text=True, timeout=60,
        check=True,
    ).stdout.strip().splitlines()[-1]


def discovery(base: str) -> dict:
    return httpx.get(base + "/.well-known/openid-configuration", timeout=10).json()


def test_served_instance_authenticates_participants_and_publishes_its_log(tmp_path):
    data_dir = tmp_path / "data"
    with dpi_serve(data_dir) as (base, _), httpx.Client(base_url=base, timeout=10) as http:
        token = cli_token("digital-agency", data_dir, base)
        assert http.get("/governance/v1/participants").status_code == 401
        r = http.get("/governance/v1/participants", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "central-bank" in {p["id"] for p in r.json()}
        checkpoint = http.get("/transparency/v1/checkpoint")
        assert checkpoint.headers["content-type"].startswith("text/plain")
        assert checkpoint.text.splitlines()[1] == "1"  # the genesis entry
        assert "dpi_http_requests_total" in http.get("/metrics").text


def test_the_kept_demo_instance_can_be_served_on_another_port(tmp_path):
    """The issue as a new user met it: `dpi demo --keep DIR`, then `dpi serve --data-dir DIR
    --port P`; a participant signs its assertion for the token endpoint discovery names."""
    data_dir = tmp_path / "demo"
    kept = subprocess.run([sys.executable, "-m", "dpistack.cli", "demo", "--keep", str(data_dir)],
                          env=new_user_env(data_dir), capture_output=True, text=True, timeout=180)
    assert kept.returncode == 0, kept.stdout[-2000:]
    with dpi_serve(data_dir) as (base, printed), httpx.Client(base_url=base, timeout=10) as http:
        meta = discovery(base)
        assert (meta["issuer"], meta["token_endpoint"]) == (base, base + "/oauth/token")
        bank = ParticipantClient(http, "first-bank", credentials.load_private_jwk(data_dir, "first-bank"),
                                 meta["token_endpoint"])
        participants = bank.get("/governance/v1/participants")
        assert participants.status_code == 200
        assert {"first-bank", "ministry-of-health", "civil-registry"} <= {p["id"] for p in participants.json()}
        assert int(http.get("/transparency/v1/checkpoint").text.splitlines()[1]) > 10
        said = printed.read_text()
        assert f"listening on  {base}\n" in said
        assert f"public URL    {base}  (issuer, token endpoint, OpenID discovery; from --host and --port)" in said
        # The portal, set up by the demo on its own port, sends people to this port's login pages.
        assert f"portal        {base}/  (citizen portal" in said
        login = http.get("/login")
        assert login.status_code == 303 and login.headers["location"].startswith(base + "/authorize?")
        assert "Log in with your national ID" in http.get(login.headers["location"]).text


@pytest.mark.e2e
def test_the_port_served_is_the_issuer_for_participants_and_oidc_clients(sqlite_platform):
    """Two workers (each reads its settings from the environment) on a port other than 8000: a
    participant's client-credentials request and an OIDC login (authorization code, PKCE,
    private_key_jwt), each aimed at what discovery names, succeed, and the tokens name that issuer."""
    data_dir = sqlite_platform.settings.data_dir
    with TestClient(create_app(sqlite_platform), base_url="http://testserver") as in_process:
        login = enrol_person_and_register_client(Actors(sqlite_platform, in_process))

    with dpi_serve(data_dir, "--workers", "2") as (base, _), httpx.Client(base_url=base, timeout=10) as http:
        meta = discovery(base)
        assert meta["issuer"] == base
        assert {meta[name] for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")} == {
            base + "/authorize", base + "/oauth/token", base + "/.well-known/jwks.json"}

        agency = ParticipantClient(http, "digital-agency", credentials.load_private_jwk(data_dir, "digital-agency"),
                                   meta["token_endpoint"])
        granted = agency.request_token()
        assert granted.status_code == 200, granted.text
        access = jwt.decode(granted.json()["access_token"], keys(meta)).claims
        assert access["iss"] == base and access["sub"] == "digital-agency"
        assert agency.get("/governance/v1/participants").status_code == 200

        provider = {**login, "base": base, "person": Person(base, IdentityContext.of(sqlite_platform).channels["sms"])}
        client, meta, location = _code_and_client(provider, nonce="n-13")
        tokens = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier="b" * 50)
        id_token = jwt.decode(tokens["id_token"], keys(meta), algorithms=["RS256"]).claims
        assert (id_token["iss"], id_token["aud"], id_token["nonce"]) == (base, "pension-web", "n-13")
        assert client.get(meta["userinfo_endpoint"]).status_code == 200
