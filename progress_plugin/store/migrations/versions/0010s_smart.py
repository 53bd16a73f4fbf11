"""smart: SMART App Launch authorizations and sessions, and the outbox's target

- ``smart_requests``: an authorization in flight, from the launch to the callback. The ``state``
  sent to the EHR is random; the row holds only its SHA-256, the EHR it was sent to, the PKCE
  code verifier (encrypted), the page to open afterwards, and when it was used (once only).
- ``smart_sessions``: a browser that finished a launch. The cookie holds a random id; the row
  holds its SHA-256, the EHR and clinic, the launch context (patient, encounter, fhirUser,
  fhirContext: ids only), the scopes granted, and the tokens, encrypted, never in the clear.
- ``outbox.target``: where a row is written. None: the configured host, sent by the worker;
  ``smart:<ehr>``: a SMART EHR, sent with a launch's token, so the worker leaves it alone.

Revision ID: 0010s
Revises: 0009k
"""
from alembic import op
import sqlalchemy as sa

revision = "0010s"
down_revision = "0009k"
branch_labels = None
depends_on = None

ID = sa.String(length=128)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "smart_requests",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("ehr_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_smart_requests"),
    )
    op.create_index("ix_smart_requests_expires", "smart_requests", ["expires_at"])
    op.create_table(
        "smart_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("ehr_id", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", ID, nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.String(length=2000), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("token_expires_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_smart_sessions"),
    )
    op.create_index("ix_smart_sessions_expires", "smart_sessions", ["expires_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("target", sa.String(length=100), nullable=True))
        batch.create_index("ix_outbox_target", ["target", "status"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_target")
        batch.drop_column("target")
    op.drop_index("ix_smart_sessions_expires", table_name="smart_sessions")
    op.drop_table("smart_sessions")
    op.drop_index("ix_smart_requests_expires", table_name="smart_requests")
    op.drop_table("smart_requests")
