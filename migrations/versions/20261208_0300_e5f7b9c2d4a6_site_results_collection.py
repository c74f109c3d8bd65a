"""site results collection: a room's results collected at its site from the room's exported file

Revision ID: e5f7b9c2d4a6
Revises: d2e6a8f4b1c3
Create Date: 2026-12-08 03:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'e5f7b9c2d4a6'
down_revision = 'd2e6a8f4b1c3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sittings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('collected_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('collected_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('collected_data', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sittings', schema=None) as batch_op:
        batch_op.drop_column('collected_data')
        batch_op.drop_column('collected_hash')
        batch_op.drop_column('collected_at')
