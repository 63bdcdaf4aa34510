"""One instance of the platform: its settings, database and keys, opened once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from dpistack.core.changeboard import ChangeBoard
from dpistack.core.config import Settings
from dpistack.core.db import Database, migrate
from dpistack.core.groupcommit import GroupCommit
from dpistack.core.keys import KeyStore
from dpistack.core.outbox import Outbox
from dpistack.core.ratelimit import RateLimiter


@dataclass
class Platform:
    settings: Settings
    db: Database
    keys: KeyStore
    extras: dict = field(default_factory=dict)  # per-process caches of the blocks (e.g. the Merkle tree)

    @classmethod
    def open(cls, settings: Settings | None = None, *, engine: Engine | None = None) -> "Platform":
        """Open an instance, creating keys and migrating the schema on first start."""
        settings = settings or Settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keys = KeyStore(settings.keys_dir)
        keys.ensure()
        db = Database(settings, engine)
        migrate(db.engine)
        return cls(settings=settings, db=db, keys=keys)

    @property
    def rate_limiter(self) -> RateLimiter:
        limiter = self.extras.get("rate_limiter")
        if limiter is None:
            limiter = self.extras["rate_limiter"] = RateLimiter(self.settings.rate_limit_storage)
        return limiter

    @property
    def group_commit(self) -> GroupCommit:
        committer = self.extras.get("group_commit")
        if committer is None:
            committer = self.extras.setdefault("group_commit", GroupCommit(self))
        return committer

    @property
    def outbox(self) -> Outbox:
        """Messages to other systems, delivered after the transaction that wrote them commits."""
        outbox = self.extras.get("outbox")
        if outbox is None:
            outbox = self.extras.setdefault("outbox", Outbox(self))
        return outbox

    @property
    def change_board(self) -> ChangeBoard | None:
        """The host's change board, or None when process caches are off."""
        if not self.settings.process_caches:
            return None
        board = self.extras.get("change_board")
        if board is None:
            board = self.extras.setdefault("change_board", ChangeBoard(self.settings.data_dir / "changes.board"))
        return board

    def close(self) -> None:
        if "group_commit" in self.extras:
            self.extras["group_commit"].close()
        self.db.dispose()
