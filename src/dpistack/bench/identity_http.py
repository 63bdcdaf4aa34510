"""Authentication over HTTP: a real server process, a relying party and concurrent clients.

Goal (issue #3): authentication over HTTP >= 2,000/s on a 2-core machine.

The instance is served by uvicorn (``dpistack.asgi:app``, what ``dpi serve`` runs, without its
per-request access log) in ``workers`` processes of one worker each, on ports of their own, and
the load generator spreads its connections evenly over them, as a load balancer in front of a
host's processes would. (One uvicorn with several workers shares one listening socket, and the
kernel hands the long-lived connections out unevenly: one process would get most of them.) A registration office and a relying party are
onboarded through governance over HTTP as real institutions are, the office enrols people,
then ``concurrency`` keep-alive connections send ``POST /identity/v1/authenticate`` with the
right demographic factors (birth date and sex) for ``seconds``. Every request carries a
fresh transaction id; every answer must be 200 with ``authenticated: true``.

The load generator runs on the same machine and takes CPU from the server, so it is kept
light: raw HTTP/1.1 over asyncio streams (uvloop), 20-40 us of CPU a request, where
``httpx.AsyncClient`` took 1.2 ms on the 2-core bench machine (more than the server's budget
at 2,000/s). Its CPU time and the server's are reported with the rate.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import uvloop
from rich.console import Console

from dpistack.bench import identity_matching as population
from dpistack.bench.identity_enrolment import enrolment_request
from dpistack.bench.processes import server_cpu_s, start_server, wait_ready
from dpistack.core.server import free_port
from dpistack.governance import credentials
from dpistack.governance.client import ParticipantClient, onboarding_payload

AUTH_PEOPLE = 100  # people authenticated in turn: each one's history (the lockout check reads it) grows slower
PATH = "/identity/v1/authenticate"


def _setup(http: httpx.Client, data_dir: Path, token_url: str, tag: str = "") -> tuple[str, list[dict]]:
    """Onboard an office and a relying party, enrol up to AUTH_PEOPLE people; the portal's
    token and, for each person issued a UIN, the factors that authenticate them."""

    def actor(pid: str, key=None) -> ParticipantClient:
        return ParticipantClient(http, pid, key or credentials.load_private_jwk(data_dir, pid), token_url)

    def onboard(pid: str, kind: str, role: str) -> ParticipantClient:
        key = credentials.new_key()
        proposal = actor("digital-agency").propose(
            "participant.onboard", onboarding_payload(pid, pid.replace("-", " ").title(), kind, [role], key))
        proposal.raise_for_status()
        decided = actor("identity-authority").decide(proposal.json())
        if decided.status_code != 200 or decided.json()["status"] != "enacted":
            raise RuntimeError(f"onboarding {pid} failed: {decided.text}")
        return actor(pid, key)

    office = onboard(f"bench-auth-office{tag}", "registry", "registration")
    portal = onboard(f"bench-auth-portal{tag}", "relying-party", "relying-party")
    rng = random.Random(f"people{tag}")
    people = []
    # New people from the generator; against a large population some go to review: skip those.
    for n in range(10 * AUTH_PEOPLE):
        if len(people) == AUTH_PEOPLE:
            break
        request = enrolment_request(population._demographics(population._person(rng)), {}, n)
        answer = office.post("/identity/v1/enrolments", json=request.model_dump(mode="json", exclude_none=True))
        answer.raise_for_status()
        if answer.json()["status"] == "issued":
            people.append({"individual_id": answer.json()["uin"],
                           "demographics": {"birth_date": request.birth_date.isoformat(), "sex": request.sex}})
    if not people:
        raise RuntimeError("no enrolment was issued a UIN")
    return portal.token(), people


async def _load(ports: list[int], token: str, people: list[dict], seconds: float, concurrency: int
                ) -> tuple[list[float], int, int]:
    """Latencies (s) of the 200 answers, non-200 answers, and 200 answers that said no."""
    latencies: list[float] = []
    errors = refused = 0
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    deadline = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal errors, refused
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[c % len(ports)])
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            body = json.dumps({**people[(c + n * concurrency) % len(people)], "transaction_id": f"b{c}-{n}"}).encode()
            started = time.perf_counter()
            writer.write(head + b"%d\r\n\r\n" % len(body) + body)
            response = await reader.readuntil(b"\r\n\r\n")
            length = int(response.lower().partition(b"content-length:")[2].split(b"\r\n", 1)[0])
            content = await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            if response[9:12] != b"200":
                errors += 1
            elif not json.loads(content)["authenticated"]:
                refused += 1
            else:
                latencies.append(elapsed)
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(client(c) for c in range(concurrency)))
    return latencies, errors, refused


def measure(data_dir: Path, database_url: str | None, console: Console, seconds: float, concurrency: int,
            workers: int = 1, caches: bool = True) -> dict:
    """Serve the instance in ``data_dir`` from ``workers`` processes and authenticate against
    them for ``seconds``. With ``caches`` off (``DPI_PROCESS_CACHES=false``) every
    authentication reads the person from the database, as when each one is of someone not
    seen in the last minute.

    Returns ``per_s`` (successful authentications per second), ``requests``, ``non_200``,
    ``refused`` (200 but not authenticated: must be 0), ``ms_p50``/``_p95``/``_p99``,
    ``people``, ``concurrency``, ``workers``, and the CPU seconds the servers and the load
    generator used (``server_cpu_s``, ``client_cpu_s``) out of ``seconds`` x 2 cores.
    """
    ports = [free_port() for _ in range(workers)]
    base_url = f"http://127.0.0.1:{ports[0]}"  # the instance's public URL: token audience, whichever process answers
    servers: list[subprocess.Popen] = []
    try:
        with httpx.Client(base_url=base_url, timeout=60) as http:
            for port in ports:  # one after the other: the first one migrates the schema
                servers.append(start_server(data_dir, database_url, port, base_url, caches))
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as each:
                    wait_ready(each, servers[-1])
            console.print(f"{workers} server process(es) up from {base_url}; onboarding and enrolling {AUTH_PEOPLE} people")
            # participants of their own for each run: an instance kept by --keep is measured again and again
            tag = f"-{secrets.token_hex(3)}" + ("" if caches else "-cold")
            token, people = _setup(http, data_dir, f"{base_url}/oauth/token", tag)
        pids = [server.pid for server in servers]
        server_cpu = server_cpu_s(pids)
        client_cpu = time.process_time()
        started = time.perf_counter()
        latencies, errors, refused = uvloop.run(_load(ports, token, people, seconds, concurrency))
        elapsed = time.perf_counter() - started
        server_cpu = server_cpu_s(pids) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    pct = population._pct
    ms = [t * 1000 for t in latencies] or [0.0]
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "requests": len(latencies) + errors + refused,
        "non_200": errors,
        "refused": refused,
        "ms_p50": round(pct(ms, 50), 2),
        "ms_p95": round(pct(ms, 95), 2),
        "ms_p99": round(pct(ms, 99), 2),
        "people": len(people),
        "concurrency": concurrency,
        "workers": workers,
        "seconds": round(elapsed, 1),
        "server_cpu_s": round(server_cpu, 1),
        "client_cpu_s": round(client_cpu, 1),
    }
