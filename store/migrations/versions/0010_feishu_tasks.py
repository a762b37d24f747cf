"""Tasks synced from Feishu Tasks: the Feishu task's guid (one task per guid and user), when it was last read,
and the title and deadline it had then (so a field edited here since the last sync is not overwritten); on
each connection, when its last sync was claimed (so several workers sync each user once per interval).

Revision ID: 0010
Revises: 0009

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import store.types


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ('feishu_task_guid', 'feishu_synced_at', 'feishu_title', 'feishu_deadline')


def upgrade() -> None:
    # Added columns and an index only: SQLite adds them in place (the table is not rebuilt, so the rows
    # that reference tasks are never touched).
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('feishu_task_guid', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('feishu_synced_at', store.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('feishu_title', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('feishu_deadline', store.types.UTCDateTime(), nullable=True))
    op.create_index(
        op.f('ix_tasks_user_id_feishu_task_guid'), 'tasks', ['user_id', 'feishu_task_guid'], unique=True
    )
    with op.batch_alter_table('calendar_connections') as batch:
        batch.add_column(sa.Column('tasks_synced_at', store.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_index(op.f('ix_tasks_user_id_feishu_task_guid'), table_name='tasks')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite (3.35+) drops a column in place; a batch rebuild would drop the table, and with foreign keys
        # on that deletes the jobs, blocks and previews that reference it.
        op.execute('ALTER TABLE calendar_connections DROP COLUMN tasks_synced_at')
        for name in COLUMNS:
            op.execute(f'ALTER TABLE tasks DROP COLUMN {name}')
        return
    with op.batch_alter_table('calendar_connections') as batch:
        batch.drop_column('tasks_synced_at')
    with op.batch_alter_table('tasks') as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
