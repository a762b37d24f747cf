"""What a user's answers teach: an overrun factor (1.0-2.0) from "unfinished" reports that scales new
estimates, the local hours of the options they applied (preferred hours), and whether the user lets the
planner use them (/prefs learn on|off).

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
        batch.add_column(sa.Column('accepted_hours', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('accepted_hours')
        batch.drop_column('learn_overrun')
        batch.drop_column('overrun_factor')
