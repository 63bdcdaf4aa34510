"""Shared output of `dpi bench …`: a Rich table, and with --json one JSON object on the last line."""

from __future__ import annotations

import json
import platform as host
import os
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table


def machine() -> dict:
    return {"machine": f"{host.machine()} {os.cpu_count()} cores, Python {host.python_version()}",
            "date": datetime.now(UTC).strftime("%Y-%m-%d")}


def emit(console: Console, title: str, figures: dict, as_json: bool) -> None:
    table = Table("figure", "value", title=title)
    for key, value in figures.items():
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    if as_json:
        print(json.dumps(figures, sort_keys=True), flush=True)
