"""Server processes for the benchmarks: start one as `dpi serve` would, wait for it, count its CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def server_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of the server processes and their children (Linux /proc)."""
    total = 0.0
    wanted = {str(pid) for pid in pids}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rpartition(")")[2].split()  # after "(command name)"
        except OSError:
            continue  # gone meanwhile
        if proc.name in wanted or fields[1] in wanted:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start_server(data_dir: Path, database_url: str | None, port: int, public_url: str,
                 caches: bool, workers: int = 1) -> subprocess.Popen:
    """uvicorn serving the platform on ``port`` with ``workers`` processes (they share the port)."""
    env = {**os.environ, "DPI_DATA_DIR": str(data_dir), "DPI_PUBLIC_URL": public_url,
           "DPI_PROCESS_CACHES": "true" if caches else "false"}
    env.pop("DPI_DATABASE_URL", None)
    if database_url:
        env["DPI_DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "dpistack.asgi:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", *(["--workers", str(workers)] if workers > 1 else [])],
        env=env, stdin=subprocess.DEVNULL,
    )


def wait_ready(http: httpx.Client, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz in time")


def stop(processes: list[subprocess.Popen], timeout: float = 30) -> None:
    """Terminate every process, then wait for each (killing one that outstays ``timeout``)."""
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
