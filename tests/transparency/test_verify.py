"""`dpi transparency verify --url` against a real server on loopback, on both databases."""

from __future__ import annotations

import hashlib

from typer.testing import CliRunner

from dpistack.app import create_app
from dpistack.cli import app as dpi
from dpistack.core.server import free_port, serve_in_thread
from dpistack.transparency import merkle, note
from dpistack.transparency import service as tlog

runner = CliRunner()


def grow(platform, n: int) -> None:
    with platform.db.uow(write=True) as s:
        tlog.append_many(s, [tlog.governance_entry("test", n=i) for i in range(n)])


def verify(saved, url: str):
    return runner.invoke(dpi, ["transparency", "verify", "--from", str(saved), "--url", url])


def test_verify_over_http_follows_growth_and_refuses_another_history(platform, tmp_path):
    origin, key = platform.settings.log_origin, platform.keys.log_private_key()
    with serve_in_thread(create_app(platform)) as url:
        # A checkpoint of the empty log is extended by every log (RFC 9162 has no proof from 0).
        empty = tmp_path / "empty.checkpoint"
        empty.write_text(note.sign_checkpoint(origin, 0, merkle.EMPTY_ROOT, key))
        grow(platform, 6)
        saved = tmp_path / "saved.checkpoint"
        assert runner.invoke(dpi, ["transparency", "checkpoint", "--url", url, "--out", str(saved)]).exit_code == 0
        size = note.parse_checkpoint(saved.read_text()).size
        grow(platform, 9)

        ok = verify(saved, url)
        assert ok.exit_code == 0 and f"{size} → {size + 9}" in ok.output, ok.output
        assert verify(empty, url).exit_code == 0

        # Correctly signed, but of a history this log does not extend: the proof must fail.
        forked = tmp_path / "forked.checkpoint"
        forked.write_text(note.sign_checkpoint(origin, size, hashlib.sha256(b"other history").digest(), key))
        bad = verify(forked, url)
        assert bad.exit_code == 1 and "rewritten" in bad.output, bad.output

        not_empty = tmp_path / "not-empty.checkpoint"
        not_empty.write_text(note.sign_checkpoint(origin, 0, hashlib.sha256(b"x").digest(), key))
        assert verify(not_empty, url).exit_code == 1


def test_verify_fails_loudly_when_the_log_cannot_be_reached(sqlite_platform, tmp_path):
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(tlog.signed_checkpoint(sqlite_platform))
    result = verify(saved, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert result.exit_code == 1 and "cannot fetch" in result.output, result.output
