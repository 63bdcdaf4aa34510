"""exchange and consent: subsystems, the service catalogue, the signed message log, pub/sub rooms, subscriptions, events and deliveries; consent artefacts, their revisions and uses; transparency entries indexed by subject

Revision ID: 0020
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('consent_artefacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('principal', sa.String(length=64), nullable=True),
    sa.Column('consumer', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_artefacts'))
    )
    with op.batch_alter_table('consent_artefacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_artefacts_consumer'), ['consumer'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_artefacts_principal'), ['principal'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_artefacts_provider'), ['provider'], unique=False)

    op.create_table('exchange_log_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_log_batches'))
    )
    op.create_table('exchange_rooms',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_rooms'))
    )
    op.create_table('exchange_services',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('subsystem', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('backend_url', sa.String(length=2048), nullable=False),
    sa.Column('openapi', sa.JSON(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('personal_data', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_services'))
    )
    with op.batch_alter_table('exchange_services', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_services_provider'), ['provider'], unique=False)

    op.create_table('exchange_subsystems',
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'code', name=op.f('pk_exchange_subsystems'))
    )
    op.create_table('consent_revisions',
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('artefact', sa.LargeBinary(), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consent_artefacts.id'], name=op.f('fk_consent_revisions_consent_id_consent_artefacts')),
    sa.PrimaryKeyConstraint('consent_id', 'revision', name=op.f('pk_consent_revisions'))
    )
    op.create_table('consent_uses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consent_artefacts.id'], name=op.f('fk_consent_uses_consent_id_consent_artefacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_uses'))
    )
    with op.batch_alter_table('consent_uses', schema=None) as batch_op:
        batch_op.create_index('ix_consent_uses_consent_at', ['consent_id', 'at'], unique=False)

    op.create_table('exchange_events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=64), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['exchange_rooms.id'], name=op.f('fk_exchange_events_room_id_exchange_rooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_events'))
    )
    with op.batch_alter_table('exchange_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_events_room_id'), ['room_id'], unique=False)

    op.create_table('exchange_message_log',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client', sa.String(length=300), nullable=False),
    sa.Column('service', sa.String(length=300), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('request_hash', sa.String(length=88), nullable=False),
    sa.Column('response_hash', sa.String(length=88), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=True),
    sa.Column('consent_id', sa.String(length=36), nullable=True),
    sa.Column('legal_basis', sa.String(length=200), nullable=True),
    sa.Column('issue', sa.String(length=200), nullable=True),
    sa.Column('sealed_user', sa.Text(), nullable=True),
    sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['exchange_log_batches.id'], name=op.f('fk_exchange_message_log_batch_id_exchange_log_batches')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_exchange_message_log'))
    )
    with op.batch_alter_table('exchange_message_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_message_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_message_log_batch_id'), ['batch_id'], unique=False)

    op.create_table('exchange_subscriptions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('subscriber', sa.String(length=64), nullable=False),
    sa.Column('subscriber_client', sa.String(length=300), nullable=False),
    sa.Column('delivery', sa.String(length=4), nullable=False),
    sa.Column('push_url', sa.String(length=2048), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['exchange_rooms.id'], name=op.f('fk_exchange_subscriptions_room_id_exchange_rooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_subscriptions'))
    )
    with op.batch_alter_table('exchange_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_subscriptions_room_id'), ['room_id'], unique=False)

    op.create_table('exchange_deliveries',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('subscription_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['exchange_events.id'], name=op.f('fk_exchange_deliveries_event_id_exchange_events')),
    sa.ForeignKeyConstraint(['subscription_id'], ['exchange_subscriptions.id'], name=op.f('fk_exchange_deliveries_subscription_id_exchange_subscriptions')),
    sa.PrimaryKeyConstraint('event_id', 'subscription_id', name=op.f('pk_exchange_deliveries'))
    )
    with op.batch_alter_table('exchange_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_deliveries_pull', ['subscription_id', 'status', 'created_at'], unique=False)

    with op.batch_alter_table('tlog_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_tlog_entries_subject'), ['subject'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('tlog_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tlog_entries_subject'))
        batch_op.drop_column('subject')

    with op.batch_alter_table('exchange_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_deliveries_pull')

    op.drop_table('exchange_deliveries')
    with op.batch_alter_table('exchange_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_subscriptions_room_id'))

    op.drop_table('exchange_subscriptions')
    with op.batch_alter_table('exchange_message_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_message_log_batch_id'))
        batch_op.drop_index(batch_op.f('ix_exchange_message_log_at'))

    op.drop_table('exchange_message_log')
    with op.batch_alter_table('exchange_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_events_room_id'))

    op.drop_table('exchange_events')
    with op.batch_alter_table('consent_uses', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_uses_consent_at')

    op.drop_table('consent_uses')
    op.drop_table('consent_revisions')
    op.drop_table('exchange_subsystems')
    with op.batch_alter_table('exchange_services', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_services_provider'))

    op.drop_table('exchange_services')
    op.drop_table('exchange_rooms')
    op.drop_table('exchange_log_batches')
    with op.batch_alter_table('consent_artefacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_artefacts_provider'))
        batch_op.drop_index(batch_op.f('ix_consent_artefacts_principal'))
        batch_op.drop_index(batch_op.f('ix_consent_artefacts_consumer'))

    op.drop_table('consent_artefacts')

