"""Triggers remember the blocks an ambiguous feedback may mean; indexes on blocks by task and on triggers
by status and update time.

Revision ID: 0002
Revises: 0001

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('triggers') as batch:
        batch.add_column(sa.Column('choices', sa.JSON(), nullable=True))
    op.create_index(op.f('ix_blocks_task_id'), 'blocks', ['task_id'], unique=False)
    op.create_index(op.f('ix_triggers_status_updated_at'), 'triggers', ['status', 'updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_triggers_status_updated_at'), table_name='triggers')
    if op.get_bind().dialect.name == 'mysql':
        # MySQL keeps the index as the one the foreign key needs: drop the key, then put it back (which
        # recreates its own implicit index), as 0001 left it.
        op.drop_constraint(op.f('fk_blocks_task_id_tasks'), 'blocks', type_='foreignkey')
        op.drop_index(op.f('ix_blocks_task_id'), table_name='blocks')
        op.create_foreign_key(
            op.f('fk_blocks_task_id_tasks'), 'blocks', 'tasks', ['task_id'], ['id'], ondelete='CASCADE'
        )
    else:
        op.drop_index(op.f('ix_blocks_task_id'), table_name='blocks')
    with op.batch_alter_table('triggers') as batch:
        batch.drop_column('choices')
