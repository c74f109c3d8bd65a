"""gradebook column: where an exam's line item came from, and each resource link's own line item

Revision ID: c2d7e9a4f6b8
Revises: b5c8e1f2a9d4
Create Date: 2026-12-07 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c2d7e9a4f6b8'
down_revision = 'b5c8e1f2a9d4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lineitem_source', sa.String(length=20), nullable=True))
    with op.batch_alter_table('resource_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lineitem_url', sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('resource_links', schema=None) as batch_op:
        batch_op.drop_column('lineitem_url')
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.drop_column('lineitem_source')
