"""Payments tables: the switch's participants, accounts and limits, transfers, the journal of
other movements (funds in/out, settlements), settlement windows, quotes and the account-lookup
oracle. Money is always integer minor units of its currency (see ``money``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, LargeBinary, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from dpistack.core.db import Base
from dpistack.core.timeutil import utcnow

HUB = "Hub"  # the hub's own participant (its multilateral-settlement and reconciliation accounts)

FSP_ACCOUNT_TYPES = ("POSITION", "SETTLEMENT")
HUB_ACCOUNT_TYPES = ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION")


class SwitchParticipant(Base):
    """An FSP (or the hub) as the switch knows it. An FSP exists here only once governance has
    onboarded it with the ``fsp`` role."""

    __tablename__ = "payments_participants"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """A ledger account. ``value`` is the balance (POSITION: what the FSP owes the scheme, positive;
    SETTLEMENT: negative while it holds funds deposited); ``reserved`` is held by transfers (or
    funds out) in flight. All accounts of a currency sum to zero."""

    __tablename__ = "payments_accounts"
    __table_args__ = (UniqueConstraint("participant", "currency", "type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    participant: Mapped[str] = mapped_column(ForeignKey("payments_participants.name"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Limit(Base):
    """The net debit cap of a position account: its position plus reservations never exceed it."""

    __tablename__ = "payments_limits"

    account_id: Mapped[int] = mapped_column(ForeignKey("payments_accounts.id"), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), primary_key=True, default="NET_DEBIT_CAP")
    value: Mapped[int] = mapped_column(BigInteger)
    alarm_percentage: Mapped[int] = mapped_column(Integer, default=10)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Endpoint(Base):
    """Where an FSP takes its callbacks (``FSPIOP_CALLBACK_URL_TRANSFER_POST`` …, Mustache templates)."""

    __tablename__ = "payments_endpoints"

    participant: Mapped[str] = mapped_column(ForeignKey("payments_participants.name"), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))


class SigningKey(Base):
    """A public key an FSP signs its FSPIOP messages with (``FSPIOP-Signature``). An FSP with a
    key must sign every request; one without may not send a signature the switch can check."""

    __tablename__ = "payments_signing_keys"

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    participant: Mapped[str] = mapped_column(ForeignKey("payments_participants.name"), index=True)
    jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def uuid_bytes(transfer_id: str) -> bytearray | None:
    """The 16 bytes of a canonical (lower-case) UUID, as FSPIOP's CorrelationId requires and the
    API checks; None for anything else. (Its hex read back must be the digits themselves: lower
    case, and no spaces, which ``fromhex`` would skip.)"""
    digits = transfer_id.replace("-", "")
    if len(transfer_id) == 36 and transfer_id[8:24:5] == "----" and len(digits) == 32:
        try:
            raw = bytearray.fromhex(digits)
        except ValueError:
            return None
        if raw.hex() == digits:
            return raw
    return None


def id_bytes(transfer_id: str) -> bytes:
    """A transfer id as the table keeps it: a canonical UUID as its 16 bytes (``uuid_bytes``);
    anything else as its UTF-8, never 16 bytes long (so it can be looked up, finds nothing, and
    reads back as it was)."""
    raw = uuid_bytes(transfer_id)
    if raw is not None:
        return bytes(raw)
    encoded = transfer_id.encode()
    return encoded + b"\0" if len(encoded) == 16 else encoded


def id_text(raw: bytes) -> str:
    if len(raw) != 16:
        return bytes(raw).removesuffix(b"\0").decode() if len(raw) == 17 else bytes(raw).decode()
    h = bytes(raw).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class TransferId(TypeDecorator):
    """A transfer id, kept as 16 bytes (``id_bytes``) and read back as its text: a random id's
    B-tree costs less the smaller its keys (measured: the bare INSERT + UPDATE of a transfer,
    69,000-72,000/s with 36-character text keys, 82,000/s with 16-byte ones)."""

    impl = LargeBinary(16)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> bytes | None:
        return None if value is None else id_bytes(value)

    def process_result_value(self, value: bytes | None, dialect) -> str | None:
        return None if value is None else id_text(value)


class TransferIdBytes(TypeDecorator):
    """A transfer id already made bytes by the caller (the ledger's hot rows): bound as it is,
    so that the driver-level INSERT and UPDATE of a batch convert nothing per row."""

    impl = LargeBinary(16)
    cache_ok = True

    def bind_processor(self, dialect):
        return None


class Transfer(Base):
    """An FSPIOP transfer: reserved at prepare, then committed or aborted exactly once. A committed
    transfer moves ``amount`` from the payer's position (+) to the payee's (−)."""

    __tablename__ = "payments_transfers"
    # Only live reservations are indexed by expiry, only bulk members by bulk: less to write per transfer.
    __table_args__ = (Index("ix_payments_transfers_live", "expiration", sqlite_where=text("state = 'RESERVED'"),
                            postgresql_where=text("state = 'RESERVED'")),
                      Index("ix_payments_transfers_bulk", "bulk_id", sqlite_where=text("bulk_id IS NOT NULL"),
                            postgresql_where=text("bulk_id IS NOT NULL")))

    id: Mapped[str] = mapped_column(TransferId, primary_key=True)
    payer: Mapped[str] = mapped_column(String(32))
    payee: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    condition: Mapped[str] = mapped_column(String(43))
    # times as integer microseconds since the epoch, UTC: the hottest rows need no conversion
    expiration: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(10))  # RESERVED | COMMITTED | ABORTED
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "<code> <description>" when aborted
    fulfilment: Mapped[str | None] = mapped_column(String(43), nullable=True)
    request_hash: Mapped[str] = mapped_column(String(43))  # of the prepare body: duplicates vs modified requests
    fulfil_hash: Mapped[str | None] = mapped_column(String(43), nullable=True)
    payee_reserved: Mapped[int] = mapped_column(Integer, default=0)  # 1: the payee asked to be told (PATCH)
    quote_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    bulk_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    window_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # totals: WindowPosition
    created_at: Mapped[int] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class JournalEntry(Base):
    """One leg of a movement that is not an FSPIOP transfer (funds in or out, settlement). The
    legs of one ``reference`` sum to zero; ``amount`` is added to the account's value."""

    __tablename__ = "payments_journal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("payments_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FundsTransfer(Base):
    """Funds in or out of an FSP's settlement account, recorded by the hub operator."""

    __tablename__ = "payments_funds_transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    participant: Mapped[str] = mapped_column(ForeignKey("payments_participants.name"))
    account_id: Mapped[int] = mapped_column(ForeignKey("payments_accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    state: Mapped[str] = mapped_column(String(10))  # RESERVED (out, prepared) | COMMITTED | ABORTED
    external_reference: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(43))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WindowPosition(Base):
    """What an FSP sent and received in a settlement window, per currency: running totals the
    ledger adds to with each batch it commits (one row per FSP, window and currency), so that
    windows and settlements are read from these rows, not from the transfers, and the transfers
    need no index by window (measured: that index cost the ledger alone 4-8 %). ``payments
    check`` recomputes them from the transfers."""

    __tablename__ = "payments_window_positions"

    window_id: Mapped[int] = mapped_column(ForeignKey("payments_settlement_windows.id"), primary_key=True)
    participant: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units committed as payer
    received: Mapped[int] = mapped_column(BigInteger, default=0)  # … as payee
    sent_count: Mapped[int] = mapped_column(Integer, default=0)  # transfers committed as payer


class SettlementModel(Base):
    __tablename__ = "payments_settlement_models"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    granularity: Mapped[str] = mapped_column(String(8))  # GROSS | NET
    interchange: Mapped[str] = mapped_column(String(12))  # BILATERAL | MULTILATERAL
    delay: Mapped[str] = mapped_column(String(9))  # IMMEDIATE | DEFERRED
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    require_liquidity_check: Mapped[bool] = mapped_column(Boolean, default=True)
    ledger_account_type: Mapped[str] = mapped_column(String(32), default="POSITION")
    settlement_account_type: Mapped[str] = mapped_column(String(32), default="SETTLEMENT")
    auto_position_reset: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class SettlementWindow(Base):
    """Committed transfers fall in the one OPEN window; closing it opens the next."""

    __tablename__ = "payments_settlement_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(20), index=True)  # OPEN|CLOSED|PENDING_SETTLEMENT|SETTLED|ABORTED
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    settlement_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Settlement(Base):
    __tablename__ = "payments_settlements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(ForeignKey("payments_settlement_models.name"))
    state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    windows: Mapped[list] = mapped_column(JSON)  # the window ids it settles
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SettlementAccount(Base):
    """One FSP position account's net amount in a settlement (> 0: net sender, pays)."""

    __tablename__ = "payments_settlement_accounts"
    __table_args__ = (UniqueConstraint("settlement_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("payments_settlements.id"), index=True)
    participant: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("payments_accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    net_amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    external_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Quote(Base):
    """A quote the switch relayed, kept so that the transfer built from it can be checked against it."""

    __tablename__ = "payments_quotes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36))
    payer: Mapped[str] = mapped_column(String(32))
    payee: Mapped[str] = mapped_column(String(32))
    request_hash: Mapped[str] = mapped_column(String(43))
    state: Mapped[str] = mapped_column(String(10))  # REQUESTED | QUOTED | REJECTED
    condition: Mapped[str | None] = mapped_column(String(43), nullable=True, index=True)
    ilp_packet_hash: Mapped[str | None] = mapped_column(String(43), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    transfer_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expiration: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PartyLink(Base):
    """The account-lookup oracle: which FSP holds a party. The identifier (a phone number, an
    account, a national ID) is kept only as a keyed blind index."""

    __tablename__ = "payments_party_links"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)  # blind index of type, id, sub-id
    currency: Mapped[str] = mapped_column(String(3), primary_key=True, default="")  # "" = any currency
    party_id_type: Mapped[str] = mapped_column(String(16))
    fsp: Mapped[str] = mapped_column(ForeignKey("payments_participants.name"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BulkTransfer(Base):
    __tablename__ = "payments_bulk_transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bulk_quote_id: Mapped[str] = mapped_column(String(36))
    payer: Mapped[str] = mapped_column(String(32))
    payee: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(12))  # ACCEPTED | COMPLETED | REJECTED
    request_hash: Mapped[str] = mapped_column(String(43))
    fulfil_hash: Mapped[str | None] = mapped_column(String(43), nullable=True)
    expiration: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    results: Mapped[dict | None] = mapped_column(JSON, nullable=True)
