"""audit and privacy: the append-only audit log (审计日志), guarded by triggers on both engines;
`app_user.deleted_at` for residents who asked for their personal data to be deleted; deputies'
phones encrypted at rest (existing numbers are encrypted here, with the app's data key).

Revision ID: 5c2e8f1a7d30
Revises: 3b7e5d21c9f4
Create Date: 2026-11-27 11:00:00

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

from models.privacy.audit import GUARD_POSTGRESQL, GUARD_SQLITE

revision = '5c2e8f1a7d30'
down_revision = '3b7e5d21c9f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_user_id', sa.Integer(), nullable=True),
        sa.Column('actor_role', sa.String(length=24), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target_type', sa.String(length=24), nullable=True),
        sa.Column('target_id', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.Integer(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('remote_addr', sa.String(length=64), nullable=True),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_actor_at', 'audit_log', ['actor_user_id', 'at'])
    op.create_index('ix_audit_log_target', 'audit_log', ['target_type', 'target_id'])
    guard = GUARD_POSTGRESQL if op.get_bind().dialect.name == 'postgresql' else GUARD_SQLITE
    for statement in guard:
        op.execute(statement)
    with op.batch_alter_table('app_user') as batch:
        batch.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('deputy') as batch:
        batch.alter_column('phone', type_=sa.String(length=255), existing_type=sa.String(length=32))
    _rewrite_phones(current_app.extensions["data_cipher"].encrypt)


def downgrade():
    _rewrite_phones(current_app.extensions["data_cipher"].decrypt)
    with op.batch_alter_table('deputy') as batch:
        batch.alter_column('phone', type_=sa.String(length=32), existing_type=sa.String(length=255))
    with op.batch_alter_table('app_user') as batch:
        batch.drop_column('deleted_at')
    op.drop_table('audit_log')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS audit_log_append_only()')


def _rewrite_phones(convert):
    bind = op.get_bind()
    deputy = sa.table('deputy', sa.column('id', sa.Integer()), sa.column('phone', sa.String()))
    rows = bind.execute(sa.select(deputy.c.id, deputy.c.phone).where(deputy.c.phone.is_not(None))).all()
    for row in rows:
        bind.execute(deputy.update().where(deputy.c.id == row.id).values(phone=convert(row.phone)))
