"""payments: transfer ids kept as their 16 bytes instead of 36 characters of text

Revision ID: 0038
Revises: 0036
Create Date: 2026-12-04 14:00:00
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0038'
down_revision = '0036'
branch_labels = None
depends_on = None

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PG_UUID = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"


# The conversions of payments.models.id_bytes / id_text, as they were when this was written.
def _to_bytes(text: str) -> bytes:
    if _UUID.match(text):
        return bytes.fromhex(text.replace("-", ""))
    encoded = text.encode()
    return encoded + b"\0" if len(encoded) == 16 else encoded


def _to_text(raw: bytes) -> str:
    if len(raw) == 16:
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return (raw.removesuffix(b"\0") if len(raw) == 17 else raw).decode()


def _sqlite_function(name, fn) -> None:
    op.get_bind().connection.driver_connection.create_function(name, 1, fn, deterministic=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payments_transfers ALTER COLUMN id TYPE bytea USING CASE WHEN id ~ "
                   f"{_PG_UUID} THEN decode(replace(id, '-', ''), 'hex') ELSE convert_to(id, 'UTF8') END")
        return
    with op.batch_alter_table('payments_transfers', recreate='always') as batch:
        batch.alter_column('id', type_=sa.LargeBinary(length=16), existing_type=sa.String(length=36),
                           existing_nullable=False)
    _sqlite_function("dpi_transfer_id_bytes", lambda v: _to_bytes(v if isinstance(v, str) else bytes(v).decode()))
    op.execute("UPDATE payments_transfers SET id = dpi_transfer_id_bytes(id) WHERE typeof(id) = 'text' "
               "OR length(id) = 36")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payments_transfers ALTER COLUMN id TYPE varchar(36) USING CASE WHEN length(id) = 16 "
                   "THEN regexp_replace(encode(id, 'hex'), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\\1-\\2-\\3-\\4-\\5') "
                   "ELSE convert_from(id, 'UTF8') END")
        return
    _sqlite_function("dpi_transfer_id_text", lambda v: _to_text(bytes(v)) if isinstance(v, bytes) else v)
    op.execute("UPDATE payments_transfers SET id = dpi_transfer_id_text(id) WHERE typeof(id) = 'blob'")
    with op.batch_alter_table('payments_transfers', recreate='always') as batch:
        batch.alter_column('id', type_=sa.String(length=36), existing_type=sa.LargeBinary(length=16),
                           existing_nullable=False)
