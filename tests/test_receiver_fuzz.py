"""Hypothesis fuzz of the webhook receiver, per signature scheme: nothing forged is accepted,
nothing is answered 5xx or with a traceback, and nothing accepted holds text no store can keep.

Bodies come from :mod:`tests.fuzz`: valid events mutated with hostile values, garbage, deep
nesting and oversized bodies, each correctly signed (so they reach the JSON and schema checks).
"""
import itertools
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progress_plugin.web.app import create_app
from progress_plugin.web.signatures import sign_hex, sign_standard
from progress_plugin.store import Store

from tests.conftest import SECRET
from tests.fuzz import bodies, check_answer, fuzz_settings
from tests.test_subscription import backport, full_resource, id_only, r4b

LIMIT = 64 * 1024
HEX_SECRET = "x-signature-secret-0123456789abcdef"
BEARER = "bearer-secret-0123456789abcdefABCDEF"
_ids = itertools.count(1)

HEADER_NAMES = st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type",
                                "X-Signature", "Authorization", "Content-Length", "Webhook-Id"])
HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.sampled_from(["application/json", "application/fhir+json", "v1,", "v1,AAAA", "v1," + "A" * 44,
                     str(int(time.time())), str(int(time.time())) + ".5", "-1", "0", "99999999999999",
                     "msg_1", "Bearer x"]),
)
RAW = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
)

NOTE = {"client_id": "c1", "note_id": "n1", "session_at": "2026-01-05T10:00:00Z", "author": "t1",
        "at": "2026-01-05T10:00:00Z", "note_type": "progress-note",
        "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": 6}]}]}
INTAKE = {"goals": [{"words": "Sleep through most nights", "whose": "client", "baseline": 3, "rank": 1}],
          "better_looks_like": "Waking up less tired", "review_cadence": "every-4-sessions",
          "agreed": True, "agreed_on": "2026-01-05", "goals_reviewed": True}
ENVELOPES = [
    {"type": "note.saved", "timestamp": "2026-01-05T10:00:00Z", "data": NOTE},
    {"type": "note.signed", "timestamp": "2026-01-05T10:00:00Z", "data": NOTE},
    {"type": "intake.submitted", "timestamp": "2026-01-05T10:00:00Z",
     "data": {"client_id": "c1", "author": "t1", "at": "2026-01-05T10:00:00Z", "intake": INTAKE}},
    {"type": "note.deleted", "timestamp": "2026-01-05T10:00:00Z",
     "data": {"client_id": "c1", "note_id": "n1", "at": "2026-01-05T10:00:00Z"}},
    {"type": "client.discharged", "timestamp": "2026-01-05T10:00:00Z",
     "data": {"client_id": "c1", "at": "2026-01-05T10:00:00Z"}},
    {"type": "some.future-event", "timestamp": "2026-01-05T10:00:00Z", "data": {"x": [1, {"y": "z"}]}},
]
RESOURCES = [{"resourceType": "DocumentReference", "id": "d1", "meta": {"versionId": "7"},
              "content": [{"attachment": {"data": "c2VjcmV0IG5vdGU="}}]},
             {"resourceType": "Composition", "id": "c-2"}]
NOTIFICATIONS = [backport(), r4b(), backport(extra=[id_only()]), r4b(extra=[full_resource()])]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from progress_plugin.service import settings as settings_mod
    path = tmp_path_factory.mktemp("fuzz") / "p.db"
    cfg = settings_mod.load({"store": {"url": f"sqlite:///{path}"}, "max_body_bytes": LIMIT,
                             "clinics": [{"id": "clinic-a", "scheme": "standard-webhooks", "secrets": [SECRET]},
                                         {"id": "clinic-x", "scheme": "x-signature", "secrets": [HEX_SECRET]},
                                         {"id": "clinic-f", "scheme": "fhir-subscription", "secrets": [BEARER]}]},
                            env={})
    assert cfg.max_body_bytes == LIMIT
    store = Store.open(cfg.store_url)
    yield create_app(store, config=cfg).test_client()
    store.close()


def storable(value) -> bool:
    """Could this be stored and shown: every text UTF-8 encodable and free of NUL."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return False
    return "\\u0000" not in text


def post(client, boundary, clinic, body, headers):
    r = client.post(f"/webhooks/{clinic}", data=body, headers={"Content-Type": "application/json", **headers})
    check_answer(boundary, r.status_code, r.get_data())
    if r.status_code < 300:
        assert storable(json.loads(body)), f"{boundary}: accepted a body holding text no store can keep"
    return r


# -- per scheme, correctly signed --------------------------------------------------------------
@fuzz_settings(300)
@given(data=st.data(), template=st.sampled_from(ENVELOPES))
def test_standard_webhooks_signed_hostile_bodies(client, fuzz_counts, data, template):
    body = data.draw(bodies(template, LIMIT))
    try:
        headers = sign_standard(SECRET, f"fuzz-{next(_ids)}", int(time.time()), body)
    except UnicodeDecodeError:      # not UTF-8: no sender can sign it; it must still be refused cleanly
        headers = {"webhook-id": f"fuzz-{next(_ids)}", "webhook-timestamp": str(int(time.time())),
                   "webhook-signature": "v1," + "A" * 44}
    post(client, "webhooks: standard-webhooks", "clinic-a", body, headers)


@fuzz_settings(200)
@given(data=st.data(), template=st.sampled_from(RESOURCES))
def test_x_signature_signed_hostile_bodies(client, fuzz_counts, data, template):
    body = data.draw(bodies(template, LIMIT))
    post(client, "webhooks: x-signature", "clinic-x", body, {"X-Signature": sign_hex(HEX_SECRET, body)})


@fuzz_settings(200)
@given(data=st.data(), template=st.sampled_from(NOTIFICATIONS))
def test_fhir_subscription_authorized_hostile_bodies(client, fuzz_counts, data, template):
    body = data.draw(bodies(template, LIMIT))
    post(client, "webhooks: fhir-subscription", "clinic-f", body, {"Authorization": f"Bearer {BEARER}"})


# -- forged and malformed requests -------------------------------------------------------------
@fuzz_settings(400)
@given(clinic=st.sampled_from(["clinic-a", "clinic-x", "clinic-f"]),
       content_type=st.sampled_from([None, "application/json", "application/fhir+json"]),
       headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6), body=RAW)
def test_forged_requests_are_never_accepted_and_never_5xx(client, fuzz_counts, clinic, content_type, headers, body):
    headers.pop("Content-Length", None)
    if content_type:
        headers.setdefault("Content-Type", content_type)
    r = client.post(f"/webhooks/{clinic}", data=body, headers=headers)
    check_answer("webhooks: forged", r.status_code, r.get_data())
    assert r.status_code in (400, 401, 413, 415, 422), r.status_code


def test_the_hostile_alphabet_has_every_unicode_category():
    import unicodedata
    from tests.fuzz import BY_CATEGORY
    categories = {"Cc", "Cf", "Cn", "Co", "Cs", "Ll", "Lm", "Lo", "Lt", "Lu", "Mc", "Me", "Mn", "Nd", "Nl", "No",
                  "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "Sc", "Sk", "Sm", "So", "Zl", "Zp", "Zs"}
    assert set(BY_CATEGORY) == categories
    for category, chars in BY_CATEGORY.items():
        assert {unicodedata.category(c) for c in chars} == {category}, category
