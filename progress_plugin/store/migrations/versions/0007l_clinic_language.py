"""clinic_language: each clinic has a default language

Adds to clinics the language its people read by default (``en``, ``hi``, ...): pages and
answers without ``?lang=`` or ``Accept-Language``, hooks called without a ``locale``, CDS
cards, and the language a vocabulary's other translations fall back to. Existing clinics
stay without one, which means English, as before.

Revision ID: 0007l
Revises: 0006h
"""
from alembic import op
import sqlalchemy as sa

revision = "0007l"
down_revision = "0006h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("language")
