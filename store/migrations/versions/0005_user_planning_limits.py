"""Planning limits a user sets with /prefs: the buffer after meetings, how many existing blocks may move a
day, the most work planned in a day, how much longer a day may get, and whether late work past midnight is
allowed.

Revision ID: 0005
Revises: 0004

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('buffer_minutes', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('max_moves_per_day', sa.Integer(), nullable=False, server_default='2'))
        batch.add_column(sa.Column('max_planned_minutes', sa.Integer(), nullable=False, server_default='480'))
        batch.add_column(sa.Column('max_extension_minutes', sa.Integer(), nullable=False, server_default='90'))
        batch.add_column(sa.Column('late_work', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('late_work')
        batch.drop_column('max_extension_minutes')
        batch.drop_column('max_planned_minutes')
        batch.drop_column('max_moves_per_day')
        batch.drop_column('buffer_minutes')
