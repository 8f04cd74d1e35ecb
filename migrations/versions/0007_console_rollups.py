"""console roll-ups: per-station monthly figures and categories (the dashboard reads a province's
year as 13,000 × 12 rows), an index of issues by submission time (the queue of a region, newest
first, and the days outside whole months), and a partial index of the issues whose clock runs.

Revision ID: 3b7e5d21c9f4
Revises: 8d41c0e2b7a9
Create Date: 2026-11-27 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '3b7e5d21c9f4'
down_revision = '8d41c0e2b7a9'
branch_labels = None
depends_on = None

FIGURES = ("received", "accepted", "rejected", "pending_review", "replied", "resolved", "closed", "ratings",
           "satisfied", "basically_satisfied", "unsatisfied", "open_issues", "overdue", "check_ins",
           "duty_assigned", "duty_attended", "residents_received")
CLOCKED = "status IN ('submitted', 'accepted', 'transferred')"


def upgrade():
    op.create_table(
        'station_month_figures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['station_id'], ['station.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'month'),
    )
    op.create_index('ix_station_month_figures_month', 'station_month_figures', ['month'])
    op.create_table(
        'station_month_category',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=False),
        sa.Column('received', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['category_id'], ['category.id']),
        sa.ForeignKeyConstraint(['station_id'], ['station.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'month', 'category_id'),
    )
    op.create_index('ix_station_month_category_month', 'station_month_category', ['month'])
    op.create_index('ix_issue_created', 'issue', ['created_at', 'id'])
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        # Index-only counts of a scope's running clocks (the dashboard's 三色督办).
        op.execute(f"CREATE INDEX ix_issue_clocked ON issue (station_id) INCLUDE (status, accept_due_on, "
                   f"reply_due_on, first_response_at) WHERE {CLOCKED}")
    else:
        op.create_index('ix_issue_clocked', 'issue', ['station_id'], sqlite_where=sa.text(CLOCKED))
    _backfill(postgres)


def _backfill(postgres: bool):
    """The months of the day rows already rolled up, and their categories."""
    month = "CAST(date_trunc('month', day) AS date)" if postgres else "date(day, 'start of month')"
    columns = ", ".join(FIGURES)
    sums = ", ".join(f"SUM({name})" for name in FIGURES)
    op.execute(f"INSERT INTO station_month_figures (station_id, month, {columns}, computed_at) "
               f"SELECT station_id, {month}, {sums}, MAX(computed_at) FROM station_day_figures "
               f"GROUP BY station_id, {month}")
    created = ("CAST(date_trunc('month', created_at AT TIME ZONE 'Asia/Shanghai') AS date)" if postgres
               else "date(created_at, '+8 hours', 'start of month')")
    op.execute(f"INSERT INTO station_month_category (station_id, month, category_id, received) "
               f"SELECT station_id, {created}, category_id, COUNT(id) FROM issue "
               f"WHERE {created} IN (SELECT month FROM station_month_figures) "
               f"GROUP BY station_id, {created}, category_id")


def downgrade():
    op.drop_index('ix_issue_clocked', table_name='issue')
    op.drop_index('ix_issue_created', table_name='issue')
    op.drop_index('ix_station_month_category_month', table_name='station_month_category')
    op.drop_table('station_month_category')
    op.drop_index('ix_station_month_figures_month', table_name='station_month_figures')
    op.drop_table('station_month_figures')
