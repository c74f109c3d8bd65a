"""kiosk attempts: the kiosk bound to each (attempt, epoch) by its first forwarded events

The forward token is bound to (attempt, epoch) and the first kiosk that forwards with it
(review M2); pack import checks the binding (review H1). Starts empty: kiosks bind again
when they next forward.

Revision ID: d7f3b1c9a2e4
Revises: c4e1a9d2f7b3
Create Date: 2026-11-22 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd7f3b1c9a2e4'
down_revision = 'c4e1a9d2f7b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kiosk_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('kiosk_id', sa.Integer(), nullable=False),
    sa.Column('bound_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_kiosk_attempts_attempt_id_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['kiosk_id'], ['kiosks.id'], name=op.f('fk_kiosk_attempts_kiosk_id_kiosks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosk_attempts')),
    sa.UniqueConstraint('attempt_id', 'epoch', name=op.f('uq_kiosk_attempts_attempt_id_epoch'))
    )
    with op.batch_alter_table('kiosk_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kiosk_attempts_kiosk_id'), ['kiosk_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kiosk_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kiosk_attempts_kiosk_id'))
    op.drop_table('kiosk_attempts')
