"""answer heads: each writer's highest seq and chain head per attempt

Autosave batches read and move a writer's chain head here instead of scanning the event
stream (issue 3, Performance). Existing streams are backfilled: the head is the hash of the
writer's most recently accepted event (highest id), max_seq its highest seq.

Revision ID: c4e1a9d2f7b3
Revises: c5e1a7d3f2b9
Create Date: 2026-11-22 03:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c4e1a9d2f7b3'
down_revision = 'c5e1a7d3f2b9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('answer_heads',
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('writer', sa.String(length=64), nullable=False),
    sa.Column('max_seq', sa.Integer(), nullable=False),
    sa.Column('head', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_answer_heads_attempt_id_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('attempt_id', 'writer', name=op.f('pk_answer_heads'))
    )
    op.execute(
        "INSERT INTO answer_heads (attempt_id, writer, max_seq, head) "
        "SELECT e.attempt_id, e.writer, m.max_seq, e.hash FROM answer_events e JOIN "
        "(SELECT attempt_id, writer, max(seq) AS max_seq, max(id) AS max_id FROM answer_events "
        "GROUP BY attempt_id, writer) m ON e.id = m.max_id"
    )


def downgrade() -> None:
    op.drop_table('answer_heads')
