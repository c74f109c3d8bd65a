"""proctor console: authorization requests, violations and their catalogue, sitting states (P1-P16)

Revision ID: a7d4e2c9b8f1
Revises: f3b9d2a7c5e1
Create Date: 2026-12-03 13:17:48.645559
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7d4e2c9b8f1'
down_revision = 'f3b9d2a7c5e1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('violation_codes',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('text', sa.String(length=300), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_violation_codes'))
    )
    op.create_table('auth_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.Integer(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('candidates_hash', sa.String(length=64), nullable=False),
    sa.Column('parameter', sa.Integer(), nullable=False),
    sa.Column('request_code', sa.String(length=12), nullable=False),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('valid_until', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.String(length=255), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('approved_by', sa.String(length=255), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_auth_requests_room_id_rooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'], name=op.f('fk_auth_requests_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_requests')),
    sa.UniqueConstraint('request_code', name=op.f('uq_auth_requests_request_code'))
    )
    with op.batch_alter_table('auth_requests', schema=None) as batch_op:
        batch_op.create_index('ix_auth_requests_room_id_action_status', ['room_id', 'action', 'status'], unique=False)

    op.create_table('violations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('sitting_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('code_text', sa.String(length=300), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('registered_by', sa.String(length=255), nullable=False),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_by', sa.String(length=255), nullable=False),
    sa.Column('cancel_reason', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_violations_attempt_id_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sitting_id'], ['sittings.id'], name=op.f('fk_violations_sitting_id_sittings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_violations'))
    )
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violations_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_violations_sitting_id'), ['sitting_id'], unique=False)

    with op.batch_alter_table('sittings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('console_entered_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('staff', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('login_allowed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('start_allowed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ended_by', sa.String(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('backed_up_at', sa.DateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sittings', schema=None) as batch_op:
        batch_op.drop_column('backed_up_at')
        batch_op.drop_column('ended_by')
        batch_op.drop_column('start_allowed_at')
        batch_op.drop_column('login_allowed_at')
        batch_op.drop_column('staff')
        batch_op.drop_column('console_entered_at')

    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violations_sitting_id'))
        batch_op.drop_index(batch_op.f('ix_violations_attempt_id'))

    op.drop_table('violations')
    with op.batch_alter_table('auth_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_requests_room_id_action_status')

    op.drop_table('auth_requests')
    op.drop_table('violation_codes')
