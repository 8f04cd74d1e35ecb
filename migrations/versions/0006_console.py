"""console: the station an outbox message is about, so staff see their stations' messages.

Revision ID: 8d41c0e2b7a9
Revises: 6f03baaa4dec
Create Date: 2026-11-27 08:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '8d41c0e2b7a9'
down_revision = '6f03baaa4dec'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('station_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_outbox_message_station_id_id', ['station_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_station_id_id')
        batch_op.drop_column('station_id')
