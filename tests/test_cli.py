"""The `dpi` command line: init, keys, participant tokens, the demo."""

from __future__ import annotations

from joserfc import jwt
from typer.testing import CliRunner

from dpistack.cli import app
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
                 "governance check: ok", "every check passed"):
        assert beat in told, beat
    assert (kept / "dpi.sqlite3").exists() and (kept / "keys" / "keys.json").exists()
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
