"""rooms and kiosks: rooms with a kiosk enrolment code, kiosks, their commands and reports;
exam_sessions.room_id (issue 4)

Revision ID: 4b73bee0a083
Revises: 7551079d7a50
Create Date: 2026-11-22 02:44:40.400159
"""
from alembic import op
import sqlalchemy as sa


revision = '4b73bee0a083'
down_revision = '7551079d7a50'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kiosk_enrolment_hash', sa.String(length=64), nullable=False),
    sa.Column('kiosk_enrolment_sealed', sa.String(length=200), nullable=False),
    sa.Column('kiosk_enrolment_rotated_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rooms')),
    sa.UniqueConstraint('code', name=op.f('uq_rooms_code'))
    )
    op.create_table('kiosks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('agent_version', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('seat', sa.Integer(), nullable=True),
    sa.Column('last_address', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('agent_status', sa.String(length=20), nullable=False),
    sa.Column('candidate', sa.String(length=100), nullable=True),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('env_check', sa.JSON(), nullable=True),
    sa.Column('env_checked_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_kiosks_attempt_id_attempts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_kiosks_room_id_rooms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosks')),
    sa.UniqueConstraint('public_key', name=op.f('uq_kiosks_public_key'))
    )
    with op.batch_alter_table('kiosks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kiosks_room_id'), ['room_id'], unique=False)

    op.create_table('kiosk_commands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kiosk_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('issued_by', sa.String(length=255), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['kiosk_id'], ['kiosks.id'], name=op.f('fk_kiosk_commands_kiosk_id_kiosks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosk_commands'))
    )
    with op.batch_alter_table('kiosk_commands', schema=None) as batch_op:
        batch_op.create_index('ix_kiosk_commands_kiosk_id_status', ['kiosk_id', 'status'], unique=False)

    op.create_table('kiosk_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kiosk_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['kiosk_id'], ['kiosks.id'], name=op.f('fk_kiosk_reports_kiosk_id_kiosks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosk_reports'))
    )
    with op.batch_alter_table('kiosk_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kiosk_reports_kiosk_id'), ['kiosk_id'], unique=False)

    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('room_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_exam_sessions_room_id'), ['room_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_exam_sessions_room_id_rooms'), 'rooms', ['room_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_exam_sessions_room_id_rooms'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_exam_sessions_room_id'))
        batch_op.drop_column('room_id')

    with op.batch_alter_table('kiosk_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kiosk_reports_kiosk_id'))

    op.drop_table('kiosk_reports')
    with op.batch_alter_table('kiosk_commands', schema=None) as batch_op:
        batch_op.drop_index('ix_kiosk_commands_kiosk_id_status')

    op.drop_table('kiosk_commands')
    with op.batch_alter_table('kiosks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kiosks_room_id'))

    op.drop_table('kiosks')
    op.drop_table('rooms')
