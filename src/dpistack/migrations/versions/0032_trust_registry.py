"""governance: the trust registry of credential issuers (issuer.trust / issuer.distrust);
credentials: OpenID4VP presentation requests

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 14:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('governance_trusted_issuers',
    sa.Column('iss', sa.String(length=500), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('vcts', sa.JSON(), nullable=False),
    sa.Column('jwks', sa.JSON(), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.String(length=36), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_governance_trusted_issuers_proposal_id_proposals')),
    sa.PrimaryKeyConstraint('iss', name=op.f('pk_governance_trusted_issuers')),
    sa.UniqueConstraint('sequence', name=op.f('uq_governance_trusted_issuers_sequence'))
    )
    op.create_table('credentials_presentation_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('relying_party', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('dcql_query', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials_presentation_requests'))
    )
    with op.batch_alter_table('credentials_presentation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_presentation_requests_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credentials_presentation_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_presentation_requests_expires_at'))
    op.drop_table('credentials_presentation_requests')
    op.drop_table('governance_trusted_issuers')
