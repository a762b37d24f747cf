"""Send limits shared by every process on the database: one row per slot of each limit's bucket (the app,
each recipient, free/busy reads), taken with a lease and freed a window after the call ends.

Revision ID: 0007
Revises: 0006

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import store.types


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MYSQL = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4', 'mysql_collate': 'utf8mb4_bin'}


def upgrade() -> None:
    op.create_table(
        'send_slots',
        sa.Column('bucket', sa.String(length=200), nullable=False),
        sa.Column('slot', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('free_at', store.types.UTCDateTime(), nullable=False),
        sa.Column('holder', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('bucket', 'slot', name=op.f('pk_send_slots')),
        **MYSQL,
    )
    op.create_index(op.f('ix_send_slots_bucket_free_at'), 'send_slots', ['bucket', 'free_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_send_slots_bucket_free_at'), table_name='send_slots')
    op.drop_table('send_slots')
