"""console sessions and throttles: `console_session`, one row per signed-in console session
(signing out ends it on the server); `throttle_hit`, attempts the rate limits count without
Redis (wrong invite codes, wx-logins, follows); `login_attempt` by address and time (password
spraying: one address failing on many usernames).

Revision ID: aa681845b14f
Revises: 9a41c6e2b8d5
Create Date: 2026-12-07 19:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'aa681845b14f'
down_revision = '9a41c6e2b8d5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'console_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sid_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_reason', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sid_hash'),
    )
    op.create_index('ix_console_session_user_id', 'console_session', ['user_id'])
    op.create_table(
        'throttle_hit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('bucket', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_throttle_hit_bucket_key_at', 'throttle_hit', ['bucket', 'key', 'at'])
    op.create_index('ix_login_attempt_remote_addr_at', 'login_attempt', ['remote_addr', 'attempted_at'])


def downgrade():
    op.drop_index('ix_login_attempt_remote_addr_at', table_name='login_attempt')
    op.drop_index('ix_throttle_hit_bucket_key_at', table_name='throttle_hit')
    op.drop_table('throttle_hit')
    op.drop_index('ix_console_session_user_id', table_name='console_session')
    op.drop_table('console_session')
