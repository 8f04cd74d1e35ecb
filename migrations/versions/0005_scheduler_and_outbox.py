"""scheduler and outbox: subscribe-message grants and their events, the outbox (one row per
recipient, template and cause), the scheduler's lease report and job runs, per-station daily
roll-ups. APScheduler keeps no tables of its own here (its jobs are in code, its state in ours).

Revision ID: 6f03baaa4dec
Revises: c2ae249beb7e
Create Date: 2026-11-27 00:07:55.718952

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '6f03baaa4dec'
down_revision = 'c2ae249beb7e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=48), nullable=False),
    sa.Column('run_for', sa.String(length=32), nullable=True),
    sa.Column('runner', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_run'))
    )
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.create_index('ix_job_run_job_started_at', ['job', 'started_at'], unique=False)

    op.create_table('scheduler_lease',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_lease'))
    )
    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=32), nullable=False),
    sa.Column('cause', sa.String(length=96), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=True),
    sa.Column('page', sa.String(length=128), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sending', 'sent', 'no_grant', 'deferred', 'failed', 'unknown', 'skipped', name='outboxstate', native_enum=False, length=16), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_errcode', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('wechat_msgid', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['app_user.id'], name=op.f('fk_outbox_message_recipient_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('recipient_id', 'template', 'cause', name=op.f('uq_outbox_message_recipient_id'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_due', ['not_before', 'id'], unique=False,
                              postgresql_where=sa.text("state IN ('pending', 'deferred')"),
                              sqlite_where=sa.text("state IN ('pending', 'deferred')"))
        batch_op.create_index('ix_outbox_message_state_claimed_at', ['state', 'claimed_at'], unique=False)
        batch_op.create_index('ix_outbox_message_wechat_msgid', ['wechat_msgid'], unique=False)

    op.create_table('subscription_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('openid', sa.String(length=64), nullable=True),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_subscription_event_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_event'))
    )
    with op.batch_alter_table('subscription_event', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_event_user_id_created_at', ['user_id', 'created_at'], unique=False)

    op.create_table('subscription_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('available', sa.Integer(), nullable=False),
    sa.Column('accepted_total', sa.Integer(), nullable=False),
    sa.Column('used_total', sa.Integer(), nullable=False),
    sa.Column('last_status', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_subscription_grant_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_grant')),
    sa.UniqueConstraint('user_id', 'template_id', name=op.f('uq_subscription_grant_user_id'))
    )
    op.create_table('station_day_figures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('pending_review', sa.Integer(), nullable=False),
    sa.Column('replied', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Integer(), nullable=False),
    sa.Column('basically_satisfied', sa.Integer(), nullable=False),
    sa.Column('unsatisfied', sa.Integer(), nullable=False),
    sa.Column('open_issues', sa.Integer(), nullable=False),
    sa.Column('overdue', sa.Integer(), nullable=False),
    sa.Column('check_ins', sa.Integer(), nullable=False),
    sa.Column('duty_assigned', sa.Integer(), nullable=False),
    sa.Column('duty_attended', sa.Integer(), nullable=False),
    sa.Column('residents_received', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_station_day_figures_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_day_figures')),
    sa.UniqueConstraint('station_id', 'day', name=op.f('uq_station_day_figures_station_id'))
    )
    with op.batch_alter_table('station_day_figures', schema=None) as batch_op:
        batch_op.create_index('ix_station_day_figures_day', ['day'], unique=False)



def downgrade():
    with op.batch_alter_table('station_day_figures', schema=None) as batch_op:
        batch_op.drop_index('ix_station_day_figures_day')

    op.drop_table('station_day_figures')
    op.drop_table('subscription_grant')
    with op.batch_alter_table('subscription_event', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_event_user_id_created_at')

    op.drop_table('subscription_event')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_wechat_msgid')
        batch_op.drop_index('ix_outbox_message_state_claimed_at')
        batch_op.drop_index('ix_outbox_message_due')

    op.drop_table('outbox_message')
    op.drop_table('scheduler_lease')
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('ix_job_run_job_started_at')

    op.drop_table('job_run')
