"""`dpi bench payments`: the ledger alone, and end-to-end transfers between two simulated FSPs.

Goals (issue #9): end-to-end >= 1,000 transfers/s with p99 <= 250 ms on the 2-core machine,
zero lost, `dpi payments check` clean after the run; the ledger alone >= 50,000 durable
transfers/s.

* ``ledger_``: the ledger's own batch functions in this process on a fresh database, as the
  switch's group commit calls them: ``batch`` prepares in one transaction, then their
  fulfilments in another, each committed (durable: SQLite ``synchronous=FULL``) before the next
  batch; a transfer counts once its commit is durable. Payers and payees rotate over ``fsps``
  participants so that positions, caps and liquidity are checked for real.
* ``e2e_``: the switch served by uvicorn (``dpistack.asgi:app``, what ``dpi serve`` runs) in
  ``workers`` processes, and two ``dpi payments simulate-fsp`` processes, all on loopback.
  Governance onboards both FSPs, the hub operator funds them, the payee registers its party.
  The payer simulator then keeps ``concurrency`` transfers in flight for ``seconds``: each is
  POST /transfers → the switch reserves, forwards to the payee → the payee checks the ILP
  packet and fulfils (PUT) → the switch commits and relays the PUT to the payer, whose clock
  stops then. The party lookup is cached and the quote is not in the loop (the payer builds
  the packet the payee's quote would give). Lost = transfers the payer started that are not
  committed or aborted at the switch once the run has drained.
"""

from __future__ import annotations

import json
import secrets
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Optional

import httpx
import typer
from rich.console import Console
from sqlalchemy import func, select

from dpistack.bench.identity_matching import _pct
from dpistack.bench.processes import server_cpu_s, start_server, stop, wait_ready
from dpistack.bench.report import emit, machine
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.core.server import free_port, tune_gc_for_serving
from dpistack.core.timeutil import utcnow
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient
from dpistack.governance.models import Participant
from dpistack.governance.setup import init_instance
from dpistack.payments import admin, ilp, ledger, money, scheme
from dpistack.payments.check import check
from dpistack.payments.models import Transfer
from dpistack.payments.simulator import endpoints_for


