"""`dpi bench exchange`: the information mediator's throughput and the latency it adds.

Goals (issue #10): >= 2,000 mediated requests/s on the 2-core machine with the message log on,
and <= 2 ms added at p50 over calling the backend directly, measured in the same run.

Processes on loopback: the platform (``dpistack.asgi:app`` under uvicorn, what ``dpi serve``
runs, ``workers`` of them), the provider's backend (a minimal ASGI app under uvicorn), and
this process as the load generator (aiohttp). Governance onboards a provider and a consumer,
the provider publishes a service (not personal data) and the consumer is granted access.

* ``added_latency_p50_ms``: requests one at a time, alternating direct (GET the backend) and
  mediated (GET /r1/... with X-Road-Client and the access token), ``latency_requests`` of
  each; the difference of the two p50s.
* ``mediated_requests_per_s``: ``concurrency`` mediated requests in flight for ``seconds``;
  every answer must be a 200 from the backend, and every one of them is a message-log record
  (counted after the run).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import aiohttp
import httpx
import typer
from rich.console import Console
from sqlalchemy import func, select

from dpistack.bench.identity_matching import _pct
from dpistack.bench.processes import server_cpu_s, start_server, stop, wait_ready
from dpistack.bench.report import emit, machine
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.core.server import free_port
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload
from dpistack.governance.setup import init_instance

SERVICE = "/r1/DPI/GOV/bench-registry/registry/persons/v1/persons/1234"
CLIENT = "DPI/GOV/bench-ministry"


def command(
    seconds: float = typer.Option(10, "--seconds", min=0.5, help="Seconds of throughput load."),
    concurrency: int = typer.Option(64, "--concurrency", min=1, help="Mediated requests in flight."),
    latency_requests: int = typer.Option(1000, "--latency-requests", min=10,
                                         help="Requests one at a time, of each kind, for the added latency."),
    workers: int = typer.Option(1, "--workers", min=1, help="Platform server processes."),
    database_url: Optional[str] = typer.Option(None, "--database-url", envvar="DPI_DATABASE_URL",
                                               help="Default: SQLite in a temporary directory."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
) -> None:
    """Measure the mediator: requests/s with the message log on, and the latency it adds."""
    console = Console(stderr=json_out)
    figures: dict = {"bench": "exchange", **machine()}
    figures.update(measure(seconds, concurrency, latency_requests, workers, database_url, console))
    emit(console, "dpi bench exchange", figures, json_out)


def _onboard(http: httpx.Client, data_dir: Path, token_url: str, pid: str, kind: str, roles: list[str]) -> None:
    key = credentials.new_key()
    credentials.save_private_jwk(data_dir, pid, key)
    agency = ParticipantClient(http, "digital-agency", credentials.load_private_jwk(data_dir, "digital-agency"),
                               token_url)
    proposal = agency.propose("participant.onboard", onboarding_payload(pid, pid, kind, roles, key)).json()
    decided = agency.decide(proposal).json()
    assert decided["status"] == "enacted", decided


def _setup(http: httpx.Client, data_dir: Path, token_url: str, backend_url: str) -> ParticipantClient:
    _onboard(http, data_dir, token_url, "bench-registry", "registry", ["data-provider"])
    _onboard(http, data_dir, token_url, "bench-ministry", "ministry", ["data-consumer"])
    registry = ParticipantClient(http, "bench-registry", credentials.load_private_jwk(data_dir, "bench-registry"),
                                 token_url)
    ministry = ParticipantClient(http, "bench-ministry", credentials.load_private_jwk(data_dir, "bench-ministry"),
                                 token_url)
    registry.post("/exchange/v1/subsystems", json={"code": "registry"}).raise_for_status()
    registry.put("/exchange/v1/services", json={"subsystem": "registry", "service_code": "persons",
                                                "backend_url": backend_url, "category": "bench-records",
                                                "personal_data": False}).raise_for_status()
    proposal = ministry.propose("access.grant", {"participant_id": "bench-ministry", "action": "data:read",
                                                 "category": "bench-records", "owner_id": "bench-registry",
                                                 "purpose": "benchmark"}).json()
    assert registry.decide(proposal).json()["status"] == "enacted"
    return ministry


async def _latency(base: str, backend_url: str, headers: dict, n: int) -> tuple[list[float], list[float], int]:
    direct, mediated, bad = [], [], 0
    async with aiohttp.ClientSession() as http:
        for i in range(n + 50):
            for kind in ("direct", "mediated"):
                url = backend_url + "/v1/persons/1234" if kind == "direct" else base + SERVICE
                start = time.perf_counter()
                async with http.get(url, headers=headers if kind == "mediated" else None) as r:
                    await r.read()
                    ok = r.status == 200
                elapsed = (time.perf_counter() - start) * 1000
                if i >= 50:  # after a warm-up
                    (direct if kind == "direct" else mediated).append(elapsed)
                    bad += not ok
    return direct, mediated, bad


async def _throughput(bases: list[str], headers: dict, concurrency: int, seconds: float) -> tuple[int, int, float]:
    ok = bad = 0
    stop = time.perf_counter() + seconds

    async def worker(http: aiohttp.ClientSession, base: str) -> None:
        nonlocal ok, bad
        url = base + SERVICE
        while time.perf_counter() < stop:
            async with http.get(url, headers=headers) as r:
                await r.read()
                if r.status == 200:
                    ok += 1
                else:
                    bad += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(worker(http, bases[n % len(bases)]) for n in range(concurrency)))
    return ok, bad, time.perf_counter() - started


def measure(seconds: float, concurrency: int, latency_requests: int, workers: int, database_url: str | None,
            console: Console) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="dpi-bench-exchange-"))
    platform = Platform.open(Settings(data_dir=data_dir, database_url=database_url))
    if not init_instance(platform):
        platform.close()
        raise typer.BadParameter("that database already holds an instance; the benchmark needs an empty one")
    platform.close()
    ports = [free_port() for _ in range(workers)]
    base = f"http://127.0.0.1:{ports[0]}"
    backend_port = free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    processes: list[subprocess.Popen] = []
    try:
        backend = subprocess.Popen([sys.executable, "-m", "uvicorn", "dpistack.bench.exchange_backend:app",
                                    "--host", "127.0.0.1", "--port", str(backend_port), "--log-level", "warning",
                                    "--no-access-log"], stdin=subprocess.DEVNULL)
        processes.append(backend)
        for port in ports:
            processes.append(start_server(data_dir, database_url, port, base, caches=True))
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as each:
                wait_ready(each, processes[-1])
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(backend_url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the bench backend did not start") from None
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=60) as http:
            ministry = _setup(http, data_dir, f"{base}/oauth/token", backend_url)
            headers = {**ministry.headers, "X-Road-Client": CLIENT}
        console.print(f"added latency: {latency_requests} requests of each kind, one at a time")
        direct, mediated, bad_latency = asyncio.run(_latency(base, backend_url, headers, latency_requests))
        server_pids = [p.pid for p in processes[1:]]
        cpu_server, cpu_backend = server_cpu_s(server_pids), server_cpu_s([backend.pid])
        console.print(f"throughput: {concurrency} in flight for {seconds:g} s through {workers} process(es)")
        ok, bad, elapsed = asyncio.run(_throughput([f"http://127.0.0.1:{p}" for p in ports], headers, concurrency,
                                                   seconds))
        cpu_server = server_cpu_s(server_pids) - cpu_server
        cpu_backend = server_cpu_s([backend.pid]) - cpu_backend
    finally:
        stop(processes)
    from dpistack.exchange import messagelog
    from dpistack.exchange.models import LogRecord

    platform = Platform.open(Settings(data_dir=data_dir, database_url=database_url))
    try:
        with platform.db.uow() as s:
            logged = s.scalar(select(func.count()).select_from(LogRecord)) or 0
        problems = messagelog.check(platform)
    finally:
        platform.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    direct_p50, mediated_p50 = _pct(direct, 50), _pct(mediated, 50)
    return {
        "mediated_requests_per_s": round(ok / elapsed, 1), "mediated_ok": ok, "mediated_non_200": bad + bad_latency,
        "concurrency": concurrency, "workers": workers, "seconds": round(elapsed, 1),
        "direct_p50_ms": round(direct_p50, 3), "mediated_p50_ms": round(mediated_p50, 3),
        "added_latency_p50_ms": round(mediated_p50 - direct_p50, 3),
        "direct_p99_ms": round(_pct(direct, 99), 3), "mediated_p99_ms": round(_pct(mediated, 99), 3),
        "message_log_records": logged, "message_log_problems": len(problems),
        "server_cpu_ms_per_request": round(cpu_server * 1000 / max(ok, 1), 3),
        "backend_cpu_ms_per_request": round(cpu_backend * 1000 / max(ok, 1), 3),
        "backend": "postgresql" if database_url else "sqlite",
    }
