"""Smoke run of `dpi bench identity`: figures as JSON on the last line (no timing thresholds)."""

import json

import pytest
from typer.testing import CliRunner

from dpistack.cli import app


@pytest.mark.e2e
def test_bench_identity_smoke(tmp_path):
    kept = tmp_path / "kept"
    result = CliRunner().invoke(app, ["bench", "identity", "--people", "500", "--queries", "20", "--uins", "2000",
                                      "--enrol-people", "300", "--enrolments", "20", "--auth-seconds", "1",
                                      "--auth-concurrency", "4", "--keep", str(kept), "--json"],
                                env={"DPI_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "identity" and figures["uins"] == 2000 and figures["match_people"] == 500
    assert figures["uin_per_s"] > 0 and figures["match_match_ms_p95"] > 0
    assert 0 <= figures["match_recall"] <= 1

    # The bulk loader writes what enrol() writes: exact copies of loaded people are duplicates.
    assert figures["backend"] == "sqlite" and figures["enrol_people"] == 300
    assert figures["enrol_exact_copies"] == figures["enrol_exact_copies_duplicate"] == 5
    variants, new = figures["enrol_variant_statuses"], figures["enrol_new_statuses"]
    assert sum(variants.values()) + sum(new.values()) == figures["enrol_enrolments"] == 20
    assert variants.get("duplicate", 0) > 0 and new.get("issued", 0) > 0
    assert 0 < figures["enrol_ms_p50"] <= figures["enrol_ms_p95"] <= figures["enrol_ms_max"]

    # Authentication over HTTP, from two server processes, with and without process caches:
    # every answer a 200 that says yes.
    for run in ("auth", "auth_cold"):
        assert figures[f"{run}_workers"] == 2
        assert figures[f"{run}_people"] > 0 and figures[f"{run}_requests"] > 0
        assert figures[f"{run}_non_200"] == 0 and figures[f"{run}_refused"] == 0
        assert figures[f"{run}_per_s"] > 0 and figures[f"{run}_ms_p50"] > 0

    # The instance left by --keep is measured again without loading; one the bench did not
    # make is refused, and so is --keep into a directory that holds something.
    assert figures["enrolled_people"] >= 300 + new["issued"]
    again = CliRunner().invoke(app, ["bench", "identity", "--people", "100", "--queries", "10", "--uins", "1000",
                                     "--instance", str(kept), "--auth-seconds", "1", "--auth-concurrency", "2",
                                     "--no-auth-cold", "--json"], env={"DPI_DATABASE_URL": None})
    assert again.exit_code == 0, again.output
    figures_again = json.loads(again.stdout.strip().splitlines()[-1])
    assert "enrol_people" not in figures_again and figures_again["enrolled_people"] > figures["enrolled_people"]
    assert figures_again["auth_requests"] > 0 and figures_again["auth_non_200"] == 0
    assert CliRunner().invoke(app, ["init", "--data-dir", str(tmp_path / "real")]).exit_code == 0
    for refused in (["--instance", str(tmp_path / "real")], ["--keep", str(kept)]):
        r = CliRunner().invoke(app, ["bench", "identity", "--people", "100", "--queries", "10", "--uins", "1000",
                                     "--auth-seconds", "1", *refused], env={"DPI_DATABASE_URL": None})
        assert r.exit_code == 2 and "refusing to bench" in r.output
