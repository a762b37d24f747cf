"""A per-user schedule version (and the one each preview was planned on); why a job was skipped or canceled; card presses recorded with what was
pressed and a lease, so an unfinished press is finished after a restart.

Revision ID: 0003
Revises: 0002

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import store.types


revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('schedule_version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('previews') as batch:
        batch.add_column(sa.Column('schedule_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('reason', sa.String(length=32), nullable=True))
    with op.batch_alter_table('inbox') as batch:
        batch.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('claimed_until', store.types.UTCDateTime(), nullable=True))
    op.create_index(
        op.f('ix_inbox_kind_status_claimed_until'), 'inbox', ['kind', 'status', 'claimed_until'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_inbox_kind_status_claimed_until'), table_name='inbox')
    with op.batch_alter_table('inbox') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('claimed_by')
        batch.drop_column('payload')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('reason')
    with op.batch_alter_table('previews') as batch:
        batch.drop_column('schedule_version')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('schedule_version')
