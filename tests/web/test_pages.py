"""The portal's later pages through HTTP (no browser): the data tracker with each entry's
proof checked, the person's consents (grant, revoke), the operator's enrolment review queue
and the mediator's services and access rights — with bad input: CSRF, another person's
record, refused decisions, missing reasons."""

from __future__ import annotations

import base64
import copy
import json
import re

from typer.testing import CliRunner

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpistack.cli import app as cli
from dpistack.transparency import note
from dpistack.web import tracker

from .conftest import citizen_login
from .test_portal import browser_for, csrf_of


def test_data_tracker_checks_each_proof_and_offers_the_raw_answer(instance, tmp_path):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        vids = b.get("/me/vids")
        b.post("/me/vids", data={"csrf_token": csrf_of(vids.text), "vid_type": "perpetual"})  # one more access
        page = b.get("/me/data-usage")
        assert page.status_code == 200, page.text
        rows = re.findall(r'<tr class="govuk-table__row" id="entry-\d+">.*?</tr>', page.text, re.S)
        assert len(rows) >= 2  # the enrolment and the VID, at least
        assert all("Proof checked" in row for row in rows) and "does NOT check" not in page.text
        assert any("perpetual VID created by the person" in row and "resident-portal" in row for row in rows)
        assert any("civil-registry" in row and "Law" in row for row in rows)  # the enrolment, under the law
        assert 'href="/me/data-usage.json"' in page.text and "dpi transparency verify --usage" in page.text

        raw = b.get("/me/data-usage.json")
        assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
        assert "attachment" in raw.headers["content-disposition"]
        answer = raw.json()
        assert len(answer["entries"]) == len(rows) and answer["checkpoint"].count("\n") >= 3
    saved = tmp_path / "usage.json"
    saved.write_bytes(raw.content)
    result = CliRunner().invoke(cli, ["transparency", "verify", "--usage", str(saved), "--data-dir",
                                      str(instance.platform.settings.data_dir)])
    assert result.exit_code == 0 and "OK" in result.output, result.output


def test_data_tracker_flags_what_does_not_check(instance):
    with browser_for(instance) as b:
        citizen_login(instance, b)
        answer = b.get("/me/data-usage.json").json()
    verifier = instance.api.get("/transparency/v1/verifier-key").text.strip()
    signed, entries = tracker.check_answer(answer, verifier)
    assert signed and entries and all(e["proof_ok"] for e in entries)

    shown_otherwise = copy.deepcopy(answer)
    shown_otherwise["entries"][0]["purpose"] = "nothing to see"
    assert [e["proof_ok"] for e in tracker.check_answer(shown_otherwise, verifier)[1]][0] is False

    other_bytes = copy.deepcopy(answer)
    logged = json.loads(base64.b64decode(other_bytes["entries"][0]["entry"]))
    other_bytes["entries"][0]["entry"] = base64.b64encode(json.dumps({**logged, "x": 1}).encode()).decode()
    assert tracker.check_answer(other_bytes, verifier)[1][0]["proof_ok"] is False

    another_log = note.verifier_key(verifier.split("+")[0], Ed25519PrivateKey.generate().public_key())
    assert tracker.check_answer(answer, another_log)[0] is False
    unsigned = copy.deepcopy(answer)
    lines = unsigned["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)  # another size, same signature
    unsigned["checkpoint"] = "\n".join(lines)
    signed, entries = tracker.check_answer(unsigned, verifier)
    assert signed is False and not any(e["proof_ok"] for e in entries)


def test_data_tracker_needs_a_login(instance):
    with browser_for(instance) as b:
        assert b.get("/me/data-usage", follow_redirects=False).headers["location"] == "/login"
        assert b.get("/me/data-usage.json", follow_redirects=False).headers["location"] == "/login"
