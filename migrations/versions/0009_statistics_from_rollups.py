"""statistics from the roll-ups: `first_response_hours` on the figure rows (the numerator of
avg_first_response_hours, summable where an average is not), filled in for the rows already
there; `rolled_up_day`, the dates the roll-ups computed whole, filled in from the day rows;
indexes of check-ins and duty by date alone (a day at every station, as the roll-ups and
today's live count read them), and of ratings by time (a day's issues' ratings).

Revision ID: 9a41c6e2b8d5
Revises: 5c2e8f1a7d30
Create Date: 2026-11-27 14:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '9a41c6e2b8d5'
down_revision = '5c2e8f1a7d30'
branch_labels = None
depends_on = None

# The hours of one station's issues received on one Beijing day (Beijing has had no daylight
# saving since 1991, so +8 hours is its offset for every stored date).
_DAY_HOURS = {
    'postgresql': """
        UPDATE station_day_figures AS f SET first_response_hours = COALESCE((
            SELECT sum(extract(epoch FROM i.first_response_at - i.created_at) / 3600.0) FROM issue AS i
            WHERE i.station_id = f.station_id AND i.first_response_at IS NOT NULL
              AND i.created_at >= (f.day::timestamp AT TIME ZONE 'Asia/Shanghai')
              AND i.created_at < ((f.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')), 0)""",
    'sqlite': """
        UPDATE station_day_figures SET first_response_hours = COALESCE((
            SELECT sum((julianday(i.first_response_at) - julianday(i.created_at)) * 24.0) FROM issue AS i
            WHERE i.station_id = station_day_figures.station_id AND i.first_response_at IS NOT NULL
              AND date(i.created_at, '+8 hours') = station_day_figures.day), 0)""",
}
_MONTH_HOURS = {
    'postgresql': """
        UPDATE station_month_figures AS m SET first_response_hours = COALESCE((
            SELECT sum(d.first_response_hours) FROM station_day_figures AS d
            WHERE d.station_id = m.station_id AND d.day >= m.month
              AND d.day < (m.month + interval '1 month')::date), 0)""",
    'sqlite': """
        UPDATE station_month_figures SET first_response_hours = COALESCE((
            SELECT sum(d.first_response_hours) FROM station_day_figures AS d
            WHERE d.station_id = station_month_figures.station_id AND d.day >= station_month_figures.month
              AND d.day < date(station_month_figures.month, '+1 month')), 0)""",
}


def upgrade():
    for table in ('station_day_figures', 'station_month_figures'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('first_response_hours', sa.Float(), nullable=False, server_default='0'))
        with op.batch_alter_table(table) as batch:
            batch.alter_column('first_response_hours', server_default=None)
    op.create_table(
        'rolled_up_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )
    op.create_index('ix_check_in_date', 'check_in', ['on_date'])
    op.create_index('ix_duty_assignment_date', 'duty_assignment', ['duty_date'])
    op.create_index('ix_rating_created', 'rating', ['created_at'])
    dialect = op.get_bind().dialect.name
    op.execute(_DAY_HOURS[dialect])
    op.execute(_MONTH_HOURS[dialect])
    # A day rolled up before this revision is known by its rows; a day on which no station had
    # anything has none and will be counted live, which finds the same nothing.
    op.execute("INSERT INTO rolled_up_day (day, computed_at) "
               "SELECT day, max(computed_at) FROM station_day_figures GROUP BY day")


def downgrade():
    op.drop_index('ix_rating_created', table_name='rating')
    op.drop_index('ix_duty_assignment_date', table_name='duty_assignment')
    op.drop_index('ix_check_in_date', table_name='check_in')
    op.drop_table('rolled_up_day')
    for table in ('station_month_figures', 'station_day_figures'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('first_response_hours')
