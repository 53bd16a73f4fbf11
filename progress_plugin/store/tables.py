"""The store's tables (SQLAlchemy Core). There is no column for note text anywhere."""
from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table,
                        Text, UniqueConstraint)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
})

ID = String(128)
TS = DateTime(timezone=True)
#: 64-bit on PostgreSQL (the inbox, the outbox and counters outgrow 32 bits); SQLite's INTEGER is 64-bit already.
BIG = BigInteger().with_variant(Integer, "sqlite")

clinics = Table(
    "clinics", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("language", String(16)),                  # the clinic's default language; None: English
)

vocabulary_versions = Table(
    "vocabulary_versions", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tags", JSON, nullable=False),            # the whole vocabulary at this version
    Column("created_at", TS, nullable=False),
    Column("created_by", ID, nullable=False),
    Column("change", String(200), nullable=False),   # e.g. "add step-forward", "import"
)

intakes = Table(
    "intakes", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("client_id", ID, primary_key=True),
    Column("intake_id", ID, nullable=False),
    Column("definition_version", String(20), nullable=False),
    Column("review_cadence", String(40), nullable=False),
    Column("review_date", DateTime(timezone=True)),
    Column("agreed", Boolean, nullable=False),
    Column("agreed_on", TS, nullable=False),
    Column("goals_reviewed", Boolean, nullable=False),
    Column("answers", JSON, nullable=False),          # section answers (client's words: PHI)
    Column("author", ID, nullable=False),
    Column("submitted_at", TS, nullable=False),
)

