"""API tokens: hashed at rest, scoped to a clinic and a role, revocable. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from progress_plugin.store import tables as t
from progress_plugin.store import tokens
from progress_plugin.errors import NotFound, ValidationError


@pytest.fixture(autouse=True)
def clinics(request, now):
    """clinic-a and clinic-b, in the store the test uses: a token is made only for a clinic that exists."""
    for name in ("store", "sqlite_store"):
        if name in request.fixturenames:
            for clinic in ("clinic-a", "clinic-b"):
                request.getfixturevalue(name).ensure_clinic(clinic, now)


def test_create_returns_the_token_once_and_stores_only_a_digest(store, now):
    token_id, token = tokens.create(store, "clinic-a", "admin", "front desk", now, actor="ops")
    assert token.startswith(f"pp_{token_id}_")
    with store.engine.connect() as c:
        row = c.execute(sa.select(t.tokens)).one()
    assert row.token_id == token_id and row.clinic_id == "clinic-a" and row.role == "admin"
    secret = token.split("_", 2)[2]
    stored = " ".join(str(v) for v in row)
    assert secret not in stored and token not in stored
    assert row.secret_hash == tokens.digest(token)
    # the creation is audited; the clinic's vocabulary is untouched
    assert store.current_version("clinic-a") == 1
    audit = [r for r in store.audit_rows("clinic-a") if r["action"] == "token.create"]
    assert audit[0]["actor"] == "ops" and audit[0]["subject"] == f"token:{token_id} role:admin"


def test_a_token_for_a_clinic_that_does_not_exist_is_refused_and_nothing_is_made(store, now):
    with pytest.raises(NotFound) as exc:
        tokens.create(store, "clinic-aa", "admin", "front desk", now)            # a typo of clinic-a
    assert str(exc.value) == ("no clinic 'clinic-aa'; create it with `progress-plugin clinics add clinic-aa`, or "
                              "list it in the config file and run `progress-plugin migrate`")
    assert not store.clinic_exists("clinic-aa") and tokens.list_tokens(store) == []
    assert store.audit_rows("clinic-aa") == []


def test_verify_gives_the_principal(store, now):
    token_id, token = tokens.create(store, "clinic-a", "viewer", "reports", now)
    p = tokens.verify(store, token)
    assert p == tokens.Principal(token_id, "clinic-a", "viewer")
    assert p.actor == f"token:{token_id}"
    assert p.may("viewer") and not p.may("admin")


@pytest.mark.parametrize("mangle", [
    lambda tok: tok[:-1] + ("A" if tok[-1] != "A" else "B"),   # one character of the secret changed
    lambda tok: tok.replace("pp_", "xx_", 1),                  # wrong prefix
    lambda tok: tok[:-2],                                      # truncated
    lambda tok: "pp_" + "0" * 16 + tok[19:],                   # unknown token id, real secret
    lambda tok: "",
    lambda tok: None,
])
def test_verify_rejects_anything_else(sqlite_store, now, mangle):
    _, token = tokens.create(sqlite_store, "clinic-a", "admin", "x", now)
    assert tokens.verify(sqlite_store, token) is not None
    assert tokens.verify(sqlite_store, mangle(token)) is None


def test_tokens_of_one_token_id_do_not_verify_with_another_secret(sqlite_store, now):
    id1, tok1 = tokens.create(sqlite_store, "clinic-a", "admin", "one", now)
    id2, tok2 = tokens.create(sqlite_store, "clinic-a", "admin", "two", now)
    swapped = f"pp_{id1}_{tok2.split('_', 2)[2]}"
    assert tokens.verify(sqlite_store, swapped) is None


def test_revoke_stops_the_token_and_is_audited(store, now):
    token_id, token = tokens.create(store, "clinic-a", "admin", "x", now)
    tokens.revoke(store, token_id, now + timedelta(minutes=1), actor="ops")
    assert tokens.verify(store, token) is None
    listed = tokens.list_tokens(store, "clinic-a")
    assert listed[0]["revoked_at"] == now + timedelta(minutes=1)
    assert [r["action"] for r in store.audit_rows("clinic-a")][-1] == "token.revoke"
    tokens.revoke(store, token_id, now + timedelta(minutes=2))       # a second revoke changes nothing
    assert tokens.list_tokens(store, "clinic-a")[0]["revoked_at"] == now + timedelta(minutes=1)
    with pytest.raises(NotFound):
        tokens.revoke(store, "0" * 16, now)


def test_revoke_scoped_to_a_clinic_does_not_touch_another_clinics_token(sqlite_store, now):
    token_id, token = tokens.create(sqlite_store, "clinic-a", "admin", "x", now)
    with pytest.raises(NotFound):
        tokens.revoke(sqlite_store, token_id, now, clinic_id="clinic-b")
    assert tokens.verify(sqlite_store, token) is not None


def test_list_is_per_clinic_and_never_shows_a_secret(sqlite_store, now):
    tokens.create(sqlite_store, "clinic-a", "admin", "a1", now)
    tokens.create(sqlite_store, "clinic-b", "viewer", "b1", now)
    assert [r["name"] for r in tokens.list_tokens(sqlite_store, "clinic-a")] == ["a1"]
    assert {r["clinic_id"] for r in tokens.list_tokens(sqlite_store)} == {"clinic-a", "clinic-b"}
    assert all(set(r) == {"token_id", "clinic_id", "role", "name", "created_at", "revoked_at", "last_used_at"}
               for r in tokens.list_tokens(sqlite_store))


def test_create_validates_role_clinic_and_name(sqlite_store, now):
    with pytest.raises(ValidationError) as exc:
        tokens.create(sqlite_store, "bad clinic!", "owner", "", now)
    assert set(exc.value.messages) == {"role", "clinic", "name"}
    with sqlite_store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.tokens)).scalar() == 0


def test_a_tokens_last_use_is_kept_to_the_hour(store, now):
    token_id, token = tokens.create(store, "clinic-a", "viewer", "reader", now)
    last = lambda: next(r["last_used_at"] for r in tokens.list_tokens(store) if r["token_id"] == token_id)  # noqa: E731
    assert last() is None
    for at, expected in [(now, now), (now + timedelta(minutes=59), now), (now + timedelta(minutes=61),
                                                                            now + timedelta(minutes=61))]:
        checked = tokens.check(store, token)
        tokens.touch(store, token_id, checked.last_used_at, at)
        assert last() == expected                  # within the hour nothing is written


def test_revoking_a_token_ends_its_console_sessions(store, now):
    from progress_plugin.store import console_sessions
    token_id, token = tokens.create(store, "clinic-a", "admin", "manager", now)
    session_id = console_sessions.start(store, tokens.verify(store, token), now, timedelta(hours=12))
    assert console_sessions.find(store, session_id, now, timedelta(hours=8)) is not None
    tokens.revoke(store, token_id, now)
    assert console_sessions.count(store, token_id) == 0
    assert console_sessions.find(store, session_id, now, timedelta(hours=8)) is None
