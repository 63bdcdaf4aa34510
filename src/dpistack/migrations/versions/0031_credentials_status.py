"""credentials: Bitstring Status Lists and the status of each issued W3C credential

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('credentials_status_lists',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials_status_lists'))
    )
    op.create_table('credentials_status_entries',
    sa.Column('credential_id', sa.String(length=200), nullable=False),
    sa.Column('list_id', sa.String(length=32), nullable=False),
    sa.Column('list_index', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['credentials_status_lists.id'],
                            name=op.f('fk_credentials_status_entries_list_id_credentials_status_lists')),
    sa.PrimaryKeyConstraint('credential_id', name=op.f('pk_credentials_status_entries')),
    sa.UniqueConstraint('list_id', 'list_index', name=op.f('uq_credentials_status_entries_list_id'))
    )
    with op.batch_alter_table('credentials_status_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_status_entries_list_id'), ['list_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credentials_status_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_status_entries_list_id'))
    op.drop_table('credentials_status_entries')
    op.drop_table('credentials_status_lists')
