"""payment orders: one per registration and provider, paid only by the provider's signed word

Revision ID: b7e3d5a9c1f2
Revises: a4c8e2f1b7d9
Create Date: 2026-12-08 00:00:41
"""
from alembic import op
import sqlalchemy as sa


revision = 'b7e3d5a9c1f2'
down_revision = 'a4c8e2f1b7d9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.Column('notifications', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_payment_orders_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_orders')),
    sa.UniqueConstraint('out_trade_no', name=op.f('uq_payment_orders_out_trade_no'))
    )
    with op.batch_alter_table('payment_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_orders_registration_id'), ['registration_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_orders_registration_id'))

    op.drop_table('payment_orders')
