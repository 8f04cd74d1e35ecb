"""duty and attendance: days moved or cancelled, rosters, leave, check-ins, reception records,
the points ledger and its editable rules (seeded with the usual county defaults)

Revision ID: c2ae249beb7e
Revises: 544d81b310ff
Create Date: 2026-11-23 15:22:58.790036

"""
import sqlalchemy as sa
from alembic import op

revision = 'c2ae249beb7e'
down_revision = '544d81b310ff'
branch_labels = None
depends_on = None

POINTS_RULES = [
    ("attended_duty", "按排班进站履职", 2),
    ("extra_visit", "排班外进站", 1),
    ("answered_on_time", "按期答复意见建议", 1),
    ("satisfied_rating", "群众评价满意", 1),
    ("missed_duty", "排班未到且未请假", -1),
]


def upgrade():
    op.create_table('points_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_rule')),
    sa.UniqueConstraint('code', name=op.f('uq_points_rule_code'))
    )
    op.create_table('deputy_leave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_deputy_leave_created_by_id_app_user')),
    sa.ForeignKeyConstraint(['deputy_id'], ['deputy.id'], name=op.f('fk_deputy_leave_deputy_id_deputy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deputy_leave'))
    )
    with op.batch_alter_table('deputy_leave', schema=None) as batch_op:
        batch_op.create_index('ix_deputy_leave_deputy_dates', ['deputy_id', 'starts_on', 'ends_on'], unique=False)

    op.create_table('points_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('rule_code', sa.String(length=32), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('cause_type', sa.String(length=24), nullable=False),
    sa.Column('cause_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deputy_id'], ['deputy.id'], name=op.f('fk_points_entry_deputy_id_deputy')),
    sa.ForeignKeyConstraint(['reverses_id'], ['points_entry.id'], name=op.f('fk_points_entry_reverses_id_points_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_entry'))
    )
    with op.batch_alter_table('points_entry', schema=None) as batch_op:
        batch_op.create_index('ix_points_entry_cause', ['cause_type', 'cause_id'], unique=False)
        batch_op.create_index('ix_points_entry_deputy_year', ['deputy_id', 'year'], unique=False)

    op.create_table('check_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('is_far', sa.Boolean(), nullable=False),
    sa.Column('on_reception_day', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['deputy_id'], ['deputy.id'], name=op.f('fk_check_in_deputy_id_deputy')),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_check_in_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_in')),
    sa.UniqueConstraint('deputy_id', 'station_id', 'on_date', name=op.f('uq_check_in_deputy_id'))
    )
    with op.batch_alter_table('check_in', schema=None) as batch_op:
        batch_op.create_index('ix_check_in_station_date', ['station_id', 'on_date'], unique=False)

    op.create_table('duty_roster',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', name='rosterstatus', native_enum=False, length=16), nullable=False),
    sa.Column('deputies_per_day', sa.Integer(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['published_by_id'], ['app_user.id'], name=op.f('fk_duty_roster_published_by_id_app_user')),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_duty_roster_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_roster')),
    sa.UniqueConstraint('station_id', 'month', name=op.f('uq_duty_roster_station_id'))
    )
    op.create_table('reception_day_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('rule_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.Enum('moved', 'cancelled', name='daychangekind', native_enum=False, length=16), nullable=False),
    sa.Column('moved_to', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['changed_by_id'], ['app_user.id'], name=op.f('fk_reception_day_change_changed_by_id_app_user')),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_reception_day_change_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reception_day_change')),
    sa.UniqueConstraint('station_id', 'rule_date', name=op.f('uq_reception_day_change_station_id'))
    )
    op.create_table('duty_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roster_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('duty_date', sa.Date(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=False),
    sa.Column('replaces_deputy_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deputy_id'], ['deputy.id'], name=op.f('fk_duty_assignment_deputy_id_deputy')),
    sa.ForeignKeyConstraint(['replaces_deputy_id'], ['deputy.id'], name=op.f('fk_duty_assignment_replaces_deputy_id_deputy')),
    sa.ForeignKeyConstraint(['roster_id'], ['duty_roster.id'], name=op.f('fk_duty_assignment_roster_id_duty_roster')),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_duty_assignment_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_assignment')),
    sa.UniqueConstraint('station_id', 'duty_date', 'deputy_id', name=op.f('uq_duty_assignment_station_id'))
    )
    with op.batch_alter_table('duty_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_duty_assignment_deputy_date', ['deputy_id', 'duty_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_assignment_roster_id'), ['roster_id'], unique=False)

    op.create_table('reception_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('residents', sa.Integer(), nullable=False),
    sa.Column('topics', sa.Text(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deputy_id'], ['deputy.id'], name=op.f('fk_reception_record_deputy_id_deputy')),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('fk_reception_record_issue_id_issue')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['app_user.id'], name=op.f('fk_reception_record_recorded_by_id_app_user')),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_reception_record_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reception_record'))
    )
    with op.batch_alter_table('reception_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reception_record_deputy_id'), ['deputy_id'], unique=False)
        batch_op.create_index('ix_reception_record_station_date', ['station_id', 'on_date'], unique=False)
    points_rule = sa.table("points_rule", sa.column("code", sa.String), sa.column("label", sa.String),
                           sa.column("points", sa.Integer), sa.column("is_active", sa.Boolean))
    # Staff edit these; the defaults are what counties commonly publish (履职积分细则).
    op.bulk_insert(points_rule, [
        {"code": code, "label": label, "points": points, "is_active": True}
        for code, label, points in POINTS_RULES
    ])


def downgrade():
    with op.batch_alter_table('reception_record', schema=None) as batch_op:
        batch_op.drop_index('ix_reception_record_station_date')
        batch_op.drop_index(batch_op.f('ix_reception_record_deputy_id'))

    op.drop_table('reception_record')
    with op.batch_alter_table('duty_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_assignment_roster_id'))
        batch_op.drop_index('ix_duty_assignment_deputy_date')

    op.drop_table('duty_assignment')
    op.drop_table('reception_day_change')
    op.drop_table('duty_roster')
    with op.batch_alter_table('check_in', schema=None) as batch_op:
        batch_op.drop_index('ix_check_in_station_date')

    op.drop_table('check_in')
    with op.batch_alter_table('points_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_points_entry_deputy_year')
        batch_op.drop_index('ix_points_entry_cause')

    op.drop_table('points_entry')
    with op.batch_alter_table('deputy_leave', schema=None) as batch_op:
        batch_op.drop_index('ix_deputy_leave_deputy_dates')

    op.drop_table('deputy_leave')
    op.drop_table('points_rule')
