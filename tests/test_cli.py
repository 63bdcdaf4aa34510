"""The `dpi` command line: init, keys, participant tokens, the demo."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import uvicorn
from joserfc import jwt
from typer.testing import CliRunner

from dpistack.cli import app
from dpistack.core.server import free_port
from dpistack.core.keys import KeyStore

runner = CliRunner()


def test_init_is_idempotent_and_names_the_authorities(tmp_path):
    first = runner.invoke(app, ["init", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "central-bank" in first.output and "Initialised" in first.output
    again = runner.invoke(app, ["init", "--data-dir", str(tmp_path)])
    assert again.exit_code == 0 and "already initialised" in again.output


def test_participant_token_is_a_valid_access_token(tmp_path, monkeypatch):
    monkeypatch.setenv("DPI_PUBLIC_URL", "http://127.0.0.1:8000")
    result = runner.invoke(app, ["participants", "token", "central-bank", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    keys = KeyStore(tmp_path / "keys")
    claims = jwt.decode(token, keys.verification_keyset()).claims
    assert claims["sub"] == "central-bank" and claims["iss"] == "http://127.0.0.1:8000"
    missing = runner.invoke(app, ["participants", "token", "nobody", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2


def test_keys_rotate_keeps_retired_keys(tmp_path):
    runner.invoke(app, ["init", "--data-dir", str(tmp_path)])
    before = {k.kid for k in KeyStore(tmp_path / "keys").keys()}
    result = runner.invoke(app, ["keys", "rotate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    after = KeyStore(tmp_path / "keys").keys()
    assert before < {k.kid for k in after}
    assert sum(k.status == "retired" for k in after) == 3  # ES256, EdDSA and RS256 token keys


def test_demo_tells_the_whole_story_and_can_keep_the_instance(tmp_path):
    kept = tmp_path / "kept"
    result = runner.invoke(app, ["demo", "--keep", str(kept)])
    assert result.exit_code == 0, result.output
    told = " ".join(result.output.split())  # Rich wraps lines at the terminal width
    for beat in ("First National Bank", "not one this proposal needs", "rogue-wallet", "UIN", "duplicate of", "partner-specific token", "single use", "inclusion proof",
                 "whose customer is Baraka Otieno", "COMMITTED", "4200 Payer limit error", "SETTLED",
                 "payments check: ok", "governance check: ok", "every check passed",
                 "Server.ServerProxy.AccessDenied", "Server.ServerProxy.ConsentRequired", "ACTIVE",
                 "Server.ServerProxy.ConsentRevoked", "data tracker", "exchange check: ok",
                 "Portal: http://127.0.0.1:", "a proposal awaits its approval",
                 "receives her national ID: an SD-JWT VC", "age_over_18: true, holder-bound",
                 "no name and no birth date reach the bar", "refused: invalid_request — already answered",
                 "verifies it with no network", "→ Register a birth", "/me/consents", "/services",
                 "dpi services demo-register --data-dir"):
        assert beat in told, beat
    # The foreign credential: refused while its issuer is untrusted, verified once governance trusts it.
    refused, trusted = told.index("untrusted_issuer"), told.index("enacts issuer.trust")
    assert refused < trusted < told.index("He shows it again: verified, age_over_18: true")
    assert (kept / "dpi.sqlite3").exists() and (kept / "keys" / "keys.json").exists()
    # The person checks her saved data tracker against the kept instance's log.
    usage = runner.invoke(app, ["transparency", "verify", "--usage", str(kept / "amina-data-usage.json"),
                                "--data-dir", str(kept)])
    assert usage.exit_code == 0, usage.output
    # A kept instance is refused as the target of a second fresh demo.
    assert runner.invoke(app, ["demo", "--keep", str(kept)]).exit_code == 2


def test_check_passes_then_catches_a_tampered_log(tmp_path):
    import sqlite3

    runner.invoke(app, ["init", "--data-dir", str(tmp_path)])
    ok = runner.invoke(app, ["check", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    with sqlite3.connect(tmp_path / "dpi.sqlite3") as db:
        db.execute("UPDATE tlog_entries SET entry = CAST('{\"type\":\"forged\"}' AS BLOB) WHERE idx = 0")
    bad = runner.invoke(app, ["check", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "PROBLEM" in bad.output


@pytest.fixture
def uvicorn_started(monkeypatch) -> list[dict]:
    """`dpi serve` up to the point where it starts uvicorn, without starting it: what it would
    have listened on and the DPI_PUBLIC_URL its workers would have read."""
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app_path, **options: started.append(
        {"host": options["host"], "port": options["port"], "DPI_PUBLIC_URL": os.environ["DPI_PUBLIC_URL"]}))
    return started


def serve(data_dir, *options: str, public_url: str | None = None):
    # Both variables are restored after the run: `serve` sets them for its workers.
    env = {"DPI_PUBLIC_URL": public_url, "DPI_DATA_DIR": None, "DPI_DATABASE_URL": None}
    return runner.invoke(app, ["serve", "--data-dir", str(data_dir), *options], env=env)


@pytest.mark.parametrize("host, listening, advertised", [
    ("127.0.0.1", "http://127.0.0.1:8731", "http://127.0.0.1:8731"),
    ("localhost", "http://localhost:8731", "http://localhost:8731"),
    ("::1", "http://[::1]:8731", "http://[::1]:8731"),
])
def test_serve_advertises_where_it_listens(tmp_path, uvicorn_started, host, listening, advertised):
    result = serve(tmp_path, "--host", host, "--port", "8731")
    assert result.exit_code == 0, result.output
    assert uvicorn_started == [{"host": host, "port": 8731, "DPI_PUBLIC_URL": advertised}]
    assert f"listening on  {listening}\n" in result.output
    assert f"public URL    {advertised}  (issuer, token endpoint, OpenID discovery; from --host and --port)" \
        in result.output
    assert f"portal        {advertised}/  (citizen portal, operator console, transparency log)" in result.output
    assert "The portal's login is off until the portal is registered: dpi portal setup" in result.output
    assert "every interface" not in result.output


@pytest.mark.parametrize("host, listening, advertised", [
    ("0.0.0.0", "http://0.0.0.0:8731", "http://127.0.0.1:8731"),
    ("::", "http://[::]:8731", "http://[::1]:8731"),
])
def test_serve_on_every_interface_advertises_loopback_and_says_to_set_the_public_url(
        tmp_path, uvicorn_started, host, listening, advertised):
    result = serve(tmp_path, "--host", host, "--port", "8731")
    assert result.exit_code == 0, result.output
    assert uvicorn_started == [{"host": host, "port": 8731, "DPI_PUBLIC_URL": advertised}]
    assert f"listening on  {listening} (every interface)" in result.output
    assert f"public URL    {advertised}  (" in result.output
    assert "Set DPI_PUBLIC_URL to the URL participants use" in result.output


def test_serve_behind_a_proxy_advertises_the_public_url_and_says_which_setting_made_it(tmp_path, uvicorn_started):
    result = serve(tmp_path, "--host", "0.0.0.0", "--port", "8731", public_url="https://dpi.example.org/")
    assert result.exit_code == 0, result.output
    assert uvicorn_started == [{"host": "0.0.0.0", "port": 8731, "DPI_PUBLIC_URL": "https://dpi.example.org/"}]
    assert "listening on  http://0.0.0.0:8731 (every interface)" in result.output
    assert "public URL    https://dpi.example.org/  (issuer, token endpoint, OpenID discovery; set by DPI_PUBLIC_URL)" \
        in result.output
    assert "Set DPI_PUBLIC_URL" not in result.output


@pytest.mark.parametrize("public_url, reason", [
    ("localhost:8000", "must be an absolute http:// or https:// URL"),
    ("ftp://dpi.example.org", "must be an absolute http:// or https:// URL"),
    ("https://dpi.example.org/?tenant=1", "must not carry a query (?) or fragment (#)"),
    ("https://dpi.example.org/#top", "must not carry a query (?) or fragment (#)"),
])
def test_serve_refuses_a_public_url_that_cannot_be_the_issuer(tmp_path, uvicorn_started, public_url, reason):
    result = serve(tmp_path, public_url=public_url)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # typer.Exit, not a crash
    said = result.stderr.splitlines()
    assert len(said) == 1 and said[0].startswith(f"dpi: DPI_PUBLIC_URL {reason}") and repr(public_url) in said[0]
    assert uvicorn_started == [] and not (tmp_path / "dpi.sqlite3").exists()


def test_a_bad_public_url_stops_the_real_command_with_one_line_and_no_traceback(tmp_path):
    env = {**os.environ, "DPI_PUBLIC_URL": "https://dpi.example.org/?tenant=1", "DPI_DATA_DIR": str(tmp_path)}
    env.pop("DPI_DATABASE_URL", None)
    # Were it not refused, it would serve until the timeout ends it (on loopback, a free port).
    refused = subprocess.run([sys.executable, "-m", "dpistack.cli", "serve", "--port", str(free_port())], env=env,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == ("dpi: DPI_PUBLIC_URL must not carry a query (?) or fragment (#), as it is the tokens' "
                              "issuer: 'https://dpi.example.org/?tenant=1'\n")
