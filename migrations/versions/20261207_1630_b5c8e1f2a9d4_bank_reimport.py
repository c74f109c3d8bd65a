"""bank re-import: questions keep Moodle's ID number; import reports are stored (a reload shows them)

Revision ID: b5c8e1f2a9d4
Revises: a7d4e2c9b8f1
Create Date: 2026-12-07 16:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'b5c8e1f2a9d4'
down_revision = 'a7d4e2c9b8f1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_import_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('duplicates', sa.String(length=10), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_bank_import_reports_course_id_courses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bank_import_reports_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_import_reports'))
    )
    with op.batch_alter_table('bank_import_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_import_reports_course_id'), ['course_id'], unique=False)
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idnumber', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_questions_idnumber'), ['idnumber'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_questions_idnumber'))
        batch_op.drop_column('idnumber')
    with op.batch_alter_table('bank_import_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_import_reports_course_id'))
    op.drop_table('bank_import_reports')
