"""`dpi bench finder`: the evaluation runs and gives its figures as JSON on the last line (no
timing thresholds; the accuracy floor is far below what is measured, and the run is
deterministic)."""

import json

from typer.testing import CliRunner

from dpistack.bench import finder
from dpistack.cli import app


def test_bench_finder_smoke():
    result = CliRunner().invoke(app, ["bench", "finder", "--seconds", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["bench"] == "finder" and figures["services"] >= 30
    assert figures["questions"] >= 100 and figures["bm25_questions"] == figures["questions"]
    for lang in ("en", "fr", "es", "pt", "ar"):
        assert 0 <= figures[f"{lang}_top1"] <= figures[f"{lang}_top3"] <= 1
    assert figures["top3"] >= 0.6 and figures["bm25_top3"] >= 0.6
    assert figures["held_out_top3"] >= 0.6 and figures["language_detected"] >= 0.6
    assert figures["queries_per_s"] > 0 and figures["bm25_queries_per_s"] > 0


def test_eval_set_is_spread_over_the_languages_and_the_catalogue():
    questions = finder.eval_set()
    assert len(questions) >= 100
    by_lang = {lang: [q for q in questions if q["lang"] == lang] for lang in ("en", "fr", "es", "pt", "ar")}
    assert all(len(items) >= 15 for items in by_lang.values())
    from dpistack.services.service import demo_catalogue

    ids = {s["id"] for s in demo_catalogue()}
    assert {q["expected"] for q in questions} <= ids
    assert {q["split"] for q in questions} == {"tune", "held-out"}
