"""console_sessions: the admin console's sign-in sessions, the service's keys, a token's last use

- ``console_sessions``: one row per signed-in browser. The cookie holds a random session id;
  the row holds only its SHA-256, the token it was opened with (so revoking the token ends the
  session), when it started, when it was last used and when it ends whatever happens.
- ``service_keys``: random keys the service makes once and every process shares (the console's
  form-signing key), so several gunicorn workers and machines on one store agree on them.
- ``tokens.last_used_at``: when a token last opened the API or the console (kept to the hour).

Revision ID: 0008c
Revises: 0007l
"""
from alembic import op
import sqlalchemy as sa

revision = "0008c"
down_revision = "0007l"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_console_sessions")),
    )
    op.create_index("ix_console_sessions_expires", "console_sessions", ["expires_at"], unique=False)
    op.create_index("ix_console_sessions_token", "console_sessions", ["token_id"], unique=False)
    op.create_table(
        "service_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_keys")),
    )
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("last_used_at")
    op.drop_table("service_keys")
    op.drop_index("ix_console_sessions_token", table_name="console_sessions")
    op.drop_index("ix_console_sessions_expires", table_name="console_sessions")
    op.drop_table("console_sessions")
