"""`dpi bench finder`: the service finder's accuracy on its evaluation set, and its speed.

The evaluation set (``services/data/finder_eval.json``) holds questions as people ask them, in
the five languages, with typos and colloquial phrasing, each with the service that answers it;
half are marked ``tune`` and half ``held-out`` (tuning looks only at the first half).
Questions per second include language detection (its cache is emptied on every pass). Every
question is asked from the English page (``lang=en``), so the finder has to tell the
question's language itself. Reports top-1 and top-3 accuracy overall, per language and per
half, the language detection accuracy, and questions per second, for both rankers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console

from dpistack.bench.report import emit, machine
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.services import analysis, service

ENGINES = ("fts5", "bm25")


def eval_set() -> list[dict]:
    return json.loads((resources.files("dpistack.services") / "data" / "finder_eval.json").read_text("utf-8"))


def evaluate(session, questions: list[dict], engine: str, page_lang: str = "en") -> dict:
    """Accuracy figures of one ranker over the questions (deterministic)."""
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # questions, top-1, top-3, language right
    misses = []
    for item in questions:
        found = service.search(session, item["q"], page_lang, 3, engine=engine)
        ids = [h["id"] for h in found["hits"]]
        top1, top3 = ids[:1] == [item["expected"]], item["expected"] in ids
        lang_ok = found["lang"] == item["lang"]
        for key in ("all", item["lang"], item["split"]):
            row = total[key]
            row[0] += 1
            row[1] += top1
            row[2] += top3
            row[3] += lang_ok
        if not top3:
            misses.append({"q": item["q"], "expected": item["expected"], "got": ids})
    figures: dict = {}
    for key, (n, t1, t3, lang_ok) in sorted(total.items()):
        prefix = "" if key == "all" else f"{key.replace('-', '_')}_"
        figures[f"{prefix}top1"] = round(t1 / n, 3)
        figures[f"{prefix}top3"] = round(t3 / n, 3)
        if key == "all":
            figures["questions"] = n
            figures["language_detected"] = round(lang_ok / n, 3)
    return {"figures": figures, "misses": misses}


def command(
    seconds: float = typer.Option(2.0, "--seconds", min=0.01, help="How long the speed is measured per ranker."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
    show_misses: bool = typer.Option(False, "--misses", help="List the questions whose service is not in the top 3."),
) -> None:
    """Load the demo catalogue into a fresh instance and ask it the evaluation questions."""
    console = Console(stderr=json_out)
    workdir = Path(tempfile.mkdtemp(prefix="dpi-bench-finder-"))
    questions = eval_set()
    figures: dict = {"bench": "finder", **machine()}
    try:
        platform = Platform.open(Settings(data_dir=workdir / "data", public_url="http://bench"))
        try:
            figures["services"] = service.load_demo(platform)
            with platform.db.uow() as session:
                for engine in ENGINES:
                    result = evaluate(session, questions, engine)
                    for key, value in result["figures"].items():
                        figures[key if engine == "fts5" else f"bm25_{key}"] = value
                    if show_misses:
                        for miss in result["misses"]:
                            console.print(f"[yellow]{engine} miss[/] {miss}")
                    done, started = 0, time.perf_counter()
                    while time.perf_counter() - started < seconds:
                        analysis.detect.cache_clear()  # each pass detects every language again
                        for item in questions:
                            service.search(session, item["q"], "en", 3, engine=engine)
                        done += len(questions)
                    rate = done / (time.perf_counter() - started)
                    figures["queries_per_s" if engine == "fts5" else "bm25_queries_per_s"] = round(rate, 1)
        finally:
            platform.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    emit(console, "dpi bench finder", figures, json_out)
