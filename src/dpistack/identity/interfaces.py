"""Adapters the identity service depends on, as protocols, with reference implementations.

The service depends on these protocols only; a deployment plugs in its SMS gateway or
mail relay. ``OutboxChannel`` is the development adapter: it writes each message to a
JSON-lines file under the data directory, where the demo and the tests read OTPs.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from dpistack.core.timeutil import iso, utcnow


@runtime_checkable
class NotificationChannel(Protocol):
    """Delivers a short message to a person (SMS to a phone number, e-mail to an address)."""

    kind: str  # "sms" | "email"

    def send(self, to: str, message: str) -> None:
        """Deliver ``message`` to ``to``; raise on failure (the caller then reports it)."""


class OutboxChannel:
    """Development adapter: appends ``{"time","to","message"}`` lines to ``<dir>/<kind>.jsonl`` (0600)."""

    def __init__(self, directory: Path, kind: str):
        self.dir, self.kind = Path(directory), kind
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.dir / f"{self.kind}.jsonl"

    def send(self, to: str, message: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": iso(utcnow()), "to": to, "message": message}, ensure_ascii=False) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(line)

    def messages(self, to: str | None = None) -> list[dict]:
        """What was sent (newest last), for the demo and tests."""
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
        return [r for r in rows if to is None or r["to"] == to]
