"""users.session_version: logout ends every copy of a session cookie

Revision ID: 7c1e2a9d4b30
Revises: 234231d4fc91
Create Date: 2026-11-27 08:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '7c1e2a9d4b30'
down_revision = '234231d4fc91'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
