"""outbox.client_id: the client each queued write-back is about, so purge matches by equality

Revision ID: 0004u
Revises: 0004p

Rows queued before this revision get their client from the payload (the resource's
``Patient/<id>`` subject, or the tagged note's owner) or, for rows already sent (their payload
is cleared), from the idempotency key in the formats ``effects.py`` wrote them in. A key that
could name more than one known client is left without one.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0004u"
down_revision = "0004p"
branch_labels = None
depends_on = None

_outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("clinic_id", sa.String),
                   sa.column("client_id", sa.String), sa.column("key", sa.String), sa.column("payload", sa.JSON))
_notes = sa.table("notes", sa.column("clinic_id", sa.String), sa.column("note_id", sa.String),
                  sa.column("client_id", sa.String))
_intakes = sa.table("intakes", sa.column("clinic_id", sa.String), sa.column("client_id", sa.String),
                    sa.column("intake_id", sa.String))
_by_client = [sa.table(name, sa.column("clinic_id", sa.String), sa.column("client_id", sa.String))
              for name in ("intakes", "goals", "ratings", "notes")]


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("client_id", sa.String(length=128), nullable=True))
        batch.create_index("ix_outbox_client", ["clinic_id", "client_id"], unique=False)
    backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_client")
        batch.drop_column("client_id")


def backfill(conn) -> int:
    """Set ``client_id`` on every row whose client can be told for sure. Returns how many."""
    rows = conn.execute(sa.select(_outbox.c.id, _outbox.c.clinic_id, _outbox.c.key, _outbox.c.payload)
                        .where(_outbox.c.client_id.is_(None))).all()
    if not rows:
        return 0
    known: set[tuple[str, str]] = set()
    for table in _by_client:
        known.update(tuple(r) for r in conn.execute(sa.select(table.c.clinic_id, table.c.client_id).distinct()))
    owners = {(r.clinic_id, r.note_id): r.client_id for r in conn.execute(
        sa.select(_notes.c.clinic_id, _notes.c.note_id, _notes.c.client_id))}
    intake_ids = {(r.clinic_id, r.client_id): r.intake_id for r in conn.execute(
        sa.select(_intakes.c.clinic_id, _intakes.c.client_id, _intakes.c.intake_id))}
    updates = []
    for row in rows:
        client = client_of_row(row.clinic_id, row.key, row.payload or {}, known, owners, intake_ids)
        if client is not None:
            updates.append({"row_id": row.id, "client": client})
    if updates:
        conn.execute(_outbox.update().where(_outbox.c.id == sa.bindparam("row_id"))
                     .values(client_id=sa.bindparam("client")), updates)
    return len(updates)


def client_of_row(clinic: str, key: str, payload: dict, known: set, owners: dict, intake_ids: dict) -> str | None:
    """The client of one queued write-back, or None for the clinic's own rows and unclear keys."""
    resource = payload.get("resource") if isinstance(payload, dict) else None
    if isinstance(resource, dict) and resource.get("resourceType") not in ("Questionnaire", "CodeSystem", "ValueSet"):
        reference = (resource.get("subject") or {}).get("reference") or ""
        if reference.startswith("Patient/") and len(reference) > len("Patient/"):
            return reference[len("Patient/"):]
    if isinstance(payload, dict) and payload.get("type") == "DocumentReference" and payload.get("id"):
        return owners.get((clinic, payload["id"]))
    kind, _, rest = key.partition("/")
    prefix = clinic + "/"
    if kind not in ("intake", "goal", "rating", "review", "tags") or not rest.startswith(prefix):
        return None
    rest = rest[len(prefix):]
    if kind == "tags":                 # tags/{clinic}/{note}/{code@version,...}: codes hold no "/"
        return owners.get((clinic, rest.rpartition("/")[0]))
    if kind == "goal":                 # goal/{clinic}/{client}/{goal}/{status}/{achievement}
        return rest.rsplit("/", 3)[0] if rest.count("/") >= 3 else None
    if kind == "review":               # review/{clinic}/{client}/{isoformat}
        return rest.rpartition("/")[0] or None
    candidates = [cid for cid in _prefixes(rest) if (clinic, cid) in known]
    if kind == "intake":               # intake/{clinic}/{client}/{intake id}
        exact = [cid for cid in candidates if intake_ids.get((clinic, cid)) == rest[len(cid) + 1:]]
        if len(exact) == 1:
            return exact[0]
        if rest.count("/") == 1:
            return rest.partition("/")[0]
    if kind == "rating":               # rating/{clinic}/{client}/{goal}/{source}/{rater}/{value}/{level}
        head = rest.rsplit("/", 3)[0] if rest.count("/") >= 5 else ""
        if head.count("/") == 2:
            return head.partition("/")[0]
        candidates = [cid for cid in candidates if head.startswith(cid + "/") and head.count("/") - cid.count("/") >= 2]
    return candidates[0] if len(candidates) == 1 else None


def _prefixes(rest: str):
    """Every leading part of ``rest`` that ends before a ``/``."""
    at = rest.find("/")
    while at > 0:
        yield rest[:at]
        at = rest.find("/", at + 1)
