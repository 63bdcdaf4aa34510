"""Smoke run of `dpi bench exchange`: figures as JSON on the last line (no timing thresholds)."""

import json

import pytest
from typer.testing import CliRunner

from dpistack.cli import app


@pytest.mark.e2e
def test_bench_exchange_smoke():
    result = CliRunner().invoke(app, ["bench", "exchange", "--seconds", "1", "--concurrency", "8",
                                      "--latency-requests", "20", "--json"], env={"DPI_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "exchange" and figures["mediated_non_200"] == 0
    assert figures["mediated_requests_per_s"] > 0 and figures["mediated_ok"] > 0
    assert figures["mediated_p50_ms"] > 0 and "added_latency_p50_ms" in figures
    # every mediated request of the run is a signed message-log record
    assert figures["message_log_records"] >= figures["mediated_ok"] and figures["message_log_problems"] == 0
