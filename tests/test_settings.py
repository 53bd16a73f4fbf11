import pytest

from progress_plugin.service import settings
from progress_plugin.errors import ConfigError

from tests.conftest import SECRET


def load(raw, env=None):
    return settings.load(raw, env=env or {})


def test_a_full_configuration_loads_with_secrets_and_token_from_the_environment():
    cfg = load({"store": {"url": "sqlite:///x.db"},
                "host": {"base_url": "https://ehr.example.org/fhir"},
                "clinics": [{"id": "clinic-a", "scheme": "standard-webhooks", "secrets_env": "S"}]},
               env={"S": f"{SECRET}, {SECRET}", "PROGRESS_PLUGIN_HOST_TOKEN": "tok"})
    assert cfg.store_url == "sqlite:///x.db" and cfg.host_token == "tok"
    assert cfg.clinics["clinic-a"].secrets == (SECRET, SECRET)


def test_host_url_from_the_environment_wins():
    cfg = load({"host": {"base_url": "https://a.example.org/fhir"}},
               env={"PROGRESS_PLUGIN_HOST_URL": "https://b.example.org/fhir"})
    assert cfg.host_url == "https://b.example.org/fhir"


@pytest.mark.parametrize("raw,needle", [
    ({"clinics": [{"id": "a", "scheme": "standard-webhooks", "secrets": ["whsec_c2hvcnQ="]}]}, "clinics.0.secrets"),
    ({"clinics": [{"id": "a", "scheme": "carrier-pigeon", "secrets": [SECRET]}]}, "clinics.0.scheme"),
    ({"clinics": [{"id": "a", "scheme": "standard-webhooks"}]}, "give secrets or secrets_env"),
    ({"clinics": [{"id": "a", "scheme": "standard-webhooks", "secrets_env": "NOPE"}]}, "$NOPE is not set"),
    ({"clinics": [{"id": "a", "scheme": "standard-webhooks", "secrets": [SECRET]}] * 2}, "listed twice"),
    ({"host": {"base_url": "ftp://x"}}, "host.base_url"),
    ({"worker": {"batch": 0}}, "worker.batch"),
    ({"colour": "blue"}, "colour: Unknown field."),
    ({"clinics": [{"id": "a", "scheme": "x-signature", "secrets": [SECRET, SECRET, SECRET]}]}, "clinics.0.secrets"),
])
def test_bad_configuration_names_the_field(raw, needle):
    with pytest.raises(ConfigError) as info:
        load(raw)
    assert needle in str(info.value)


def test_readable_note_types_are_kept_in_normal_form_per_clinic():
    cfg = load({"clinics": [{"id": "a", "scheme": "x-signature", "secrets": [SECRET],
                             "readable_note_types": ["Progress Note", "11506-3"]},
                            {"id": "b", "scheme": "x-signature", "secrets": [SECRET]}]})
    assert cfg.readable_note_types("a") == frozenset({"progress-note", "11506-3"})
    assert cfg.readable_note_types("b") is None and cfg.readable_note_types("nope") is None


@pytest.mark.parametrize("listed,needle", [
    (["progress-note", "Psychotherapy Notes"], "clinics.0.readable_note_types.1: 'Psychotherapy Notes' is a protected"),
    (["sud_counselling"], "clinics.0.readable_note_types.0"),
    ([" - "], "clinics.0.readable_note_types.0: Give a note type"),
    ([], "clinics.0.readable_note_types"),
])
def test_a_protected_or_empty_readable_type_is_a_config_error(listed, needle):
    with pytest.raises(ConfigError) as info:
        load({"clinics": [{"id": "a", "scheme": "x-signature", "secrets": [SECRET], "readable_note_types": listed}]})
    assert needle in str(info.value)


def test_the_hooks_read_the_list_from_the_config_file_without_secrets():
    assert settings.note_policy({"clinics": [{"id": "a", "readable_note_types": ["Progress Note"]},
                                             {"id": "b", "scheme": "x-signature"}]}) == {"a": frozenset({"progress-note"})}
    with pytest.raises(ConfigError):
        settings.note_policy({"clinics": [{"id": "a", "readable_note_types": ["psychotherapy"]}]})
