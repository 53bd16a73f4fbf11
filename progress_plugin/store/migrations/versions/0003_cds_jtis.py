"""cds_jtis: the replay cache of CDS Hooks JWT ids

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_jtis",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_cds_jtis")),
    )
    op.create_index("ix_cds_jtis_expires", "cds_jtis", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cds_jtis_expires", table_name="cds_jtis")
    op.drop_table("cds_jtis")
