"""checkins: the client's own check-in links, their sessions, and session checks

- ``checkin_links``: a link a therapist gives one client. The link holds a random token; the row
  holds only its SHA-256, the client it is bound to, when it expires and whether it was revoked.
- ``checkin_sessions``: a browser that opened a link; the cookie holds a random id, the row its SHA-256.
- ``session_checks``: the client's check on a session (four items, each 0-10 or skipped) and whether
  they asked to look at progress again, one row per check-in. It is never added to the goals.
  The check-in's goal ratings go in ``ratings`` with origin ``self``.

Revision ID: 0009k
Revises: 0008c
"""
from alembic import op
import sqlalchemy as sa

revision = "0009k"
down_revision = "0008c"
branch_labels = None
depends_on = None

ID = sa.String(length=128)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkin_links",
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("link_id", name="pk_checkin_links"),
        sa.UniqueConstraint("key", name="uq_checkin_links_key"),
    )
    op.create_index("ix_checkin_links_client", "checkin_links", ["clinic_id", "client_id"])
    op.create_table(
        "checkin_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_checkin_sessions"),
    )
    op.create_index("ix_checkin_sessions_expires", "checkin_sessions", ["expires_at"])
    op.create_table(
        "session_checks",
        sa.Column("clinic_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("checkin_id", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("heard", sa.Integer(), nullable=True),
        sa.Column("mattered", sa.Integer(), nullable=True),
        sa.Column("fits", sa.Integer(), nullable=True),
        sa.Column("overall", sa.Integer(), nullable=True),
        sa.Column("revisit", sa.Boolean(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("clinic_id", "client_id", "checkin_id", name="pk_session_checks"),
    )


def downgrade() -> None:
    op.drop_table("session_checks")
    op.drop_index("ix_checkin_sessions_expires", table_name="checkin_sessions")
    op.drop_table("checkin_sessions")
    op.drop_index("ix_checkin_links_client", table_name="checkin_links")
    op.drop_table("checkin_links")
