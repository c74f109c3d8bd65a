"""staff grants: site admins bound to sites, proctors to a room (for a day) or a sitting,
authorities to the sites whose codes they issue

Revision ID: f3b9c6d1e8a2
Revises: e1f4a7c2d9b3
Create Date: 2026-12-07 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'f3b9c6d1e8a2'
down_revision = 'e1f4a7c2d9b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=True),
        sa.Column('room_id', sa.Integer(), nullable=True),
        sa.Column('sitting_id', sa.Integer(), nullable=True),
        sa.Column('valid_on', sa.Date(), nullable=True),
        sa.Column('station_only', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_staff_grants_room_id_rooms'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sitting_id'], ['sittings.id'], name=op.f('fk_staff_grants_sitting_id_sittings'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_grants_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_grants')),
    )
    with op.batch_alter_table('staff_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_grants_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_grants_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_grants_user_id'))
        batch_op.drop_index(batch_op.f('ix_staff_grants_site_id'))
    op.drop_table('staff_grants')
