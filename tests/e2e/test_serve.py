"""`dpi serve` as a real process on loopback: health, a participant token, the log."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from dpistack.core.server import free_port


def cli_token(participant_id: str, data_dir, env) -> str:
    """An access token from `dpi participants token`, as a developer would get one for curl."""
    return subprocess.run(
        [sys.executable, "-m", "dpistack.cli", "participants", "token", participant_id, "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip().splitlines()[-1]


@pytest.fixture
def served(tmp_path, request):
    if getattr(request, "param", None) == "demo":
        # `dpi demo --keep DIR` leaves an instance that `dpi serve --data-dir DIR` serves.
        kept = subprocess.run([sys.executable, "-m", "dpistack.cli", "demo", "--keep", str(tmp_path / "demo")],
                              capture_output=True, text=True, timeout=180)
        assert kept.returncode == 0, kept.stdout[-2000:]
        tmp_path = tmp_path / "demo"
    port = free_port()
    env = {**os.environ, "DPI_PUBLIC_URL": f"http://127.0.0.1:{port}", "DPI_DATA_DIR": str(tmp_path)}
    env.pop("DPI_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dpistack.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"dpi serve did not come up: {proc.stdout.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield base, env, tmp_path
    proc.terminate()
    proc.wait(timeout=15)


def test_served_instance_authenticates_participants_and_publishes_its_log(served):
    base, env, tmp_path = served
    token = cli_token("digital-agency", tmp_path, env)
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/governance/v1/participants").status_code == 401
        r = http.get("/governance/v1/participants", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "central-bank" in {p["id"] for p in r.json()}
        checkpoint = http.get("/transparency/v1/checkpoint")
        assert checkpoint.headers["content-type"].startswith("text/plain")
        assert checkpoint.text.splitlines()[1] == "1"  # the genesis entry
        assert "dpi_http_requests_total" in http.get("/metrics").text


@pytest.mark.parametrize("served", ["demo"], indirect=True)
def test_the_kept_demo_instance_can_be_served(served):
    base, env, data_dir = served
    token = cli_token("first-bank", data_dir, env)
    with httpx.Client(base_url=base, timeout=10) as http:
        participants = http.get("/governance/v1/participants", headers={"Authorization": f"Bearer {token}"})
        assert participants.status_code == 200
        assert {"first-bank", "ministry-of-health", "civil-registry"} <= {p["id"] for p in participants.json()}
        assert int(http.get("/transparency/v1/checkpoint").text.splitlines()[1]) > 10
