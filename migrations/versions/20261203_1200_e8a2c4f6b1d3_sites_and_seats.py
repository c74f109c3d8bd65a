"""sites and seats: exam sites (code, mode) and the seat plan of each room (V1, V2)

Rooms get a capacity (candidates per session). Existing seated kiosks become seats of their
room with the kiosk's address and computer name, so the seat plan starts as the kiosks are.

Revision ID: e8a2c4f6b1d3
Revises: d7f3b1c9a2e4
Create Date: 2026-12-03 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'e8a2c4f6b1d3'
down_revision = 'd7f3b1c9a2e4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sites',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('code', name=op.f('uq_sites_code'))
    )
    op.create_table('seats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('kiosk_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['kiosk_id'], ['kiosks.id'], name=op.f('fk_seats_kiosk_id_kiosks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_seats_room_id_rooms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seats')),
    sa.UniqueConstraint('kiosk_id', name=op.f('uq_seats_kiosk_id')),
    sa.UniqueConstraint('room_id', 'number', name=op.f('uq_seats_room_id_number'))
    )
    with op.batch_alter_table('seats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seats_room_id'), ['room_id'], unique=False)
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('capacity', sa.Integer(), nullable=False, server_default='0'))
    op.execute(
        "INSERT INTO seats (site_id, room_id, number, address, hostname, note, kiosk_id, created_at) "
        "SELECT site_id, room_id, seat, last_address, hostname, '', id, created_at FROM kiosks "
        "WHERE status = 'seated' AND seat IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.drop_column('capacity')
    with op.batch_alter_table('seats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seats_room_id'))
    op.drop_table('seats')
    op.drop_table('sites')
