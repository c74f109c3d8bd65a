"""site address: printed on the admission tickets of registered candidates

Revision ID: c9d1e4f7a3b6
Revises: b7e3d5a9c1f2
Create Date: 2026-12-08 02:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c9d1e4f7a3b6'
down_revision = 'b7e3d5a9c1f2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('address')
