"""`dpi bench identity`: UIN generation, deduplication matching, enrolment through the
database, and authentication over HTTP.

Goals (issue #3): UIN generation >= 100,000/s; enrolment with deduplication against
1,000,000 people p95 <= 50 ms; authentication over HTTP >= 2,000/s. Matching is measured in
memory (``match_``), enrolment through ``service.enrol`` and the database against a
bulk-loaded population (``enrol_``), authentication against server processes (``auth_``: people
authenticated again and again, so each process keeps their state; ``auth_cold_``: the same
with process caches off, every authentication reading its person from the database).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer
from sqlalchemy import func, select
from rich.console import Console

from dpistack.bench import identity_enrolment, identity_http, identity_matching
from dpistack.bench.identity_numbers import measure_uin_generation
from dpistack.bench.report import emit, machine
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.governance.models import InstanceInfo
from dpistack.governance.setup import init_instance
from dpistack.identity.models import Person


def command(
    people: int = typer.Option(100_000, "--people", min=100, help="Enrolled people to match against in memory."),
    queries: int = typer.Option(1000, "--queries", min=10, help="Enrolments to deduplicate in memory."),
    uins: int = typer.Option(200_000, "--uins", min=1000, help="UINs to generate."),
    enrol_people: int = typer.Option(100_000, "--enrol-people", min=0,
                                     help="People bulk-loaded into the database before timing enrolments (0: skip)."),
    enrolments: int = typer.Option(1000, "--enrolments", min=1, help="Enrolments timed through the service."),
    auth_seconds: float = typer.Option(10, "--auth-seconds", min=0, max=240,
                                       help="Seconds of HTTP authentication load (0: skip); within a token's life."),
    auth_concurrency: int = typer.Option(64, "--auth-concurrency", min=1, help="Concurrent keep-alive connections."),
    auth_workers: int = typer.Option(2, "--auth-workers", min=1, help="Server processes (one per core)."),
    auth_cold: bool = typer.Option(True, "--auth-cold/--no-auth-cold",
                                   help="Also measure with process caches off (auth_cold_*): every person read anew."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", envvar="DPI_DATABASE_URL", help="Default: SQLite in a temporary directory."
    ),
    keep: Optional[Path] = typer.Option(
        None, "--keep", help="Build the bench instance in this new directory and leave it there (see --instance)."),
    instance: Optional[Path] = typer.Option(
        None, "--instance", help="Measure authentication again on an instance left by --keep: no loading, no "
                                 "enrolment timing (loading a million people takes about half an hour)."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
) -> None:
    """Measure UIN generation, deduplication, enrolment and authentication."""
    console = Console(stderr=json_out)
    figures: dict = {"bench": "identity", **measure_uin_generation(uins)}
    matching = identity_matching.measure(people, queries, seed=1, progress=None)
    figures.update({f"match_{k}": v for k, v in matching.items()})
    if keep is not None and keep.exists() and any(keep.iterdir()):
        console.print(f"[bold red]refusing to bench:[/] {keep} is not empty; --keep builds a new instance")
        raise typer.Exit(2)
    if instance is not None or enrol_people or auth_seconds:
        workdir = instance or keep or Path(tempfile.mkdtemp(prefix="dpi-bench-"))
        platform = Platform.open(Settings(data_dir=workdir, database_url=database_url))
        try:
            if instance is not None:
                if not _made_by_the_bench(platform):
                    console.print(f"[bold red]refusing to bench:[/] {instance} was not left by `dpi bench identity "
                                  "--keep`; the benchmark writes people and log entries that can never be removed")
                    raise typer.Exit(2)
                enrol_people = 0
            # Bench people and log entries can never be removed: only ever write into a new instance.
            elif not init_instance(platform):
                console.print("[bold red]refusing to bench:[/] that database already holds an instance; "
                              "the benchmark needs an empty one")
                raise typer.Exit(2)
            else:
                _mark_as_made_by_the_bench(platform)
            figures["backend"] = platform.db.engine.dialect.name
            if enrol_people:
                enrol = identity_enrolment.measure(platform, console, enrol_people, enrolments)
                figures.update({f"enrol_{k}": v for k, v in enrol.items()})
            figures["enrolled_people"] = _enrolled(platform)
            if auth_seconds:
                auth = identity_http.measure(workdir, database_url, console, auth_seconds, auth_concurrency,
                                             auth_workers)
                figures.update({f"auth_{k}": v for k, v in auth.items()})
                if auth_cold:
                    cold = identity_http.measure(workdir, database_url, console, auth_seconds, auth_concurrency,
                                                 auth_workers, caches=False)
                    figures.update({f"auth_cold_{k}": v for k, v in cold.items()})
        finally:
            platform.close()
            if instance is None and keep is None:
                shutil.rmtree(workdir, ignore_errors=True)
    emit(console, "dpi bench identity", {**figures, **machine()}, json_out)


BENCH_MARK = "made_by"  # instance_info key naming the bench that built an instance


def _mark_as_made_by_the_bench(platform: Platform) -> None:
    with platform.db.uow(write=True) as session:
        session.add(InstanceInfo(key=BENCH_MARK, value="dpi bench identity"))


def _made_by_the_bench(platform: Platform) -> bool:
    with platform.db.uow() as session:
        mark = session.get(InstanceInfo, BENCH_MARK)
        return mark is not None and mark.value == "dpi bench identity"


def _enrolled(platform: Platform) -> int:
    with platform.db.uow() as session:
        return session.scalar(select(func.count()).select_from(Person))
