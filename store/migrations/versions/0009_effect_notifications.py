"""Calls to Feishu that a committed change asks for (write a calendar event, complete a task) go through the
notifications table like cards (retried, never lost, done once): the `effect` notification kind.

Revision ID: 0009
Revises: 0008

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_KINDS = "kind IN ('card', 'card_update', 'text', 'answer')"
NEW_KINDS = "kind IN ('card', 'card_update', 'text', 'answer', 'effect')"


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_constraint(op.f('ck_notifications_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_notifications_kind'), sa.text(NEW_KINDS))


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'effect'")
    with op.batch_alter_table('notifications') as batch:
        batch.drop_constraint(op.f('ck_notifications_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_notifications_kind'), sa.text(OLD_KINDS))
