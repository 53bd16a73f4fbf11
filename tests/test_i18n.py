"""Which language the service answers in (web/i18n.py): ?lang=, then Accept-Language, then the
clinic's default language from the store, then English; the clinic's language from the config."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from flask import Blueprint

from progress_plugin.service import settings
from progress_plugin.web import i18n
from progress_plugin.web.app import create_app

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
probe = Blueprint("probe", __name__)


@probe.get("/clinics/<clinic>/probe")
def _probe(clinic):
    from flask_babel import get_locale
    return {"language": i18n.language(), "words": i18n.words().code, "babel": str(get_locale())}


@pytest.fixture
def client(sqlite_store):
    sqlite_store.ensure_clinic("clinic-en", NOW)
    sqlite_store.ensure_clinic("clinic-hi", NOW, language="hi")
    return create_app(sqlite_store, clock=lambda: NOW, blueprints=[probe]).test_client()


@pytest.mark.parametrize("url, headers, expected", [
    ("/clinics/clinic-en/probe", {}, "en"),
    ("/clinics/clinic-hi/probe", {}, "hi"),                                   # the clinic's default
    ("/clinics/clinic-en/probe", {"Accept-Language": "fr, hi-IN;q=0.8, en;q=0.5"}, "hi"),
    ("/clinics/clinic-hi/probe", {"Accept-Language": "en-GB"}, "en"),         # the browser beats the clinic
    ("/clinics/clinic-hi/probe?lang=en", {"Accept-Language": "hi"}, "en"),     # ?lang= beats both
    ("/clinics/clinic-en/probe?lang=hi", {}, "hi"),
    ("/clinics/clinic-hi/probe?lang=xx", {"Accept-Language": "de"}, "hi"),    # unknown: falls through
    ("/clinics/nobody/probe", {"Accept-Language": "hi;q=0"}, "en"),           # q=0 means "not this"
])
def test_the_language_of_an_answer(client, url, headers, expected):
    answer = client.get(url, headers=headers).get_json()
    assert answer == {"language": expected, "words": expected, "babel": expected}


def test_the_clinics_language_comes_from_the_configuration_and_can_change(sqlite_store, sqlite_url):
    raw = {"store": {"url": sqlite_url},
           "clinics": [{"id": "clinic-a", "scheme": "x-signature", "secrets": ["s" * 32], "language": "hi"}]}
    create_app(sqlite_store, config=settings.load(raw), clock=lambda: NOW, blueprints=[])
    assert sqlite_store.clinic_language("clinic-a") == "hi"
    raw["clinics"][0]["language"] = "en"
    create_app(sqlite_store, config=settings.load(raw), clock=lambda: NOW, blueprints=[])
    assert sqlite_store.clinic_language("clinic-a") == "en"
    assert [r["action"] for r in sqlite_store.audit_rows("clinic-a")].count("clinic.language") == 1


def test_a_language_the_catalogs_lack_is_refused_in_the_configuration(sqlite_url):
    raw = {"clinics": [{"id": "clinic-a", "scheme": "x-signature", "secrets": ["s" * 32], "language": "fr"}]}
    with pytest.raises(settings.ConfigError, match="clinics.0.language"):
        settings.load(raw)
