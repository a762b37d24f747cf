"""Feishu Calendar: each user's busy time as last read (and when), calendar connections with encrypted user
tokens, single-use OAuth states, the calendar event a block was written as, the busy-time age a preview was
planned on, and the calendar_conflict trigger type.

Revision ID: 0004
Revises: 0003

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import store.types


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MYSQL = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4', 'mysql_collate': 'utf8mb4_bin'}
OLD_TYPES = "type IN ('worker_due_job', 'admin_trigger', 'dry_run', 'user_feedback')"
NEW_TYPES = "type IN ('worker_due_job', 'admin_trigger', 'dry_run', 'user_feedback', 'calendar_conflict')"


def upgrade() -> None:
    op.create_table(
        'busy_times',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('start', store.types.UTCDateTime(), nullable=False),
        sa.Column('end', store.types.UTCDateTime(), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=True),
        sa.Column('event_id', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_busy_times_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_busy_times')),
        **MYSQL,
    )
    op.create_index(op.f('ix_busy_times_user_id_start'), 'busy_times', ['user_id', 'start'], unique=False)
    op.create_table(
        'calendar_reads',
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('read_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('window_start', store.types.UTCDateTime(), nullable=True),
        sa.Column('window_end', store.types.UTCDateTime(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=True),
        sa.Column('failed_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('error', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_calendar_reads_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_calendar_reads')),
        **MYSQL,
    )
    op.create_table(
        'calendar_connections',
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('access_token', sa.Text(), nullable=True),
        sa.Column('access_expires_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('refresh_token', sa.Text(), nullable=True),
        sa.Column('refresh_expires_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('calendar_id', sa.String(length=255), nullable=True),
        sa.Column('subscribed_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('broken_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('broken_notified_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
        sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('connected', 'broken')", name=op.f('ck_calendar_connections_status')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_calendar_connections_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_calendar_connections')),
        **MYSQL,
    )
    op.create_table(
        'oauth_states',
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('expires_at', store.types.UTCDateTime(), nullable=False),
        sa.Column('used_at', store.types.UTCDateTime(), nullable=True),
        sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_states_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('nonce', name=op.f('pk_oauth_states')),
        **MYSQL,
    )
    with op.batch_alter_table('blocks') as batch:
        batch.add_column(sa.Column('calendar_id', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('calendar_event_id', sa.String(length=255), nullable=True))
    with op.batch_alter_table('previews') as batch:
        batch.add_column(sa.Column('busy_read_at', store.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table('triggers') as batch:
        batch.drop_constraint(op.f('ck_triggers_type'), type_='check')
        batch.create_check_constraint(op.f('ck_triggers_type'), sa.text(NEW_TYPES))


def downgrade() -> None:
    with op.batch_alter_table('triggers') as batch:
        batch.drop_constraint(op.f('ck_triggers_type'), type_='check')
        batch.create_check_constraint(op.f('ck_triggers_type'), sa.text(OLD_TYPES))
    with op.batch_alter_table('previews') as batch:
        batch.drop_column('busy_read_at')
    with op.batch_alter_table('blocks') as batch:
        batch.drop_column('calendar_event_id')
        batch.drop_column('calendar_id')
    op.drop_table('oauth_states')
    op.drop_table('calendar_connections')
    op.drop_table('calendar_reads')
    op.drop_table('busy_times')
