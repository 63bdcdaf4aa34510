"""identity: people's authentication facts (keyed digests); the authentication history indexed by
(subject, outcome, time) for the lockout check

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identity_persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_facts', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('identity_auth_events', schema=None) as batch_op:
        batch_op.create_index('ix_identity_auth_events_subject_outcome_time', ['subject', 'outcome', 'created_at'],
                              unique=False)
        batch_op.drop_index(batch_op.f('ix_identity_auth_events_subject'))


def downgrade() -> None:
    with op.batch_alter_table('identity_auth_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_auth_events_subject'), ['subject'], unique=False)
        batch_op.drop_index('ix_identity_auth_events_subject_outcome_time')
    with op.batch_alter_table('identity_persons', schema=None) as batch_op:
        batch_op.drop_column('auth_facts')
