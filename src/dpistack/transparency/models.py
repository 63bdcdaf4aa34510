"""Transparency-log tables: the entries (leaves) and the head that orders appends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from dpistack.core.db import Base
from dpistack.core.timeutil import utcnow


class LogEntry(Base):
    """One leaf: the exact entry bytes (RFC 8785 JSON) and their RFC 9162 leaf hash."""

    __tablename__ = "tlog_entries"

    idx: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the pseudonym of the person an access entry is about (None for other entries), so that a
    # person's data tracker finds their entries with one index seek
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class LogHead(Base):
    """A single row holding the tree size. Appends update it first, which serialises them."""

    __tablename__ = "tlog_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
