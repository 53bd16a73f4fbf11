"""client_versions: a token per client that changes with every write to what its panel shows

The progress panel is a pure function of a client's state: a rendered panel is kept and
answered ``304 Not Modified`` by this token (with the clinic's vocabulary version, the day,
the audience and the language), so a repeated request reads one row, not the whole history.

Revision ID: 0012p
Revises: 0011r
"""
from alembic import op
import sqlalchemy as sa

revision = "0012p"
down_revision = "0011r"
branch_labels = None
depends_on = None

ID = sa.String(length=128)


def upgrade() -> None:
    op.create_table(
        "client_versions",
        sa.Column("clinic_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", "client_id", name="pk_client_versions"),
    )


def downgrade() -> None:
    op.drop_table("client_versions")
