"""`dpi bench transparency`: appends per second, and proof latency at the final size.

Goals (issue #2): >= 20,000 appends/s and an inclusion proof in < 1 ms at 1,000,000 entries.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress

from dpistack.bench.report import emit, machine
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.core.timeutil import iso, utcnow
from dpistack.transparency import merkle
from dpistack.transparency import service as tlog


def _entries(start: int, count: int, when: str) -> list[dict]:
    """Realistic data-access entries: pseudonymous subject, accessor, categories, purpose."""
    return [
        {
            "type": "data.access",
            "time": when,
            "subject": f"{(i * 2654435761) % (1 << 128):032x}",
            "accessor": ("social-agency", "tax-office", "first-bank")[i % 3],
            "categories": ["address", "name"],
            "purpose": "benefit eligibility",
            "legal_basis": "Social Protection Act s.12",
        }
        for i in range(start, start + count)
    ]


def _ms(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] * 1000 if len(samples) > 1 else samples[0] * 1000


def command(
    entries: int = typer.Option(1_000_000, "--entries", min=10, help="How many entries to append."),
    batch: int = typer.Option(1000, "--batch", min=1, help="Entries per transaction."),
    proofs: int = typer.Option(1000, "--proofs", min=1, help="Random inclusion proofs to time."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", envvar="DPI_DATABASE_URL", help="Default: SQLite in the data directory."
    ),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", file_okay=False, help="Keep the instance here (default: a temporary dir, deleted after)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on the last line."),
) -> None:
    """Append entries in batches, then time inclusion and consistency proofs."""
    console = Console(stderr=json_out)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="dpi-bench-"))
    platform = Platform.open(Settings(data_dir=workdir, database_url=database_url))
    try:
        # Bench entries can never be removed from a log: only ever write them into an empty one.
        if (size := tlog.tree(platform).size) != 0:
            console.print(f"[bold red]refusing to bench:[/] that database's log already holds {size} entries; "
                          "the benchmark needs an empty one")
            raise typer.Exit(2)
        figures = _run(platform, console, entries, batch, proofs)
    finally:
        platform.close()
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    emit(console, "dpi bench transparency", figures, json_out)


def _run(platform: Platform, console: Console, entries: int, batch: int, proofs: int) -> dict:
    when = iso(utcnow())
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("appending", total=entries)
        done = 0
        while done < entries:
            count = min(batch, entries - done)
            with platform.db.uow(write=True) as session:
                tlog.append_many(session, _entries(done, count, when))
            done += count
            progress.advance(task, count)
    append_seconds = time.perf_counter() - started

    # One entry per transaction, as a single governance decision or data access would do.
    singles = min(500, entries)
    started = time.perf_counter()
    for i in range(singles):
        with platform.db.uow(write=True) as session:
            tlog.append(session, _entries(i, 1, when)[0])
    single_seconds = time.perf_counter() - started

    started = time.perf_counter()
    tree = tlog.tree(platform)  # first load: every leaf hash into memory
    load_seconds = time.perf_counter() - started
    size = tree.size
    root = tree.root(size)

    rng = random.Random(7)
    proof_times, verify_times = [], []
    for _ in range(proofs):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        proof = tlog.inclusion_proof(platform, index, size)
        t1 = time.perf_counter()
        ok = merkle.verify_inclusion(tree.leaf(index), index, size, proof, root)
        verify_times.append(time.perf_counter() - t1)
        proof_times.append(t1 - t0)
        assert ok, f"inclusion proof for {index} failed"
    consistency_times = []
    for _ in range(min(proofs, 200)):
        first = rng.randrange(1, size)
        t0 = time.perf_counter()
        proof = tlog.consistency_proof(platform, first, size)
        consistency_times.append(time.perf_counter() - t0)
        assert merkle.verify_consistency(first, size, tree.root(first), root, proof)
    return {
        "bench": "transparency",
        "backend": platform.db.engine.dialect.name,
        "entries": size,
        "batch": batch,
        "appends_per_s": round(entries / append_seconds, 1),
        "single_entry_tx_per_s": round(singles / single_seconds, 1),
        "tree_load_s": round(load_seconds, 3),
        "inclusion_proof_ms_p50": round(_ms(proof_times, 50), 4),
        "inclusion_proof_ms_p99": round(_ms(proof_times, 99), 4),
        "inclusion_verify_ms_p50": round(_ms(verify_times, 50), 4),
        "consistency_proof_ms_p50": round(_ms(consistency_times, 50), 4),
        **machine(),
    }
