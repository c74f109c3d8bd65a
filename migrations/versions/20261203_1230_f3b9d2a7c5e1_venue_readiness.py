"""venue readiness: env check runs, sittings, station registrations, sealing checks (V3-V8)

Sessions lose their unused ``room_id``: a session's rooms are its sittings now, and each
sitting carries the exam authorization of its site. Sessions get their number (场次号) for
admission numbers; session candidates their room, sequence (序号), seat and admission
number; exams their environment requirements.

Revision ID: f3b9d2a7c5e1
Revises: e8a2c4f6b1d3
Create Date: 2026-12-03 13:01:12.387454
"""
from alembic import op
import sqlalchemy as sa


revision = 'f3b9d2a7c5e1'
down_revision = 'e8a2c4f6b1d3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('station_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('code_sealed', sa.String(length=200), nullable=False),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('valid_until', sa.DateTime(), nullable=False),
    sa.Column('registered_address', sa.String(length=64), nullable=True),
    sa.Column('registered_at', sa.DateTime(), nullable=True),
    sa.Column('station_token_hash', sa.String(length=64), nullable=True),
    sa.Column('station_seen_at', sa.DateTime(), nullable=True),
    sa.Column('restored_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_station_registrations_room_id_rooms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_registrations')),
    sa.UniqueConstraint('station_token_hash', name=op.f('uq_station_registrations_station_token_hash'))
    )
    with op.batch_alter_table('station_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_registrations_room_id'), ['room_id'], unique=False)

    op.create_table('env_check_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('exam_id', sa.Integer(), nullable=True),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('requirements', sa.JSON(), nullable=False),
    sa.Column('started_by', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_env_check_runs_exam_id_exams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_env_check_runs_room_id_rooms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_env_check_runs'))
    )
    with op.batch_alter_table('env_check_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_env_check_runs_room_id'), ['room_id'], unique=False)

    op.create_table('sealing_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('checked_by', sa.String(length=255), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_sealing_checks_room_id_rooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'], name=op.f('fk_sealing_checks_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sealing_checks'))
    )
    with op.batch_alter_table('sealing_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sealing_checks_site_id'), ['site_id'], unique=False)

    op.create_table('sittings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('seat_order', sa.String(length=10), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('data_hash', sa.String(length=64), nullable=True),
    sa.Column('data_built_at', sa.DateTime(), nullable=True),
    sa.Column('release_at', sa.DateTime(), nullable=True),
    sa.Column('data_loaded_at', sa.DateTime(), nullable=True),
    sa.Column('data_loaded_hash', sa.String(length=64), nullable=True),
    sa.Column('authorized_at', sa.DateTime(), nullable=True),
    sa.Column('authorized_by', sa.String(length=255), nullable=False),
    sa.Column('authorization_method', sa.String(length=10), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_sittings_room_id_rooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'], name=op.f('fk_sittings_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sittings')),
    sa.UniqueConstraint('session_id', 'room_id', name=op.f('uq_sittings_session_id_room_id'))
    )
    with op.batch_alter_table('sittings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sittings_room_id'), ['room_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sittings_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sittings_site_id'), ['site_id'], unique=False)

    op.create_table('env_check_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seat_number', sa.Integer(), nullable=False),
    sa.Column('kiosk_id', sa.Integer(), nullable=True),
    sa.Column('command_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['command_id'], ['kiosk_commands.id'], name=op.f('fk_env_check_results_command_id_kiosk_commands'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['kiosk_id'], ['kiosks.id'], name=op.f('fk_env_check_results_kiosk_id_kiosks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['env_check_runs.id'], name=op.f('fk_env_check_results_run_id_env_check_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_env_check_results')),
    sa.UniqueConstraint('run_id', 'seat_number', name=op.f('uq_env_check_results_run_id_seat_number'))
    )
    with op.batch_alter_table('env_check_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_env_check_results_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.Integer(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_exam_sessions_room_id'))
        batch_op.drop_constraint(batch_op.f('fk_exam_sessions_room_id_rooms'), type_='foreignkey')
        batch_op.drop_column('room_id')

    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('env_requirements', sa.JSON(), nullable=True))

    with op.batch_alter_table('session_candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('room_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('seat_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('admission_number', sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_session_candidates_exam_id_admission_number'), ['exam_id', 'admission_number'])
        batch_op.create_foreign_key(batch_op.f('fk_session_candidates_room_id_rooms'), 'rooms', ['room_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('session_candidates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_session_candidates_room_id_rooms'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_session_candidates_exam_id_admission_number'), type_='unique')
        batch_op.drop_column('admission_number')
        batch_op.drop_column('seat_number')
        batch_op.drop_column('sequence')
        batch_op.drop_column('room_id')

    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.drop_column('env_requirements')

    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('room_id', sa.INTEGER(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_exam_sessions_room_id_rooms'), 'rooms', ['room_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_exam_sessions_room_id'), ['room_id'], unique=False)
        batch_op.drop_column('number')

    with op.batch_alter_table('env_check_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_env_check_results_run_id'))

    op.drop_table('env_check_results')
    with op.batch_alter_table('sittings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sittings_site_id'))
        batch_op.drop_index(batch_op.f('ix_sittings_session_id'))
        batch_op.drop_index(batch_op.f('ix_sittings_room_id'))

    op.drop_table('sittings')
    with op.batch_alter_table('sealing_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sealing_checks_site_id'))

    op.drop_table('sealing_checks')
    with op.batch_alter_table('env_check_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_env_check_runs_room_id'))

    op.drop_table('env_check_runs')
    with op.batch_alter_table('station_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_registrations_room_id'))

    op.drop_table('station_registrations')
