"""Without a host: no write-back is queued or tried, and that is said once, not in a traceback per retry."""
import logging
import threading
import time
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from click.testing import CliRunner

from progress_plugin.service import hostlink
from progress_plugin.store import inbox
from progress_plugin.store import outbox
from progress_plugin.fhir import writeback
from progress_plugin.store import tables as t
from progress_plugin.web.app import create_app
from progress_plugin.cli.main import main
from progress_plugin.store import Store
from progress_plugin.service.worker import Worker

from tests.conftest import SECRET

INTAKE = {"client_id": "c1", "author": "t1", "at": "2026-01-05T10:00:00Z",
          "intake": {"goals": [{"words": "Sleep through", "whose": "client", "baseline": 3}],
                     "review_cadence": "every-session", "agreed": True, "agreed_on": "2026-01-05",
                     "goals_reviewed": True}}
NOTE = {"client_id": "c1", "note_id": "n1", "session_at": "2026-01-12T10:00:00Z", "author": "t1",
        "at": "2026-01-12T11:00:00Z", "signed": True,
        "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 6}]}]}


def test_without_a_host_the_worker_queues_no_write_back_and_logs_no_traceback(service_config, caplog):
    assert service_config.host_url is None
    caplog.set_level(logging.DEBUG)
    store = Store.open(service_config.store_url)
    now = datetime.now(timezone.utc)
    with store.begin() as conn:
        for event_type, data in (("intake.submitted", INTAKE), ("note.signed", NOTE)):
            inbox.put(conn, "clinic-a", uuid.uuid4().hex, event_type, {"clinic_id": "clinic-a", **data}, now)
    worker = Worker(store, service_config)
    for _ in range(5):
        worker.run_once()
    assert store.load_state("clinic-a", "c1").notes                      # the events were applied
    with store.engine.connect() as c:
        assert inbox.counts(c) == {"done": 2}
        assert c.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar() == 0
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    store.close()


def test_rows_queued_before_the_host_was_removed_wait_untouched(service_config, caplog):
    store = Store.open(service_config.store_url)
    now = datetime.now(timezone.utc)
    from progress_plugin.core import effects as fx
    from progress_plugin.core.vocabulary import default
    with store.begin() as conn:
        writeback.enqueue(conn, [fx.PublishVocabulary("clinic-a", default())], {}, now)
    Worker(store, service_config).run_once()
    with store.engine.connect() as c:
        rows = c.execute(sa.select(t.outbox.c.status, t.outbox.c.attempts)).all()
    assert rows and {tuple(r) for r in rows} == {("pending", 0)}
    assert [r for r in caplog.records if r.exc_info] == []
    store.close()


def test_the_service_and_its_worker_say_it_once(service_config, caplog, monkeypatch):
    monkeypatch.setattr(hostlink, "_said", threading.Event())
    caplog.set_level(logging.INFO)
    store = Store.open(service_config.store_url)
    create_app(store, config=service_config)
    worker = Worker(store, service_config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    time.sleep(0.3)
    worker.stop()
    thread.join(5)
    said = [r for r in caplog.records if r.getMessage() == hostlink.NO_HOST]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    store.close()


def test_check_says_write_backs_are_off_without_failing(tmp_path):
    config = tmp_path / "progress-plugin.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/p.db"\n\n[[clinics]]\nid = "clinic-a"\n'
                      f'scheme = "standard-webhooks"\nsecrets = ["{SECRET}"]\n')
    result = CliRunner().invoke(main, ["--config", str(config), "check"], env={"PROGRESS_PLUGIN_HOST_URL": ""})
    assert result.exit_code == 0, result.output
    assert f"note host: {hostlink.NO_HOST}" in result.output and "FAIL" not in result.output
