"""Hypothesis fuzz of the CDS Hooks service: hostile request bodies (tests/fuzz.py) under a valid
EHR JWT are never answered 5xx or with a traceback, with a client whose card is drawn."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from progress_plugin.web import cds
from progress_plugin.service import settings
from progress_plugin.service.runtime import Runtime

from tests.fuzz import bodies, check_answer, fuzz_settings
from tests.test_cds import body_for, chart_goal, seed
from tests.test_cds_jwt import PATH, cds_section, keyserver, make_token  # noqa: F401  (keyserver: fixture)

LIMIT = 64 * 1024
TEMPLATES = [body_for(), body_for(goals=[chart_goal("c1", "g1", "Sleep"), chart_goal("c1", "g2", "Say no")]),
             {**body_for(), "fhirAuthorization": None, "extra": {"ignored": [1, 2]}}]


@pytest.fixture(scope="module")
def client(tmp_path_factory, keyserver, app_factory):
    path = tmp_path_factory.mktemp("cds-fuzz") / "p.db"
    cfg = settings.load({"store": {"url": f"sqlite:///{path}"}, "max_body_bytes": LIMIT,
                         "cds": cds_section(keyserver)}, env={})
    app = app_factory(config=cfg, blueprints=[cds.blueprint])
    seed(Runtime(app.extensions["progress_plugin"].store))     # client c1 has an intake: the card is drawn
    return app.test_client()


@fuzz_settings(250)
@given(data=st.data(), template=st.sampled_from(TEMPLATES))
def test_hostile_bodies_with_a_valid_token_are_never_5xx(client, keyserver, fuzz_counts, data, template):
    body = data.draw(bodies(template, LIMIT))
    r = client.post(PATH, data=body, headers={"Authorization": f"Bearer {make_token(keyserver)}",
                                              "Content-Type": "application/json"})
    check_answer("cds: patient-view", r.status_code, r.get_data())
    assert r.status_code != 401, r.get_data()          # the token was good: every refusal is about the body
