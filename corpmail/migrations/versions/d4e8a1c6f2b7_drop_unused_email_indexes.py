"""emails: drop the from_address and date indexes, which no query uses

The e-mail lists sort on coalesce(date, created_at) and search with LIKE '%...%': neither
can use these indexes (EXPLAIN QUERY PLAN), yet each stored message wrote a leaf of each,
~13% of the scanner's WAL pages per message (bench notes in issue 4).

Revision ID: d4e8a1c6f2b7
Revises: b3f1c7d2e9a4
Create Date: 2026-11-27 15:40:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd4e8a1c6f2b7'
down_revision = 'b3f1c7d2e9a4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emails_from_address'))
        batch_op.drop_index(batch_op.f('ix_emails_date'))


def downgrade():
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emails_date'), ['date'], unique=False)
        batch_op.create_index(batch_op.f('ix_emails_from_address'), ['from_address'], unique=False)
