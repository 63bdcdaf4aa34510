"""payments: running totals per settlement window, FSP and currency instead of an index of the
transfers by window

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-04 14:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0039'
down_revision = '0038'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payments_window_positions',
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('sent', sa.BigInteger(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('sent_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['window_id'], ['payments_settlement_windows.id'],
                            name=op.f('fk_payments_window_positions_window_id_payments_settlement_windows')),
    sa.PrimaryKeyConstraint('window_id', 'participant', 'currency', name=op.f('pk_payments_window_positions'))
    )
    # The totals of the transfers committed so far.
    op.execute("""
        INSERT INTO payments_window_positions (window_id, participant, currency, sent, received, sent_count)
        SELECT window_id, participant, currency, SUM(sent), SUM(received), SUM(sent_count) FROM (
            SELECT window_id, payer AS participant, currency, amount AS sent, 0 AS received, 1 AS sent_count
              FROM payments_transfers WHERE state = 'COMMITTED'
            UNION ALL
            SELECT window_id, payee, currency, 0, amount, 0
              FROM payments_transfers WHERE state = 'COMMITTED') AS legs
        GROUP BY window_id, participant, currency""")
    with op.batch_alter_table('payments_transfers') as batch:
        batch.drop_index(batch.f('ix_payments_transfers_window_id'))


def downgrade() -> None:
    with op.batch_alter_table('payments_transfers') as batch:
        batch.create_index(batch.f('ix_payments_transfers_window_id'), ['window_id'], unique=False)
    op.drop_table('payments_window_positions')
