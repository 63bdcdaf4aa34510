"""Smoke run of `dpi bench credentials`: figures as JSON on the last line (no timing thresholds)."""

import json

from typer.testing import CliRunner

from dpistack.cli import app


def test_bench_credentials_smoke():
    result = CliRunner().invoke(app, ["bench", "credentials", "--holders", "5", "--seconds", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "credentials" and figures["holders"] == 5
    assert figures["sdjwt_verifications_per_s"] > 0 and figures["sdjwt_issuance_per_s"] > 0
    assert figures["sdjwt_verified"] >= 5 and figures["es256_verify_per_s"] > 0
    assert figures["di_verifications_per_s"] > 0 and figures["di_issuances_per_s"] > 0
