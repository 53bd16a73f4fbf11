"""claims on inbox and outbox rows: leases that ran out with no outcome (poison rows)

Revision ID: 0004p
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004p"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("inbox", "outbox")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))
    # Until now a deferral counted as an attempt; from here on `attempts` counts failures only.
    op.execute(sa.text("UPDATE inbox SET attempts = 0 WHERE status = 'pending'"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claims")