def command(
    ledger_transfers: int = typer.Option(200_000, "--ledger-transfers", min=0, help="Transfers through the ledger alone."),
    batch: int = typer.Option(2000, "--batch", min=1, help="Transfers per ledger transaction."),
    fsps: int = typer.Option(8, "--fsps", min=2, help="Participants of the ledger-alone run."),
    seconds: float = typer.Option(10, "--seconds", min=0, help="Seconds of end-to-end load (0: skip)."),
    concurrency: int = typer.Option(128, "--concurrency", min=1, help="Transfers in flight end to end."),
    workers: int = typer.Option(1, "--workers", min=1, help="Switch processes."),
    database_url: Optional[str] = typer.Option(None, "--database-url", envvar="DPI_DATABASE_URL",
                                               help="Default: SQLite in a temporary directory."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
) -> None:
    """Measure the ledger alone and end-to-end transfers between two simulated FSPs."""
    console = Console(stderr=json_out)
    figures: dict = {"bench": "payments", **machine()}
    if ledger_transfers:
        figures.update(measure_ledger(ledger_transfers, batch, fsps, database_url, console))
    if seconds:
        figures.update(measure_e2e(seconds, concurrency, workers, database_url, console))
    emit(console, "dpi bench payments", figures, json_out)


# -- the ledger alone ---------------------------------------------------------------------------
def _fresh(database_url: str | None) -> tuple[Platform, Path]:
    workdir = Path(tempfile.mkdtemp(prefix="dpi-bench-payments-"))
    platform = Platform.open(Settings(data_dir=workdir, database_url=database_url))
    if not init_instance(platform):
        platform.close()
        raise typer.BadParameter("that database already holds an instance; the benchmark needs an empty one")
    return platform, workdir


def _setup_ledger(platform: Platform, names: list[str], cap: int) -> None:
    with platform.db.uow(write=True) as s:
        for kind in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
            admin.create_hub_account(s, "Hub", "USD", kind)
        for name in names:
            s.add(Participant(id=name, name=name, kind="bank", roles=["fsp"], status="active", endpoints={}))
            s.flush()
            admin.create_participant(s, name, "USD")
            admin.initial_position_and_limits(s, name, "USD", {"type": "NET_DEBIT_CAP",
                                                               "value": money.minor_to_number(cap, "USD")}, 0)
            settlement = admin._account(s, name, "USD", "SETTLEMENT")
            admin.record_funds(s, name, settlement.id, {
                "transferId": str(uuid.uuid4()), "externalReference": "bench", "action": "recordFundsIn",
                "reason": "bench", "amount": {"amount": money.to_amount(cap, "USD"), "currency": "USD"}})


def measure_ledger(total: int, batch: int, n_fsps: int, database_url: str | None, console: Console) -> dict:
    platform, workdir = _fresh(database_url)
    try:
        names = [f"fsp{i}" for i in range(n_fsps)]
        _setup_ledger(platform, names, cap=10 ** 15)
        preimage = secrets.token_bytes(32)
        fulfilment = ilp.b64url(preimage)
        condition = ilp.condition(fulfilment)
        expiration = utcnow() + timedelta(hours=1)
        done = committed = 0
        console.print(f"ledger alone: {total:,} transfers in batches of {batch:,} "
                      f"({platform.db.engine.dialect.name})")
        # the commands (and the payees' answers) are made before the clock starts: what is timed
        # is the ledger's work.
        # Every pair of participants in turn: payer i, payee i + 1 … i + n - 1 (never itself).
        commands = [ledger.Prepare(str(uuid.uuid4()), names[i % n_fsps],
                                   names[(i + 1 + (i // n_fsps) % (n_fsps - 1)) % n_fsps], "USD", 100 + i % 900,
                                   condition, expiration, "b" * 43) for i in range(total)]
        answers = [ledger.Fulfil(p.transfer_id, p.payee, p.payer, "COMMITTED", fulfilment, "f") for p in commands]
        # as a switch process runs (`dpi serve`): its collector's tuning, and SQLite's log copied
        # into the database by a thread of its own, not inside the commits
        tune_gc_for_serving()
        platform.db.checkpoint_in_background()
        started = time.perf_counter()
        cpu = time.process_time()
        while done < total:
            n = min(batch, total - done)
            items = commands[done:done + n]
            with platform.db.uow(write=True) as s:
                outcomes = ledger.prepare(s, items, utcnow())
            fulfils = [f for f, o in zip(answers[done:done + n], outcomes) if o.kind == "reserved"]
            with platform.db.uow(write=True) as s:
                outcomes = ledger.commit(s, fulfils, utcnow())
            committed += sum(o.kind == "committed" for o in outcomes)
            done += n
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        problems = check(platform)
        return {"ledger_transfers_per_s": round(committed / elapsed), "ledger_transfers": committed,
                "ledger_batch": batch, "ledger_seconds": round(elapsed, 2), "ledger_cpu_s": round(cpu, 2),
                "ledger_check_problems": len(problems), "ledger_database": platform.db.engine.dialect.name}
    finally:
        platform.close()
        shutil.rmtree(workdir, ignore_errors=True)


# -- end to end ---------------------------------------------------------------------------------
def _simulator(data_dir: Path, name: str, switch: str, port: int, secret: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dpistack.cli", "payments", "simulate-fsp", "--name", name,
                             "--port", str(port), "--switch", switch, "--data-dir", str(data_dir), "--secret", secret],
                            stdin=subprocess.DEVNULL, stdout=(data_dir / f"sim-{name}.log").open("w"),
                            stderr=subprocess.STDOUT)


def _wait_sim(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator at {url} exited with {proc.returncode}")
        try:
            if httpx.get(url + "/sim/state", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the simulator at {url} did not start")


def measure_e2e(seconds: float, concurrency: int, workers: int, database_url: str | None, console: Console) -> dict:
    platform, data_dir = _fresh(database_url)
    platform.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    payer_port, payee_port = free_port(), free_port()
    secret = secrets.token_hex(16)
    processes: list[subprocess.Popen] = []
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            processes.append(start_server(data_dir, database_url, port, base, caches=True, workers=workers))
            wait_ready(http, processes[-1])
            token_url = f"{base}/oauth/token"

            def actor(pid: str) -> ParticipantClient:
                return ParticipantClient(http, pid, credentials.load_private_jwk(data_dir, pid), token_url)

            regulator = actor("central-bank")
            scheme.open_hub(regulator, "USD")
            for name, port in (("payer-bank", payer_port), ("payee-wallet", payee_port)):
                scheme.onboard_fsp(actor("digital-agency"), regulator, data_dir, name, name, endpoints_for(
                    f"http://127.0.0.1:{port}"), "USD", "1000000000", "1000000000")
        payer_url, payee_url = f"http://127.0.0.1:{payer_port}", f"http://127.0.0.1:{payee_port}"
        payer = _simulator(data_dir, "payer-bank", base, payer_port, "payer")
        payee = _simulator(data_dir, "payee-wallet", base, payee_port, secret)
        processes += [payer, payee]
        _wait_sim(payer_url, payer)
        _wait_sim(payee_url, payee)
        r = httpx.post(f"{payee_url}/sim/parties", json={"id": "255700000001", "name": "Bench Payee", "balance": "0",
                                                        "currency": "USD"}, timeout=60)
        r.raise_for_status()
        httpx.post(f"{payer_url}/sim/parties", json={"id": "255700000002", "name": "Bench Payer",
                                                    "balance": "1000000000", "currency": "USD", "register": False})
        load = {"from": "255700000002", "to": "255700000001", "payee_fsp": "payee-wallet", "amount": "1.5",
                "currency": "USD", "payee_secret": secret.encode().hex(), "concurrency": concurrency}
        console.print(f"end to end: {workers} switch process(es), 2 simulated FSPs, {concurrency} in flight; warming up")
        httpx.post(f"{payer_url}/sim/load", json={**load, "seconds": 2}, timeout=120).raise_for_status()
        pids = [p.pid for p in processes]
        switch_pids = [p.pid for p in processes[:workers]]
        cpu_all, cpu_switch = server_cpu_s(pids), server_cpu_s(switch_pids)
        console.print(f"measuring for {seconds:g} s")
        result = httpx.post(f"{payer_url}/sim/load", json={**load, "seconds": seconds}, timeout=seconds + 180).json()
        cpu_all, cpu_switch = server_cpu_s(pids) - cpu_all, server_cpu_s(switch_pids) - cpu_switch
        books = _drained(payer_url)
    finally:
        stop(processes)
    platform = Platform.open(Settings(data_dir=data_dir, database_url=database_url))
    try:
        problems = check(platform)
        with platform.db.uow() as s:
            final = dict(s.execute(select(Transfer.state, func.count()).where(Transfer.payer == "payer-bank")
                                   .group_by(Transfer.state)).all())
    finally:
        platform.close()
        if os.environ.get("DPI_BENCH_KEEP"):
            console.print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    started = books["counts"]["sent"]
    ms = [t * 1000 for t in result["latencies"]] or [0.0]
    committed = result["states"].get("COMMITTED", 0)
    return {"e2e_transfers_per_s": round(committed / result["seconds"], 1), "e2e_committed": committed,
            "e2e_states": json.dumps(result["states"], sort_keys=True),
            "e2e_p50_ms": round(_pct(ms, 50), 1), "e2e_p95_ms": round(_pct(ms, 95), 1),
            "e2e_p99_ms": round(_pct(ms, 99), 1), "e2e_concurrency": concurrency, "e2e_workers": workers,
            "e2e_lost": started - final.get("COMMITTED", 0) - final.get("ABORTED", 0),
            "e2e_check_problems": len(problems), "e2e_switch_cpu_s": round(cpu_switch, 1),
            "e2e_all_cpu_s": round(cpu_all, 1), "e2e_seconds": round(result["seconds"], 1)}


def _drained(payer_url: str, timeout: float = 120) -> dict:
    """The payer's books once nothing it sent is pending (every outcome arrived)."""
    deadline = time.monotonic() + timeout
    while True:
        books = httpx.get(f"{payer_url}/sim/state", timeout=30).json()["books"]
        if not books["sent_pending"] or time.monotonic() > deadline:
            return books
        time.sleep(0.5)
