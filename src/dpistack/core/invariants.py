"""The shape every block's `dpi <block> check` shares: open the instance, run the block's check,
print each breach, exit non-zero on any."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import typer
from rich.console import Console

from dpistack.core.config import Settings
from dpistack.core.platform import Platform


def run_check(console: Console, data_dir: Path | None, check: Callable[[Platform], list[str]], ok: str) -> None:
    platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        problems = check(platform)
    finally:
        platform.close()
    for problem in problems:
        console.print(f"[bold red]BREACH[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]{ok}[/]")
