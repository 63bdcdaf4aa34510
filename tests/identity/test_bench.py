"""Smoke run of `dpi bench identity`: figures as JSON on the last line (no timing thresholds)."""

import json

from typer.testing import CliRunner

from dpistack.cli import app


def test_bench_identity_smoke():
    result = CliRunner().invoke(app, ["bench", "identity", "--people", "500", "--queries", "20", "--uins", "2000",
                                      "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "identity" and figures["uins"] == 2000 and figures["match_people"] == 500
    assert figures["uin_per_s"] > 0 and figures["match_match_ms_p95"] > 0
    assert 0 <= figures["match_recall"] <= 1
