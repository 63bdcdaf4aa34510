"""The log on both databases: appends, proofs that verify against the signed checkpoint,
the invariant check, the public API and `dpi transparency verify`."""

from __future__ import annotations

import base64
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from dpistack.cli import app as dpi
from dpistack.transparency import merkle, note
from dpistack.transparency import service as tlog

from . import naive


def fill(platform, n: int, start: int = 0) -> list[dict]:
    entries = [tlog.governance_entry("test", n=i) for i in range(start, start + n)]
    with platform.db.uow(write=True) as s:
        assert tlog.append_many(s, entries) == list(range(start, start + n))
    return entries


def test_appends_are_dense_and_proofs_verify_against_the_checkpoint(platform):
    entries = fill(platform, 25)
    with platform.db.uow(write=True) as s:
        assert tlog.append(s, tlog.governance_entry("one-more")) == 25
    checkpoint = tlog.signed_checkpoint(platform)
    note.verify_note(checkpoint, tlog.verifier_key(platform))
    cp = note.parse_checkpoint(checkpoint)
    assert cp.size == 26 and cp.origin == platform.settings.log_origin
    blobs = [tlog.get_entry(platform, i) for i in range(26)]
    assert json.loads(blobs[3]) == entries[3]
    assert cp.root == naive.mth(blobs)
    for i in (0, 7, 25):
        proof = tlog.inclusion_proof(platform, i, 26)
        assert merkle.verify_inclusion(merkle.hash_leaf(blobs[i]), i, 26, proof, cp.root)
    assert tlog.check(platform) == []


def test_a_rolled_back_transaction_leaves_no_entry(platform):
    fill(platform, 3)
    with pytest.raises(RuntimeError):
        with platform.db.uow(write=True) as s:
            tlog.append(s, tlog.governance_entry("doomed"))
            raise RuntimeError
    fill(platform, 1, start=3)  # the index the doomed entry had is given to the next one
    assert tlog.tree(platform).size == 4 and tlog.check(platform) == []


def test_check_detects_a_rewritten_entry(platform):
    fill(platform, 5)
    tlog.tree(platform)  # this process has seen the honest log
    forged = rfc8785.dumps({"type": "governance.forged"})
    with platform.db.uow(write=True) as s:
        s.execute(text("UPDATE tlog_entries SET entry = :e WHERE idx = 2"), {"e": forged})
    assert any("entry 2" in p for p in tlog.check(platform))
    with platform.db.uow(write=True) as s:
        s.execute(text("UPDATE tlog_entries SET leaf_hash = :h WHERE idx = 2"), {"h": merkle.hash_leaf(forged)})
    assert any("rewritten" in p for p in tlog.check(platform))


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3)), max_size=6))
def test_entry_bytes_are_rfc8785(entry):
    assert tlog.encode_entry(entry) == rfc8785.dumps(entry)


def test_access_entries_need_a_consent_or_legal_basis():
    with pytest.raises(ValueError):
        tlog.access_entry(subject_pseudonym="p", accessor="a", categories=["name"], purpose="x")
    e = tlog.access_entry(subject_pseudonym="p", accessor="a", categories=["name", "address"], purpose="x",
                          consent_id="c-1")
    assert e["type"] == "data.access" and e["categories"] == ["address", "name"] and e["consent_id"] == "c-1"
    assert tlog.pseudonym(b"k" * 32, "1234567890") != "1234567890"


def test_audit_api_serves_what_an_independent_verifier_needs(client, platform):
    fill(platform, 12)
    cp_response = client.get("/transparency/v1/checkpoint")
    assert cp_response.headers["content-type"].startswith("text/plain")
    vkey = client.get("/transparency/v1/verifier-key").text.strip()
    cp = note.parse_checkpoint(cp_response.text)
    note.verify_note(cp_response.text, vkey)
    blobs = []
    for i in range(cp.size):
        body = client.get(f"/transparency/v1/entries/{i}").json()
        assert body["index"] == i
        blobs.append(base64.b64decode(body["leaf"]))
        assert json.loads(blobs[-1]) == body["entry"]
    assert naive.mth(blobs) == cp.root
    proof = client.get("/transparency/v1/proof/inclusion", params={"index": 5, "tree_size": cp.size}).json()
    assert proof["index"] == 5 and proof["tree_size"] == cp.size
    assert [base64.b64decode(h) for h in proof["hashes"]] == naive.path(5, blobs)
    cons = client.get("/transparency/v1/proof/consistency", params={"first": 4, "second": cp.size}).json()
    assert [base64.b64decode(h) for h in cons["hashes"]] == naive.proof(4, blobs)


