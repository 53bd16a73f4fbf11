"""Shared fixtures. Store tests run against both SQLite and PostgreSQL (``store`` is parametrized)."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from progress_plugin import schemas
from progress_plugin.service.runtime import Runtime
from progress_plugin.store import Store

from tests import pg

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
_db_names = itertools.count(1)


@pytest.fixture
def now():
    return NOW


# -- stores ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster():
    if pg.binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb) are not installed on this machine; "
                    "scripts/test installs Debian's postgresql when run as root")
    cluster = pg.Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'progress.db'}"


@pytest.fixture
def pg_url(pg_cluster):
    return pg_cluster.create_database(f"t{next(_db_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def store(store_url):
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(sqlite_url):
    s = Store.open(sqlite_url)
    yield s
    s.close()


@pytest.fixture
def runtime(store, now):
    return Runtime(store, clock=lambda: now)


@pytest.fixture
def dispatched(monkeypatch):
    """``(event, actor)`` for each event any :class:`Runtime` dispatches during the test, in order."""
    seen = []
    real = Runtime.dispatch

    def spy(self, event, actor=None, conn=None):
        if conn is not None:             # without a connection, dispatch calls itself again with one
            seen.append((event, actor))
        return real(self, event, actor, conn)
    monkeypatch.setattr(Runtime, "dispatch", spy)
    return seen


# -- payloads -------------------------------------------------------------------------------
@pytest.fixture
def intake_payload():
    def make(**overrides):
        data = {
            "goals": [
                {"words": "Sleep through most nights", "whose": "client", "baseline": 3, "rank": 1},
                {"words": "Say no to my boss once", "whose": "client", "baseline": 2, "rank": 2},
            ],
            "better_looks_like": "Waking up less tired",
            "review_cadence": "every-4-sessions",
            "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True,
            "private_reflection": "I want to rescue",
        }
        data.update(overrides)
        return data
    return make


@pytest.fixture
def intake(intake_payload):
    return schemas.load(schemas.intake_schema, intake_payload())


@pytest.fixture
def note_payload():
    counter = itertools.count(1)

    def make(tags=(), client_id="c1", clinic_id="clinic-a", day=None, **overrides):
        n = next(counter)
        at = f"2026-01-{(day or 5 + n):02d}T10:00:00+00:00"
        data = {"clinic_id": clinic_id, "client_id": client_id, "note_id": overrides.pop("note_id", f"n{n}"),
                "session_at": at, "author": "t1", "at": at, "tags": list(tags)}
        data.update(overrides)
        return data
    return make


# -- browser (pytest-playwright on Debian's Chromium; never `playwright install`) -----------
CHROMIUM = "/usr/lib/chromium/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    import os
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}); scripts/test installs it when run as root")
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]}


@pytest.fixture(scope="session")
def artifacts_dir():
    from pathlib import Path
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def fuzz_counts(artifacts_dir):
    """The boundary fuzz tests' case counts (tests/fuzz.py), merged into artifacts/fuzz-counts.json
    at the end of the session: per boundary, the cases run, the answers by status, 5xx and tracebacks."""
    import json
    from tests import fuzz
    yield fuzz.COUNTS
    path = artifacts_dir / "fuzz-counts.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    for boundary, counts in fuzz.COUNTS.items():
        saved[boundary] = {"cases": counts["cases"], "5xx": counts["5xx"], "tracebacks": counts["tracebacks"],
                           **{k: v for k, v in sorted(counts.items()) if k.startswith(("status ", "exit "))}}
    path.write_text(json.dumps(dict(sorted(saved.items())), indent=2) + "\n", encoding="utf-8")


# -- hosts ----------------------------------------------------------------------------------
from tests.fhir_server import medplum, medplum_server  # noqa: E402,F401  (Medplum FHIR server fixtures)
from tests.smart_ehr import smart_ehr  # noqa: E402,F401  (the SMART EHR stand-in, in front of Medplum)

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="   # 32 bytes once decoded


@pytest.fixture
def service_config(sqlite_url):
    """A validated service configuration with one Standard Webhooks clinic and no host."""
    from progress_plugin.service import settings
    return settings.load({"store": {"url": sqlite_url},
                          "clinics": [{"id": "clinic-a", "scheme": "standard-webhooks", "secrets": [SECRET]}],
                          "worker": {"batch": 50, "lease_seconds": 5, "poll_seconds": 0.05}}, env={})


@pytest.fixture
def signed():
    """Build (headers, body) for an envelope signed with the clinic's Standard Webhooks secret."""
    import json
    import time as _time
    import uuid

    from progress_plugin.web.signatures import sign_standard

    def make(event_type, data, event_id=None, secret=SECRET, timestamp=None):
        body = json.dumps({"type": event_type, "timestamp": "2026-01-05T10:00:00Z", "data": data}).encode()
        headers = sign_standard(secret, event_id or "evt_" + uuid.uuid4().hex, timestamp or int(_time.time()), body)
        headers["Content-Type"] = "application/json"
        return headers, body
    return make


@pytest.fixture(scope="session")
def app_factory():
    """Build the service's Flask app the way each test needs it:
    ``app_factory(store, config=..., clock=..., blueprints=[...], max_body=...)``.

    With no store, one is opened from ``config.store_url`` and closed when the session ends.
    ``blueprints`` limits the app to the blueprints under test (all by default)."""
    from progress_plugin.web.app import create_app

    opened: list[Store] = []

    def build(store: Store | None = None, *, config=None, clock=None, blueprints=None, max_body: int | None = None):
        if store is None:
            store = Store.open(config.store_url)
            opened.append(store)
        kwargs = {"config": config, "blueprints": blueprints}
        if clock is not None:
            kwargs["clock"] = clock
        app = create_app(store, **kwargs)
        if max_body is not None:
            app.config["MAX_CONTENT_LENGTH"] = max_body
        return app

    yield build
    for store in opened:
        store.close()


@pytest.fixture
def client(app):
    """A test client of the module's ``app`` fixture."""
    return app.test_client()
