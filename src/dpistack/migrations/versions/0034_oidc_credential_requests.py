"""identity: a login's request for credentials (OpenID4VCI authorization-code flow)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-03 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identity_oidc_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credential_request', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identity_oidc_transactions', schema=None) as batch_op:
        batch_op.drop_column('credential_request')
