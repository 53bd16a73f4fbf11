"""rating_origin: where each rating was given, in the session or by the client's own check-in

Every stored rating was given in a session: it keeps its value, goal, rater and session, and
gets the origin "session".

Revision ID: 0005g
Revises: 0004v
"""
from alembic import op
import sqlalchemy as sa

revision = "0005g"
down_revision = "0004v"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=10), nullable=False, server_default="session"))


def downgrade() -> None:
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("origin")
