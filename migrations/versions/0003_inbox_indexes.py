"""inbox indexes: issues newest first per station, addressed deputy and assigned deputy

The deputy inbox (backend/services/issues/inbox.py) walks each of these backwards and stops after one
page, instead of sorting every issue a deputy can see.

Revision ID: 544d81b310ff
Revises: 92b9d98f975b
Create Date: 2026-11-23 12:50:39.999674
"""
from alembic import op

revision = "544d81b310ff"
down_revision = "92b9d98f975b"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_issue_station_created": ["station_id", "created_at", "id"],
    "ix_issue_addressed_created": ["addressed_deputy_id", "created_at", "id"],
    "ix_issue_assigned_created": ["assigned_deputy_id", "created_at", "id"],
}


def upgrade():
    with op.batch_alter_table("issue", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table("issue", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
