"""`dpi bench identity`: UIN generation, and deduplication matching against N people.

Goals (issue #3): UIN generation >= 100,000/s; enrolment with deduplication against
1,000,000 people p95 <= 50 ms; authentication over HTTP >= 2,000/s. This measures the first
and the in-memory matching part of the second (blocking + scoring); the database path of
enrolment and authentication come with the rest of the identity block.
"""

from __future__ import annotations

import typer
from rich.console import Console

from dpistack.bench import identity_matching
from dpistack.bench.identity_numbers import measure_uin_generation
from dpistack.bench.report import emit, machine


def command(
    people: int = typer.Option(100_000, "--people", min=100, help="Enrolled people to match against."),
    queries: int = typer.Option(1000, "--queries", min=10, help="Enrolments to deduplicate."),
    uins: int = typer.Option(200_000, "--uins", min=1000, help="UINs to generate."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
) -> None:
    """Measure UIN generation and deduplication matching."""
    console = Console(stderr=json_out)
    numbers = measure_uin_generation(uins)
    matching = identity_matching.measure(people, queries, seed=1, progress=None)
    figures = {"bench": "identity", **numbers, **{f"match_{k}": v for k, v in matching.items()}, **machine()}
    emit(console, "dpi bench identity", figures, json_out)
