"""services: online forms in the catalogue, and the applications sent through them

Revision ID: 0036
Revises: 0037
Create Date: 2026-12-03 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0036'
down_revision = '0037'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('services_catalogue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form', sa.JSON(), nullable=True))
    op.create_table('services_applications',
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('service_id', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('answers', sa.String(), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('form_revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('reference', name=op.f('pk_services_applications')),
    sa.UniqueConstraint('submitted_by', 'request_id', name=op.f('uq_services_applications_submitted_by'))
    )
    with op.batch_alter_table('services_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_services_applications_publisher'), ['publisher'], unique=False)
        batch_op.create_index(batch_op.f('ix_services_applications_service_id'), ['service_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_services_applications_subject'), ['subject'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('services_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_services_applications_subject'))
        batch_op.drop_index(batch_op.f('ix_services_applications_service_id'))
        batch_op.drop_index(batch_op.f('ix_services_applications_publisher'))
    op.drop_table('services_applications')
    with op.batch_alter_table('services_catalogue', schema=None) as batch_op:
        batch_op.drop_column('form')
