"""Smoke run of `dpi bench payments`: the ledger alone and end to end between two simulated FSP
processes, figures as JSON on the last line (no timing thresholds)."""

import json

import pytest
from typer.testing import CliRunner

from dpistack.cli import app


@pytest.mark.e2e
def test_bench_payments_smoke():
    result = CliRunner().invoke(app, ["bench", "payments", "--ledger-transfers", "3000", "--batch", "500",
                                      "--fsps", "3", "--seconds", "1.5", "--concurrency", "4", "--json"],
                                env={"DPI_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "payments"
    assert figures["ledger_transfers"] == 3000 and figures["ledger_check_problems"] == 0
    assert figures["ledger_transfers_per_s"] > 0
    assert figures["e2e_committed"] > 0 and figures["e2e_lost"] == 0 and figures["e2e_check_problems"] == 0
    assert 0 < figures["e2e_p50_ms"] <= figures["e2e_p99_ms"]
    assert json.loads(figures["e2e_states"]) == {"COMMITTED": figures["e2e_committed"]}
