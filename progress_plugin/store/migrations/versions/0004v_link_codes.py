"""link_codes: one-time codes of the CDS card's link, and the panel sessions they open

Revision ID: 0004v
Revises: 0004u
"""
from alembic import op
import sqlalchemy as sa

revision = "0004v"
down_revision = "0004u"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("clinic_id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_link_codes")),
    )
    op.create_index("ix_link_codes_expires", "link_codes", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_codes_expires", table_name="link_codes")
    op.drop_table("link_codes")
