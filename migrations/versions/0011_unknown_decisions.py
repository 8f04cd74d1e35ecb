"""decisions on `unknown` subscribe messages: a region admin resends one (a new message linked
back by `resend_of_id`, at most one a message) or closes it as not resent; who and when.

Revision ID: 4c7e1b93a0d2
Revises: aa681845b14f
Create Date: 2026-12-07 19:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = '4c7e1b93a0d2'
down_revision = 'aa681845b14f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message') as batch_op:
        batch_op.add_column(sa.Column('decision', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('decided_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resend_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_outbox_message_decided_by_id_app_user', 'app_user', ['decided_by_id'], ['id'])
        batch_op.create_foreign_key('fk_outbox_message_resend_of_id_outbox_message', 'outbox_message',
                                    ['resend_of_id'], ['id'])
        batch_op.create_unique_constraint('uq_outbox_message_resend_of_id', ['resend_of_id'])


def downgrade():
    with op.batch_alter_table('outbox_message') as batch_op:
        batch_op.drop_constraint('uq_outbox_message_resend_of_id', type_='unique')
        batch_op.drop_constraint('fk_outbox_message_resend_of_id_outbox_message', type_='foreignkey')
        batch_op.drop_constraint('fk_outbox_message_decided_by_id_app_user', type_='foreignkey')
        batch_op.drop_column('resend_of_id')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decided_by_id')
        batch_op.drop_column('decision')
