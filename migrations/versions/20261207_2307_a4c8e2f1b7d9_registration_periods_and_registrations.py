"""registration: periods (考次) with their sites and offered subjects, candidate accounts,
registrations with their subjects and photo

Revision ID: a4c8e2f1b7d9
Revises: f3b9c6d1e8a2
Create Date: 2026-12-07 23:07:25
"""
from alembic import op
import sqlalchemy as sa


revision = 'a4c8e2f1b7d9'
down_revision = 'f3b9c6d1e8a2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registration_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=False),
    sa.Column('closes_at', sa.DateTime(), nullable=False),
    sa.Column('subject_limit', sa.Integer(), nullable=False),
    sa.Column('onsite_confirmation', sa.Boolean(), nullable=False),
    sa.Column('payment_hours', sa.Integer(), nullable=False),
    sa.Column('form_print_from', sa.DateTime(), nullable=True),
    sa.Column('form_print_until', sa.DateTime(), nullable=True),
    sa.Column('ticket_print_from', sa.DateTime(), nullable=True),
    sa.Column('ticket_print_until', sa.DateTime(), nullable=True),
    sa.Column('agreement', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_periods'))
    )
    op.create_table('registration_period_sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('reviews', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['registration_periods.id'], name=op.f('fk_registration_period_sites_period_id_registration_periods'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_registration_period_sites_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_period_sites')),
    sa.UniqueConstraint('period_id', 'site_id', name=op.f('uq_registration_period_sites_period_id_site_id'))
    )
    with op.batch_alter_table('registration_period_sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_period_sites_site_id'), ['site_id'], unique=False)

    op.create_table('candidate_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('password_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_candidate_accounts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidate_accounts')),
    sa.UniqueConstraint('email', name=op.f('uq_candidate_accounts_email')),
    sa.UniqueConstraint('user_id', name=op.f('uq_candidate_accounts_user_id'))
    )
    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('agreed_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('reviewed_by', sa.String(length=255), nullable=True),
    sa.Column('reject_reason', sa.String(length=500), nullable=False),
    sa.Column('pay_by', sa.DateTime(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('gender', sa.String(length=10), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('id_type', sa.String(length=20), nullable=False),
    sa.Column('id_sealed', sa.Text(), nullable=False),
    sa.Column('id_digest', sa.String(length=64), nullable=False),
    sa.Column('id_masked', sa.String(length=40), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['registration_periods.id'], name=op.f('fk_registrations_period_id_registration_periods'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_registrations_site_id_sites'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_registrations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('period_id', 'user_id', name=op.f('uq_registrations_period_id_user_id'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_id_digest'), ['id_digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_period_id'), ['period_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_user_id'), ['user_id'], unique=False)

    op.create_table('registration_photos',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('jpeg', sa.LargeBinary(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_photos_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registration_id', name=op.f('pk_registration_photos'))
    )
    op.create_table('registration_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('exam_id', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('fee_cents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_registration_offers_exam_id_exams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['period_id'], ['registration_periods.id'], name=op.f('fk_registration_offers_period_id_registration_periods'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_registration_offers_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_offers')),
    sa.UniqueConstraint('period_id', 'site_id', 'exam_id', name=op.f('uq_registration_offers_period_id_site_id_exam_id'))
    )
    with op.batch_alter_table('registration_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_offers_site_id'), ['site_id'], unique=False)

    op.create_table('registration_subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['registration_offers.id'], name=op.f('fk_registration_subjects_offer_id_registration_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_subjects_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_subjects')),
    sa.UniqueConstraint('registration_id', 'offer_id', name=op.f('uq_registration_subjects_registration_id_offer_id'))
    )
    with op.batch_alter_table('registration_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_subjects_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_subjects_registration_id'), ['registration_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('registration_subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_subjects_registration_id'))
        batch_op.drop_index(batch_op.f('ix_registration_subjects_offer_id'))

    op.drop_table('registration_subjects')
    with op.batch_alter_table('registration_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_offers_site_id'))

    op.drop_table('registration_offers')
    op.drop_table('registration_photos')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_user_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_site_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_period_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_id_digest'))

    op.drop_table('registrations')
    op.drop_table('candidate_accounts')
    with op.batch_alter_table('registration_period_sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_period_sites_site_id'))

    op.drop_table('registration_period_sites')
    op.drop_table('registration_periods')
