"""payments: the switch's ledger, settlement, quotes and account lookup

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payments_bulk_transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('bulk_quote_id', sa.String(length=36), nullable=False),
    sa.Column('payer', sa.String(length=32), nullable=False),
    sa.Column('payee', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('request_hash', sa.String(length=43), nullable=False),
    sa.Column('fulfil_hash', sa.String(length=43), nullable=True),
    sa.Column('expiration', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('results', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_bulk_transfers'))
    )
    op.create_table('payments_participants',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_payments_participants'))
    )
    op.create_table('payments_quotes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('transaction_id', sa.String(length=36), nullable=False),
    sa.Column('payer', sa.String(length=32), nullable=False),
    sa.Column('payee', sa.String(length=32), nullable=False),
    sa.Column('request_hash', sa.String(length=43), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('condition', sa.String(length=43), nullable=True),
    sa.Column('ilp_packet_hash', sa.String(length=43), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('transfer_amount', sa.BigInteger(), nullable=True),
    sa.Column('expiration', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_quotes'))
    )
    with op.batch_alter_table('payments_quotes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_quotes_condition'), ['condition'], unique=False)

    op.create_table('payments_settlement_models',
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('granularity', sa.String(length=8), nullable=False),
    sa.Column('interchange', sa.String(length=12), nullable=False),
    sa.Column('delay', sa.String(length=9), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('require_liquidity_check', sa.Boolean(), nullable=False),
    sa.Column('ledger_account_type', sa.String(length=32), nullable=False),
    sa.Column('settlement_account_type', sa.String(length=32), nullable=False),
    sa.Column('auto_position_reset', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_payments_settlement_models'))
    )
    op.create_table('payments_settlement_windows',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('settlement_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_settlement_windows'))
    )
    with op.batch_alter_table('payments_settlement_windows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_settlement_windows_state'), ['state'], unique=False)

    op.create_table('payments_transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('payer', sa.String(length=32), nullable=False),
    sa.Column('payee', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('condition', sa.String(length=43), nullable=False),
    sa.Column('expiration', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('fulfilment', sa.String(length=43), nullable=True),
    sa.Column('request_hash', sa.String(length=43), nullable=False),
    sa.Column('fulfil_hash', sa.String(length=43), nullable=True),
    sa.Column('payee_reserved', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.String(length=36), nullable=True),
    sa.Column('bulk_id', sa.String(length=36), nullable=True),
    sa.Column('window_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('completed_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_transfers'))
    )
    with op.batch_alter_table('payments_transfers', schema=None) as batch_op:
        batch_op.create_index('ix_payments_transfers_bulk', ['bulk_id'], unique=False, sqlite_where=sa.text('bulk_id IS NOT NULL'), postgresql_where=sa.text('bulk_id IS NOT NULL'))
        batch_op.create_index('ix_payments_transfers_live', ['expiration'], unique=False, sqlite_where=sa.text("state = 'RESERVED'"), postgresql_where=sa.text("state = 'RESERVED'"))
        batch_op.create_index(batch_op.f('ix_payments_transfers_window_id'), ['window_id'], unique=False)

    op.create_table('payments_accounts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('reserved', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant'], ['payments_participants.name'], name=op.f('fk_payments_accounts_participant_payments_participants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_accounts')),
    sa.UniqueConstraint('participant', 'currency', 'type', name=op.f('uq_payments_accounts_participant'))
    )
    with op.batch_alter_table('payments_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_accounts_participant'), ['participant'], unique=False)

    op.create_table('payments_endpoints',
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=1024), nullable=False),
    sa.ForeignKeyConstraint(['participant'], ['payments_participants.name'], name=op.f('fk_payments_endpoints_participant_payments_participants')),
    sa.PrimaryKeyConstraint('participant', 'type', name=op.f('pk_payments_endpoints'))
    )
    op.create_table('payments_party_links',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('party_id_type', sa.String(length=16), nullable=False),
    sa.Column('fsp', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fsp'], ['payments_participants.name'], name=op.f('fk_payments_party_links_fsp_payments_participants')),
    sa.PrimaryKeyConstraint('key', 'currency', name=op.f('pk_payments_party_links'))
    )
    op.create_table('payments_settlements',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=30), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('windows', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model'], ['payments_settlement_models.name'], name=op.f('fk_payments_settlements_model_payments_settlement_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_settlements'))
    )
    op.create_table('payments_signing_keys',
    sa.Column('kid', sa.String(length=128), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('jwk', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant'], ['payments_participants.name'], name=op.f('fk_payments_signing_keys_participant_payments_participants')),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_payments_signing_keys'))
    )
    with op.batch_alter_table('payments_signing_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_signing_keys_participant'), ['participant'], unique=False)

    op.create_table('payments_funds_transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('direction', sa.String(length=4), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('external_reference', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('request_hash', sa.String(length=43), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['payments_accounts.id'], name=op.f('fk_payments_funds_transfers_account_id_payments_accounts')),
    sa.ForeignKeyConstraint(['participant'], ['payments_participants.name'], name=op.f('fk_payments_funds_transfers_participant_payments_participants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_funds_transfers'))
    )
    op.create_table('payments_journal',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['payments_accounts.id'], name=op.f('fk_payments_journal_account_id_payments_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_journal'))
    )
    with op.batch_alter_table('payments_journal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_journal_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_journal_reference'), ['reference'], unique=False)

    op.create_table('payments_limits',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('alarm_percentage', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['payments_accounts.id'], name=op.f('fk_payments_limits_account_id_payments_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'type', name=op.f('pk_payments_limits'))
    )
    op.create_table('payments_settlement_accounts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('participant', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net_amount', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('external_reference', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['payments_accounts.id'], name=op.f('fk_payments_settlement_accounts_account_id_payments_accounts')),
    sa.ForeignKeyConstraint(['settlement_id'], ['payments_settlements.id'], name=op.f('fk_payments_settlement_accounts_settlement_id_payments_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_settlement_accounts')),
    sa.UniqueConstraint('settlement_id', 'account_id', name=op.f('uq_payments_settlement_accounts_settlement_id'))
    )
    with op.batch_alter_table('payments_settlement_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_settlement_accounts_settlement_id'), ['settlement_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payments_settlement_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_settlement_accounts_settlement_id'))

    op.drop_table('payments_settlement_accounts')
    op.drop_table('payments_limits')
    with op.batch_alter_table('payments_journal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_journal_reference'))
        batch_op.drop_index(batch_op.f('ix_payments_journal_account_id'))

    op.drop_table('payments_journal')
    op.drop_table('payments_funds_transfers')
    with op.batch_alter_table('payments_signing_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_signing_keys_participant'))

    op.drop_table('payments_signing_keys')
    op.drop_table('payments_settlements')
    op.drop_table('payments_party_links')
    op.drop_table('payments_endpoints')
    with op.batch_alter_table('payments_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_accounts_participant'))

    op.drop_table('payments_accounts')
    with op.batch_alter_table('payments_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_transfers_window_id'))
        batch_op.drop_index('ix_payments_transfers_live', sqlite_where=sa.text("state = 'RESERVED'"), postgresql_where=sa.text("state = 'RESERVED'"))
        batch_op.drop_index('ix_payments_transfers_bulk', sqlite_where=sa.text('bulk_id IS NOT NULL'), postgresql_where=sa.text('bulk_id IS NOT NULL'))

    op.drop_table('payments_transfers')
    with op.batch_alter_table('payments_settlement_windows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_settlement_windows_state'))

    op.drop_table('payments_settlement_windows')
    op.drop_table('payments_settlement_models')
    with op.batch_alter_table('payments_quotes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_quotes_condition'))

    op.drop_table('payments_quotes')
    op.drop_table('payments_participants')
    op.drop_table('payments_bulk_transfers')
