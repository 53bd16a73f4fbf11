"""goal_history: a redefined goal is a new goal; the old one ends "replaced by" it

Adds to goals the goal a redefinition replaced (``replaces``), the goal that replaced it
(``replaced_by``) and when a replacing goal began (``since``). Stored goals keep every value;
the new columns stay empty for them (none was replaced before).

Revision ID: 0006h
Revises: 0005g
"""
from alembic import op
import sqlalchemy as sa

revision = "0006h"
down_revision = "0005g"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("goals") as batch:
        batch.add_column(sa.Column("replaces", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("replaced_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("goals") as batch:
        batch.drop_column("since")
        batch.drop_column("replaced_by")
        batch.drop_column("replaces")
