"""services: the catalogue of public services

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-03 14:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('services_catalogue',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services_catalogue'))
    )
    with op.batch_alter_table('services_catalogue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_services_catalogue_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_services_catalogue_publisher'), ['publisher'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('services_catalogue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_services_catalogue_publisher'))
        batch_op.drop_index(batch_op.f('ix_services_catalogue_category'))
    op.drop_table('services_catalogue')
