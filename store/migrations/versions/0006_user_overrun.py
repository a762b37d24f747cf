"""What "unfinished" reports teach: a per-user overrun factor (1.0-2.0) that scales new estimates, and
whether the user lets it (/prefs learn on|off).

Revision ID: 0006
Revises: 0005

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('overrun_factor', sa.Float(), nullable=False, server_default='1'))
        batch.add_column(sa.Column('learn_overrun', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('learn_overrun')
        batch.drop_column('overrun_factor')
