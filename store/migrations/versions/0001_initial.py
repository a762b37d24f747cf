"""Initial schema: every table of SPEC section 2.

Revision ID: 0001
Revises: 

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import store.types


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('audit_log',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_index(op.f('ix_audit_log_created_at'), 'audit_log', ['created_at'], unique=False)

    op.create_table('inbox',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('dedupe_key', sa.String(length=191), nullable=False),
    sa.Column('event_type', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('processed_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('event', 'message', 'click')", name=op.f('ck_inbox_kind')),
    sa.CheckConstraint("status IN ('received', 'processed', 'ignored', 'failed')", name=op.f('ck_inbox_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_inbox_dedupe_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('outbox',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('available_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', store.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'processing', 'done', 'dead')", name=op.f('ck_outbox_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_index(op.f('ix_outbox_status_available_at'), 'outbox', ['status', 'available_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('open_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('day_start', sa.String(length=5), nullable=False),
    sa.Column('day_end', sa.String(length=5), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=True),
    sa.Column('quiet_end', sa.String(length=5), nullable=True),
    sa.Column('daily_card_cap', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("locale IN ('zh', 'en')", name=op.f('ck_users_locale')),
    sa.CheckConstraint("role IN ('user', 'admin')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('open_id', name=op.f('uq_users_open_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('day_extensions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('day_end', sa.String(length=5), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_day_extensions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_day_extensions')),
    sa.UniqueConstraint('user_id', 'day', name=op.f('uq_day_extensions_user_id_day')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('fixed_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('start', store.types.UTCDateTime(), nullable=True),
    sa.Column('end', store.types.UTCDateTime(), nullable=True),
    sa.Column('weekday', sa.SmallInteger(), nullable=True),
    sa.Column('local_start', sa.String(length=5), nullable=True),
    sa.Column('local_end', sa.String(length=5), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fixed_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fixed_events')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_fixed_events_user_id_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('quadrant', sa.SmallInteger(), nullable=False),
    sa.Column('estimate_minutes', sa.Integer(), nullable=False),
    sa.Column('deadline', store.types.UTCDateTime(), nullable=True),
    sa.Column('urgency_threshold_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'done', 'canceled')", name=op.f('ck_tasks_status')),
    sa.CheckConstraint('quadrant BETWEEN 1 AND 4', name=op.f('ck_tasks_quadrant')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tasks_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_tasks_user_id_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('blocks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=True),
    sa.Column('start', store.types.UTCDateTime(), nullable=False),
    sa.Column('end', store.types.UTCDateTime(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('makeup_for', sa.String(length=32), nullable=True),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("source IN ('user', 'import', 'assistant')", name=op.f('ck_blocks_source')),
    sa.ForeignKeyConstraint(['makeup_for'], ['blocks.id'], name=op.f('fk_blocks_makeup_for_blocks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_blocks_task_id_tasks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_blocks_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocks')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_blocks_user_id_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_index(op.f('ix_blocks_user_id_start'), 'blocks', ['user_id', 'start'], unique=False)

    op.create_table('triggers',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('block_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('dedupe_key', sa.String(length=191), nullable=True),
    sa.Column('idempotency_key', sa.String(length=191), nullable=True),
    sa.Column('source_message_id', sa.String(length=128), nullable=True),
    sa.Column('mocked_now', store.types.UTCDateTime(), nullable=True),
    sa.Column('effective_now', store.types.UTCDateTime(), nullable=False),
    sa.Column('remaining_minutes', sa.Integer(), nullable=True),
    sa.Column('user_text', sa.Text(), nullable=True),
    sa.Column('trace_id', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'processing', 'preview_generated', 'closed', 'rejected', 'failed')", name=op.f('ck_triggers_status')),
    sa.CheckConstraint("type IN ('worker_due_job', 'admin_trigger', 'dry_run', 'user_feedback')", name=op.f('ck_triggers_type')),
    sa.ForeignKeyConstraint(['block_id'], ['blocks.id'], name=op.f('fk_triggers_block_id_blocks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_triggers_task_id_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_triggers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triggers')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_triggers_dedupe_key')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_triggers_idempotency_key')),
    sa.UniqueConstraint('source_message_id', name=op.f('uq_triggers_source_message_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('trigger_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', store.types.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('trigger_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'triggered', 'canceled', 'skipped', 'failed')", name=op.f('ck_jobs_status')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_jobs_task_id_tasks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trigger_id'], ['triggers.id'], name=op.f('fk_jobs_trigger_id_triggers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_jobs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('task_id', name=op.f('uq_jobs_task_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_index(op.f('ix_jobs_status_trigger_at'), 'jobs', ['status', 'trigger_at'], unique=False)

    op.create_table('previews',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('trigger_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decision', sa.String(length=64), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('chosen_candidate_id', sa.String(length=64), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('issues', sa.JSON(), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=True),
    sa.Column('notification_summary', sa.Text(), nullable=True),
    sa.Column('ask_user_question', sa.Text(), nullable=True),
    sa.Column('before_summary', sa.Text(), nullable=True),
    sa.Column('after_summary', sa.Text(), nullable=True),
    sa.Column('choice_source', sa.String(length=16), nullable=True),
    sa.Column('fallback_reason', sa.String(length=255), nullable=True),
    sa.Column('llm_model', sa.String(length=128), nullable=True),
    sa.Column('llm_latency_ms', sa.Integer(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('base_version', sa.String(length=64), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('apply_status', sa.String(length=16), nullable=False),
    sa.Column('apply_candidate_id', sa.String(length=64), nullable=True),
    sa.Column('apply_idempotency_key', sa.String(length=191), nullable=True),
    sa.Column('apply_request_hash', sa.String(length=64), nullable=True),
    sa.Column('apply_result', sa.JSON(), nullable=True),
    sa.Column('apply_error', sa.Text(), nullable=True),
    sa.Column('applied_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('change_set_id', sa.String(length=32), nullable=True),
    sa.Column('card_message_id', sa.String(length=128), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("apply_status IN ('none', 'applying', 'applied', 'failed', 'rejected')", name=op.f('ck_previews_apply_status')),
    sa.CheckConstraint("status IN ('ready', 'applied', 'ignored', 'expired', 'failed')", name=op.f('ck_previews_status')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_previews_task_id_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trigger_id'], ['triggers.id'], name=op.f('fk_previews_trigger_id_triggers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_previews_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_previews')),
    sa.UniqueConstraint('apply_idempotency_key', name=op.f('uq_previews_apply_idempotency_key')),
    sa.UniqueConstraint('trigger_id', name=op.f('uq_previews_trigger_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_index(op.f('ix_previews_status_expires_at'), 'previews', ['status', 'expires_at'], unique=False)

    op.create_table('change_sets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('preview_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('candidate_id', sa.String(length=64), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('applied_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('undone_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['preview_id'], ['previews.id'], name=op.f('fk_change_sets_preview_id_previews'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_change_sets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_sets')),
    sa.UniqueConstraint('preview_id', name=op.f('uq_change_sets_preview_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('notifications',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('preview_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('dedupe_key', sa.String(length=191), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', store.types.UTCDateTime(), nullable=True),
    sa.Column('message_id', sa.String(length=128), nullable=True),
    sa.Column('last_error_code', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('sent_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('card', 'card_update', 'text')", name=op.f('ck_notifications_kind')),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'skipped', 'deferred')", name=op.f('ck_notifications_status')),
    sa.ForeignKeyConstraint(['preview_id'], ['previews.id'], name=op.f('fk_notifications_preview_id_previews'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_index(op.f('ix_notifications_status_next_attempt_at'), 'notifications', ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    # Dropping a table drops its indexes; dropping them first would fail on MySQL for FK-backing indexes.
    op.drop_table('notifications')
    op.drop_table('change_sets')
    op.drop_table('previews')
    op.drop_table('jobs')
    op.drop_table('triggers')
    op.drop_table('blocks')
    op.drop_table('tasks')
    op.drop_table('fixed_events')
    op.drop_table('day_extensions')
    op.drop_table('users')
    op.drop_table('outbox')
    op.drop_table('inbox')
    op.drop_table('audit_log')