goals = Table(
    "goals", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("client_id", ID, primary_key=True),
    Column("goal_id", String(64), primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("words", Text, nullable=False),            # the client's own words (PHI)
    Column("whose", String(20), nullable=False),
    Column("baseline", Integer, nullable=False),
    Column("gas_levels", JSON),                       # no longer written or read: GAS left the
    Column("weight", Integer),                        # intake in 2.0.0; kept for older rows
    Column("status", String(20), nullable=False),     # active | completed | dropped | replaced
    Column("replaces", String(64)),                   # a redefinition: the goal this one replaced
    Column("replaced_by", String(64)),                # set when status is "replaced"
    Column("since", TS),                              # when a replacing goal began
    Column("updated_at", TS, nullable=False),
)

notes = Table(
    "notes", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("note_id", ID, primary_key=True),
    Column("client_id", ID, nullable=False),
    Column("session_at", TS, nullable=False),
    Column("author", ID, nullable=False),
    Column("signed", Boolean, nullable=False),
    Column("recorded_at", TS, nullable=False),
    Index("ix_notes_client", "clinic_id", "client_id", "session_at"),
)

note_tags = Table(
    "note_tags", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("note_id", ID, primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("vocabulary_version", Integer, nullable=False),
    Column("goal_ids", JSON, nullable=False),
)

ratings = Table(
    "ratings", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("client_id", ID, primary_key=True),
    Column("goal_id", String(64), primary_key=True),
    Column("source", ID, primary_key=True),           # note id, or "baseline"
    Column("rater", String(20), primary_key=True),
    Column("value", Integer),
    Column("level", Integer),
    Column("rated_at", TS, nullable=False),
    Column("origin", String(10), nullable=False, server_default="session"),  # "session" or "self" (check-in)
)

tokens = Table(
    "tokens", metadata,
    Column("token_id", String(32), primary_key=True),  # public part of the token
    Column("clinic_id", ID, nullable=False),
    Column("role", String(20), nullable=False),        # admin | viewer
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("last_used_at", TS),                        # the last use by the API or the console, to the hour
)

inbox = Table(
    "inbox", metadata,
    Column("id", BIG, primary_key=True, autoincrement=True),
    Column("clinic_id", ID, nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("payload", JSON, nullable=False),           # ids and codes only; never note text
    Column("received_at", TS, nullable=False),
    Column("status", String(20), nullable=False),      # pending | done | failed
    Column("attempts", Integer, nullable=False, default=0),   # failed attempts (a deferral is not one)
    Column("claims", Integer, nullable=False, default=0, server_default="0"),  # leases with no outcome yet
    Column("lease_owner", String(100)),                # a worker, or "deferred" (lease_until: not before)
    Column("lease_until", TS),
    Column("processed_at", TS),
    Column("error", String(500)),                      # an error code, or why the row waits (ids only)
    UniqueConstraint("clinic_id", "event_id", name="uq_inbox_event"),
    Index("ix_inbox_status", "status", "id"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", BIG, primary_key=True, autoincrement=True),
    Column("clinic_id", ID, nullable=False),
    Column("key", String(400), nullable=False),        # idempotency key of the effect
    Column("client_id", ID),                           # the client it is about; none for the clinic's own
    Column("kind", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),      # pending | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("claims", Integer, nullable=False, default=0, server_default="0"),  # leases with no outcome yet
    Column("next_attempt_at", TS, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", TS),
    Column("last_error", String(500)),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("target", String(100)),                     # None: the configured host; "smart:<ehr>": a SMART EHR
    UniqueConstraint("clinic_id", "key", name="uq_outbox_key"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_client", "clinic_id", "client_id"),
    Index("ix_outbox_target", "target", "status"),
)

counters = Table(
    "counters", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("name", String(100), primary_key=True),     # e.g. "unknown-event:foo", "subscription:<id>"
    Column("value", BIG, nullable=False),
    Column("updated_at", TS, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("clinic_id", ID, nullable=False),
    Column("actor", ID, nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(300), nullable=False),    # ids and codes, never content
    Column("outcome", String(40), nullable=False),
    Column("old_version", Integer),
    Column("new_version", Integer),
    Index("ix_audit_clinic", "clinic_id", "at"),
)

checkpoints = Table(
    "checkpoints", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("name", String(100), primary_key=True),     # e.g. "backfill"
    Column("value", Text, nullable=False),             # e.g. the next page URL
    Column("done", Integer, nullable=False),           # items processed so far
    Column("updated_at", TS, nullable=False),
)

cds_jtis = Table(
    "cds_jtis", metadata,
    Column("key", String(64), primary_key=True),       # sha256 hex of the issuer and the JWT's jti
    Column("expires_at", TS, nullable=False),          # forgotten after this
    Index("ix_cds_jtis_expires", "expires_at"),
)

link_codes = Table(
    "link_codes", metadata,
    Column("key", String(64), primary_key=True),       # HMAC-SHA256 hex of the code or session id; never the value
    Column("kind", String(10), nullable=False),        # code (single use, in the card's link) | session (cookie)
    Column("clinic_id", ID, nullable=False),
    Column("client_id", ID, nullable=False),
    Column("user_id", ID, nullable=False),             # the chart viewer the EHR named
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS),                             # a code's first (and only) use
    Index("ix_link_codes_expires", "expires_at"),
)

console_sessions = Table(
    "console_sessions", metadata,
    Column("key", String(64), primary_key=True),       # SHA-256 hex of the session id in the cookie; never the id
    Column("token_id", String(32), nullable=False),    # the token signed in with: revoking it ends the session
    Column("clinic_id", ID, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("seen_at", TS, nullable=False),             # the last request (to the minute): the idle limit
    Column("expires_at", TS, nullable=False),          # the absolute end
    Index("ix_console_sessions_expires", "expires_at"),
    Index("ix_console_sessions_token", "token_id"),
)

service_keys = Table(
    "service_keys", metadata,
    Column("name", String(64), primary_key=True),      # e.g. "console": what the key signs
    Column("value", String(128), nullable=False),      # random, made once, shared by every process
    Column("created_at", TS, nullable=False),
)

checkin_links = Table(
    "checkin_links", metadata,
    Column("link_id", String(32), primary_key=True),   # public id, for listing and revoking; never in the link
    Column("key", String(64), nullable=False, unique=True),   # SHA-256 hex of the link's random token; never the token
    Column("clinic_id", ID, nullable=False),
    Column("client_id", ID, nullable=False),
    Column("created_by", ID, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("used_at", TS),                             # the last time it was opened
    Index("ix_checkin_links_client", "clinic_id", "client_id"),
)

checkin_sessions = Table(
    "checkin_sessions", metadata,
    Column("key", String(64), primary_key=True),       # SHA-256 hex of the session id in the cookie; never the id
    Column("link_id", String(32), nullable=False),     # revoking the link ends the session
    Column("clinic_id", ID, nullable=False),
    Column("client_id", ID, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_checkin_sessions_expires", "expires_at"),
)

session_checks = Table(
    "session_checks", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("client_id", ID, primary_key=True),
    Column("checkin_id", String(64), primary_key=True),   # "checkin:<id>": one per check-in; a re-submission is the same row
    Column("at", TS, nullable=False),
    Column("heard", Integer),                          # each 0-10, or null when skipped
    Column("mattered", Integer),
    Column("fits", Integer),
    Column("overall", Integer),
    Column("revisit", Boolean, nullable=False, server_default="0"),   # asked to look at what progress means next time
)

smart_requests = Table(
    "smart_requests", metadata,
    Column("key", String(64), primary_key=True),       # SHA-256 hex of the OAuth state; never the state
    Column("ehr_id", String(64), nullable=False),
    Column("secret", Text, nullable=False),            # encrypted: the PKCE code verifier and nonce
    Column("target", String(200)),                     # the app page to open after the callback
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS),                             # the callback's first (and only) use
    Index("ix_smart_requests_expires", "expires_at"),
)

smart_sessions = Table(
    "smart_sessions", metadata,
    Column("key", String(64), primary_key=True),       # SHA-256 hex of the session id in the cookie; never the id
    Column("ehr_id", String(64), nullable=False),
    Column("clinic_id", ID, nullable=False),
    Column("context", JSON, nullable=False),           # patient, encounter, fhirUser, fhirContext: ids only
    Column("scopes", String(2000), nullable=False),    # the scopes the EHR granted
    Column("tokens", Text, nullable=False),            # encrypted: access, refresh and id tokens
    Column("token_expires_at", TS),                    # when the access token ends, when the EHR says
    Column("created_at", TS, nullable=False),
    Column("seen_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),          # the session's absolute end
    Index("ix_smart_sessions_expires", "expires_at"),
)

# What a client's progress panel is drawn from changes only with a write that changes this
# row's token (a random one, so a purged and re-created client never meets an old panel):
# rendered panels are cached and answered 304 by it (progress_plugin.store.client_versions).
client_versions = Table(
    "client_versions", metadata,
    Column("clinic_id", ID, primary_key=True),
    Column("client_id", ID, primary_key=True),
    Column("token", String(32), nullable=False),
)
