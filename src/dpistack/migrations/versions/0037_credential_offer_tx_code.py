"""credentials: a Transaction Code (tx_code) for pre-authorized credential offers

Revision ID: 0037
Revises: 0034
Create Date: 2026-12-03 17:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0037'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('credentials_offers') as batch:
        batch.add_column(sa.Column('tx_code_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('tx_code_attempts', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('credentials_offers') as batch:
        batch.drop_column('tx_code_attempts')
        batch.drop_column('tx_code_hash')