@pytest.mark.parametrize("path,params", [
    ("/transparency/v1/entries/999", None),
    ("/transparency/v1/entries/-1", None),
    ("/transparency/v1/entries/abc", None),
    ("/transparency/v1/proof/inclusion", {"index": 3, "tree_size": 999}),
    ("/transparency/v1/proof/inclusion", {"index": 5, "tree_size": 5}),
    ("/transparency/v1/proof/inclusion", {"index": "x", "tree_size": 5}),
    ("/transparency/v1/proof/inclusion", {"index": 2**70, "tree_size": 5}),
    ("/transparency/v1/proof/consistency", {"first": 0, "second": 3}),
    ("/transparency/v1/proof/consistency", {"first": 4, "second": 3}),
    ("/transparency/v1/proof/consistency", {"first": 1, "second": 999}),
])
def test_bad_audit_requests_get_4xx_problems(client, platform, path, params):
    fill(platform, 5)
    r = client.get(path, params=params)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_verify_command_accepts_growth_and_refuses_a_rewrite(tmp_path, sqlite_platform):
    runner = CliRunner()
    data = str(sqlite_platform.settings.data_dir)
    fill(sqlite_platform, 10)
    saved = tmp_path / "saved.checkpoint"
    assert runner.invoke(dpi, ["transparency", "checkpoint", "--data-dir", data, "--out", str(saved)]).exit_code == 0
    fill(sqlite_platform, 7, start=10)
    ok = runner.invoke(dpi, ["transparency", "verify", "--from", str(saved), "--data-dir", data])
    assert ok.exit_code == 0 and "OK" in ok.output and "10 → 17" in ok.output

    # Rewrite history: change entry 3 and its leaf hash consistently. The rewritten log is
    # internally valid, but it no longer extends what was saved.
    forged = rfc8785.dumps({"type": "governance.forged"})
    with sqlite_platform.db.uow(write=True) as s:
        s.execute(text("UPDATE tlog_entries SET entry = :e, leaf_hash = :h WHERE idx = 3"),
                  {"e": forged, "h": merkle.hash_leaf(forged)})
    bad = runner.invoke(dpi, ["transparency", "verify", "--from", str(saved), "--data-dir", data])
    assert bad.exit_code == 1 and "FAILED" in bad.output and "rewritten" in bad.output

    # A checkpoint signed by another key is refused too.
    from cryptography.hazmat.primitives.asymmetric import ed25519

    cp = note.parse_checkpoint(saved.read_text())
    saved.write_text(note.sign_checkpoint(cp.origin, cp.size, cp.root, ed25519.Ed25519PrivateKey.generate()))
    assert runner.invoke(dpi, ["transparency", "verify", "--from", str(saved), "--data-dir", data]).exit_code == 1


def test_bench_smoke_prints_json_figures_on_the_last_line():
    result = CliRunner().invoke(dpi, ["bench", "transparency", "--entries", "300", "--batch", "100", "--proofs", "20",
                                      "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "transparency" and figures["entries"] >= 300
    for key in ("appends_per_s", "inclusion_proof_ms_p50", "inclusion_proof_ms_p99", "consistency_proof_ms_p50"):
        assert figures[key] > 0, key


def test_bench_keeps_a_given_data_dir_and_never_writes_into_a_non_empty_log(tmp_path):
    args = ["bench", "transparency", "--entries", "40", "--batch", "10", "--proofs", "5", "--json",
            "--data-dir", str(tmp_path / "bench")]
    runner = CliRunner()
    first = runner.invoke(dpi, args, env={"DPI_DATABASE_URL": None})
    assert first.exit_code == 0, first.output
    assert (tmp_path / "bench" / "dpi.sqlite3").exists()
    again = runner.invoke(dpi, args, env={"DPI_DATABASE_URL": None})
    assert again.exit_code == 2 and "refusing" in again.output
