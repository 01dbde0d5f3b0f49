"""scanner_accounts.scan_mode (auto | push | poll) and the push state the scanner shows

Revision ID: b3f1c7d2e9a4
Revises: 7c1e2a9d4b30
Create Date: 2026-11-27 09:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b3f1c7d2e9a4'
down_revision = '7c1e2a9d4b30'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scanner_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scan_mode', sa.String(length=8), server_default='auto',
                                      nullable=False))
        batch_op.add_column(sa.Column('push_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('push_note', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('scanner_accounts', schema=None) as batch_op:
        batch_op.drop_column('push_note')
        batch_op.drop_column('push_state')
        batch_op.drop_column('scan_mode')
