"""registration retention: when an exam's scores were last released, and when a
registration's personal data was purged

Revision ID: d2e6a8f4b1c3
Revises: c9d1e4f7a3b6
Create Date: 2026-12-08 02:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd2e6a8f4b1c3'
down_revision = 'c9d1e4f7a3b6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('papers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scores_released_at', sa.DateTime(), nullable=True))
    # released before this column existed: count from now (later, never earlier, than the truth)
    op.execute(sa.text("UPDATE papers SET scores_released_at = CURRENT_TIMESTAMP WHERE scores_released"))
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
    with op.batch_alter_table('papers', schema=None) as batch_op:
        batch_op.drop_column('scores_released_at')
