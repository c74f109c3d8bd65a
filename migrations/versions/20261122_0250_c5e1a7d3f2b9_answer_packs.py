"""answer packs: the bridge's pack key and the record of imported packs (issue 4, K5, P6)

Revision ID: c5e1a7d3f2b9
Revises: 4b73bee0a083
Create Date: 2026-11-22 02:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c5e1a7d3f2b9'
down_revision = '4b73bee0a083'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pack_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('private_sealed', sa.Text(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_pack_keys_key_id'))
    )
    op.create_table('pack_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('kiosk_id', sa.Integer(), nullable=True),
    sa.Column('device_key', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicate', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('flagged', sa.Integer(), nullable=False),
    sa.Column('messages', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_pack_imports_attempt_id_attempts'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_imports')),
    sa.UniqueConstraint('sha256', name=op.f('uq_pack_imports_sha256'))
    )
    with op.batch_alter_table('pack_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pack_imports_attempt_id'), ['attempt_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pack_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pack_imports_attempt_id'))
    op.drop_table('pack_imports')
    op.drop_table('pack_keys')
