"""The switch and two simulated FSPs as separate processes on loopback: a person pays another by
phone number (lookup, quote, transfer, every callback over real HTTP); and the switch is
killed (SIGKILL) in the middle of a load and restarted: every transfer ends committed or
aborted once, no reservation outlives its expiry, the FSPs' books match the switch's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dpistack.core.server import free_port
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient
from dpistack.payments import scheme
from dpistack.payments.simulator import endpoints_for, spawn
from tests.e2e.test_serve import START_DEADLINE, dpi_serve, new_user_env

pytestmark = pytest.mark.e2e


def wait_up(url: str, proc: subprocess.Popen, log: Path, path: str = "/sim/state") -> None:
    deadline = time.monotonic() + START_DEADLINE
    while True:
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(f"{url} did not come up: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def simulator(data_dir: Path, name: str, switch: str, port: int, secret: str = ""):
    return spawn(name, port, switch, data_dir, secret=secret, env=new_user_env(data_dir), start_timeout=START_DEADLINE)


def setup_scheme(base: str, data_dir: Path, sims: dict[str, int], ndc: str = "100000", funds: str = "100000") -> None:
    http = httpx.Client(base_url=base, timeout=30)
    token_url = f"{base}/oauth/token"

    def actor(pid):
        return ParticipantClient(http, pid, credentials.load_private_jwk(data_dir, pid), token_url)

    regulator = actor("central-bank")
    scheme.open_hub(regulator, "USD")
    for name, port in sims.items():
        scheme.onboard_fsp(actor("digital-agency"), regulator, data_dir, name, name.replace("-", " ").title(),
                           endpoints_for(f"http://127.0.0.1:{port}"), "USD", ndc, funds)


def init(data_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "dpistack.cli", "init", "--data-dir", str(data_dir)], check=True,
                   env=new_user_env(data_dir), capture_output=True, timeout=60)


def test_a_person_pays_another_by_phone_number_across_processes(tmp_path):
    data_dir = tmp_path / "switch"
    init(data_dir)
    ports = {"north-bank": free_port(), "south-wallet": free_port()}
    with dpi_serve(data_dir) as (base, _):
        setup_scheme(base, data_dir, ports)
        with simulator(data_dir, "north-bank", base, ports["north-bank"]) as north, \
                simulator(data_dir, "south-wallet", base, ports["south-wallet"]) as south:
            r = httpx.post(f"{south}/sim/parties", json={"id": "255711000111", "name": "Juma Bakari",
                                                        "balance": "0", "currency": "USD"}, timeout=30)
            assert r.status_code == 201, r.text
            r = httpx.post(f"{north}/sim/parties", json={"id": "255722000222", "name": "Neema Said",
                                                        "balance": "100", "currency": "USD", "register": False})
            assert r.status_code == 201
            result = httpx.post(f"{north}/sim/send", json={"from": "255722000222", "to": "255711000111",
                                                          "amount": "42.5", "currency": "USD"}, timeout=60).json()
            assert result["state"] == "COMMITTED", result
            assert result["payee"]["name"] == "Juma Bakari" and result["quote"]["transferAmount"]["amount"] == "42.5"
            north_state = httpx.get(f"{north}/sim/state").json()
            south_state = httpx.get(f"{south}/sim/state").json()
            assert north_state["parties"][0]["balance"] == "57.5" and south_state["parties"][0]["balance"] == "42.5"
            regulator = ParticipantClient(httpx.Client(base_url=base), "central-bank",
                                          credentials.load_private_jwk(data_dir, "central-bank"), f"{base}/oauth/token")
            assert scheme.account(regulator, "north-bank", "POSITION", "USD")["value"] == 42.5
            assert scheme.account(regulator, "south-wallet", "POSITION", "USD")["value"] == -42.5
    check = subprocess.run([sys.executable, "-m", "dpistack.cli", "payments", "check", "--data-dir", str(data_dir)],
                           env=new_user_env(data_dir), capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout


async def _load(north: str, n: int, payee: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=120) as http:
        async def one(i):
            try:
                r = await http.post(f"{north}/sim/send", json={"from": "255722000222", "to": payee, "amount": "1",
                                                               "currency": "USD"})
                return r.json()
            except httpx.HTTPError as exc:
                return {"state": "CLIENT-ERROR", "error": str(exc)}
        return await asyncio.gather(*(one(i) for i in range(n)))


def test_the_switch_killed_mid_load_loses_nothing(tmp_path):
    data_dir = tmp_path / "switch"
    init(data_dir)
    ports = {"north-bank": free_port(), "south-wallet": free_port()}
    port = free_port()
    env = {**new_user_env(data_dir), "DPI_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    log = tmp_path / "switch.log"

    def start() -> subprocess.Popen:
        out = log.open("a")
        proc = subprocess.Popen([sys.executable, "-m", "dpistack.cli", "serve", "--port", str(port), "--data-dir",
                                 str(data_dir)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        wait_up(f"http://127.0.0.1:{port}", proc, log, "/healthz")
        return proc

    base = f"http://127.0.0.1:{port}"
    switch = start()
    try:
        setup_scheme(base, data_dir, ports)
        with simulator(data_dir, "north-bank", base, ports["north-bank"]) as north, \
                simulator(data_dir, "south-wallet", base, ports["south-wallet"]) as south:
            httpx.post(f"{south}/sim/parties", json={"id": "255711000111", "name": "Juma Bakari", "balance": "0",
                                                    "currency": "USD"}, timeout=30)
            httpx.post(f"{north}/sim/parties", json={"id": "255722000222", "name": "Neema Said", "balance": "100000",
                                                    "currency": "USD", "register": False})

            async def kill_midway():
                nonlocal switch
                load = asyncio.ensure_future(_load(north, 200, "255711000111"))
                while not httpx.get(f"{north}/sim/state").json()["books"]["sent_committed"]:
                    await asyncio.sleep(0.05)  # transfers are committing: now
                switch.send_signal(signal.SIGKILL)
                await asyncio.to_thread(switch.wait, 10)
                switch = await asyncio.to_thread(start)
                return await load

            results = asyncio.run(kill_midway())
            states = {r.get("state") for r in results}
            assert states <= {"COMMITTED", "ABORTED"} and "COMMITTED" in states, [r for r in results if r.get("state") not in ("COMMITTED", "ABORTED")][:3]
            # the restarted switch finishes what was in flight: callbacks resent, reservations expired
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                north_books = httpx.get(f"{north}/sim/state").json()["books"]
                if not north_books["sent_pending"]:
                    break
                time.sleep(1)
            south_books = httpx.get(f"{south}/sim/state").json()["books"]
            assert not north_books["sent_pending"], north_books
            regulator = ParticipantClient(httpx.Client(base_url=base), "central-bank",
                                          credentials.load_private_jwk(data_dir, "central-bank"), f"{base}/oauth/token")
            committed = scheme.account(regulator, "north-bank", "POSITION", "USD")
            assert committed["reservedValue"] == 0
            paid = north_books["sent_committed"].get("USD", 0) / 100
            received = south_books["received_committed"].get("USD", 0) / 100
            assert committed["value"] == paid == received  # the FSPs' books are the switch's
            assert scheme.account(regulator, "south-wallet", "POSITION", "USD")["value"] == -received
    finally:
        switch.terminate()
        switch.wait(timeout=15)
    check = subprocess.run([sys.executable, "-m", "dpistack.cli", "payments", "check", "--data-dir", str(data_dir)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout
    assert os.path.exists(data_dir / "dpi.sqlite3")


def test_two_switch_processes_on_postgresql_never_pass_a_cap_nor_commit_twice(tmp_path):
    """A switch of two worker processes on PostgreSQL (sharing one port, as behind one address),
    a payer keeping 16 transfers in flight until its net debit cap stops it: the cap is reached exactly, never passed, each
    transfer ended once, and the FSPs' books are the switch's."""
    import uuid

    from sqlalchemy import create_engine, text

    from dpistack.bench.processes import start_server, wait_ready
    from tests.conftest import PG_URL, require_postgres

    require_postgres()
    name = f"t_switch_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    data_dir = tmp_path / "switch"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**new_user_env(data_dir), "DPI_DATABASE_URL": database_url}
    server = None
    try:
        subprocess.run([sys.executable, "-m", "dpistack.cli", "init", "--data-dir", str(data_dir)], check=True,
                       env=env, capture_output=True, timeout=120)
        server = start_server(data_dir, database_url, port, base, caches=False, workers=2)
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_ready(http, server)
        ports = {"north-bank": free_port(), "south-wallet": free_port()}
        setup_scheme(base, data_dir, ports, ndc="300", funds="1000")
        secret = "south-secret"
        with simulator(data_dir, "north-bank", base, ports["north-bank"]) as north, \
                simulator(data_dir, "south-wallet", base, ports["south-wallet"], secret=secret) as south:
            httpx.post(f"{south}/sim/parties", json={"id": "255711000111", "name": "Juma Bakari", "balance": "0",
                                                    "currency": "USD"}, timeout=30).raise_for_status()
            httpx.post(f"{north}/sim/parties", json={"id": "255722000222", "name": "Neema Said", "balance": "100000",
                                                    "currency": "USD", "register": False}).raise_for_status()
            result = httpx.post(f"{north}/sim/load", json={
                "from": "255722000222", "to": "255711000111", "payee_fsp": "south-wallet", "amount": "5",
                "currency": "USD", "payee_secret": secret.encode().hex(), "concurrency": 16, "seconds": 4},
                timeout=240).json()
            states = result["states"]
            assert set(states) <= {"COMMITTED", "ABORTED"}, states
            assert states.get("COMMITTED") == 60 and states.get("ABORTED", 0) > 0, states  # 300 / 5, then refused
            north_books = httpx.get(f"{north}/sim/state").json()["books"]
            south_books = httpx.get(f"{south}/sim/state").json()["books"]
            regulator = ParticipantClient(httpx.Client(base_url=base), "central-bank",
                                          credentials.load_private_jwk(data_dir, "central-bank"), f"{base}/oauth/token")
            position = scheme.account(regulator, "north-bank", "POSITION", "USD")
            assert (position["value"], position["reservedValue"]) == (300, 0)  # the cap, exactly
            assert north_books["sent_committed"]["USD"] == south_books["received_committed"]["USD"] == 30000
        server.terminate()
        server.wait(timeout=30)
        server = None
        check = subprocess.run([sys.executable, "-m", "dpistack.cli", "payments", "check", "--data-dir",
                                str(data_dir)], env=env, capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=30)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
