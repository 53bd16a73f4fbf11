"""The intake's FHIR Questionnaire carries its own rules (SDC), generated from the intake definition."""
from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from progress_plugin import lang
from progress_plugin.core import intake
from progress_plugin.fhir import questionnaire as sdc
from progress_plugin.fhir.resources import questionnaire

OTHER_LANGUAGES = [code for code in lang.LANGUAGES if code != "en"]


@pytest.fixture(scope="module")
def q():
    return questionnaire()


def walk(items, parent=None):
    """Every item with its parent item, depth first."""
    for item in items:
        yield item, parent
        yield from walk(item.get("item", []), item)


def items(q) -> dict:
    return {item["linkId"]: item for item, _ in walk(q["item"])}


def ext(item: dict, url: str) -> list:
    return [e for e in item.get("extension", []) if e["url"] == url]


def value(item: dict, url: str):
    (found,) = ext(item, url)
    return next(v for k, v in found.items() if k.startswith("value"))


def control(item: dict) -> str | None:
    found = ext(item, sdc.EXT_ITEM_CONTROL)
    return found[0]["valueCodeableConcept"]["coding"][0]["code"] if found else None


def translations(element: dict | None) -> dict:
    """``{lang: content}`` from a primitive's ``_x`` element."""
    out = {}
    for e in (element or {}).get("extension", []):
        if e["url"] == sdc.EXT_TRANSLATION:
            parts = {p["url"]: p for p in e["extension"]}
            assert set(parts) == {"lang", "content"}
            out[parts["lang"]["valueCode"]] = parts["content"]["valueString"]
    return out


def test_it_is_valid_fhir_and_claims_the_sdc_base_profile(q):
    model = get_fhir_model_class("Questionnaire").model_validate(q)
    assert model.url == intake.SECTION_URL and model.version == intake.SECTION_VERSION
    assert q["meta"]["profile"] == ["http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"]
    assert q["language"] == "en"


def test_every_integer_carries_its_bounds_and_each_0_10_rating_is_a_slider_in_steps_of_1(q):
    by_link = items(q)
    integers = {f"goals.{f.id}": f for f in intake.GOAL_FIELDS if f.type == "integer"}
    integers |= {f.id: f for f in intake.FIELDS if f.type == "integer"}
    assert set(integers) == {"goals.baseline", "goals.rank"}
    bounded = {link for link, item in by_link.items() if ext(item, sdc.EXT_MIN_VALUE) or ext(item, sdc.EXT_MAX_VALUE)}
    assert bounded == set(integers)
    assert (value(by_link["goals.baseline"], sdc.EXT_MIN_VALUE), value(by_link["goals.baseline"], sdc.EXT_MAX_VALUE)) == (0, 10)
    assert (value(by_link["goals.rank"], sdc.EXT_MIN_VALUE), value(by_link["goals.rank"], sdc.EXT_MAX_VALUE)) == (1, 3)
    assert control(by_link["goals.baseline"]) == "slider"
    assert value(by_link["goals.baseline"], sdc.EXT_SLIDER_STEP) == 1
    assert control(by_link["goals.rank"]) is None            # 1 to 3: a plain number


def test_the_goals_group_repeats_at_most_three_times(q):
    goals = items(q)["goals"]
    assert goals["type"] == "group" and goals["repeats"] is True and goals["required"] is True
    assert value(goals, sdc.EXT_MAX_OCCURS) == intake.MAX_GOALS == 3
    assert [i for i, _ in walk(q["item"]) if ext(i, sdc.EXT_MAX_OCCURS)] == [goals]


def test_the_review_date_is_asked_only_for_the_planned_review(q):
    by_link = items(q)
    (when,) = by_link["review_date"]["enableWhen"]
    cadence = {o["valueCoding"]["code"]: o["valueCoding"] for o in by_link["review_cadence"]["answerOption"]}
    assert when["question"] == "review_cadence" and when["operator"] == "="
    assert when["answerCoding"] == {"system": cadence["at-review"]["system"], "code": "at-review"}


def test_the_other_way_to_say_it_is_a_follow_up_asked_only_for_another_way(q):
    by_link = items(q)
    choice = by_link["saying_not_working"]
    assert choice["type"] == "choice"           # the free text is its own question, not open-choice
    other = by_link["saying_not_working_other"]
    assert other in choice["item"] and other["type"] == "string"
    (when,) = other["enableWhen"]
    assert when == {"question": "saying_not_working", "operator": "=",
                    "answerCoding": {"system": sdc.option_system("saying_not_working"), "code": "other"}}
    assert value(other, sdc.EXT_ANSWERED_BY) == "client"


def test_every_enable_when_names_an_earlier_question_and_one_of_its_options(q):
    order = [i["linkId"] for i, _ in walk(q["item"])]
    by_link = items(q)
    conditional = [i for i, _ in walk(q["item"]) if "enableWhen" in i]
    assert {i["linkId"] for i in conditional} == {"review_date", "saying_not_working_other"}
    for item in conditional:
        for when in item["enableWhen"]:
            asked = by_link[when["question"]]
            assert order.index(asked["linkId"]) < order.index(item["linkId"])
            assert when["answerCoding"] in [{k: o["valueCoding"][k] for k in ("system", "code")}
                                            for o in asked["answerOption"]]
        assert len(item["enableWhen"]) == 1 or item["enableBehavior"] in ("all", "any")


def test_every_help_text_is_a_help_display_item_under_its_question(q):
    fields = {f.id: f for f in intake.FIELDS} | {f"goals.{f.id}": f for f in intake.GOAL_FIELDS}
    displays = [(i, parent) for i, parent in walk(q["item"]) if i["type"] == "display"]
    assert len(displays) == len(fields) == sum(1 for f in fields.values() if f.help)
    for item, parent in displays:
        assert control(item) == "help"
        assert item["linkId"] == parent["linkId"] + ".help"
        assert item["text"] == fields[parent["linkId"]].help
        assert "required" not in item and "repeats" not in item and "item" not in item


def test_every_text_option_and_the_title_carry_their_translations(q):
    hindi = lang.words("hi")
    assert translations(q["_title"]) == {"hi": hindi(intake.TITLE)} == {"hi": "मिलकर तय करें कि प्रगति क्या है"}
    texts = options = 0
    for item, _ in walk(q["item"]):
        said = translations(item.get("_text"))
        assert set(said) == set(OTHER_LANGUAGES), item["linkId"]
        for code in OTHER_LANGUAGES:
            assert said[code] == lang.words(code)(item["text"]) != item["text"]
        texts += 1
        for option in item.get("answerOption", []):
            coding = option["valueCoding"]
            assert translations(coding.get("_display")) == {c: lang.words(c)(coding["display"]) for c in OTHER_LANGUAGES}
            options += 1
    assert (texts, options) == (37, 15)
    baseline = items(q)["goals.baseline"]
    assert translations(baseline["_text"]) == {"hi": "0 से 10 में, अभी बात कहाँ है?"}


def test_a_translation_missing_from_a_catalog_is_left_out_not_said_in_english(monkeypatch):
    class Partial(lang.Words):
        code = "hi"

        def gettext(self, message):
            return message if message == intake.TITLE else "हिंदी: " + message
    monkeypatch.setattr(lang, "words", lambda code=None: Partial())
    q = questionnaire()
    assert "_title" not in q and q["title"] == intake.TITLE
    assert translations(q["item"][0]["_text"]) == {"hi": "हिंदी: " + intake.FIELDS[0].label}


def test_ids_codes_and_order_follow_the_intake_definition(q):
    assert [i["linkId"] for i in q["item"]] == [f.id for f in intake.FIELDS]
    goals = items(q)["goals"]
    assert [i["linkId"] for i in goals["item"] if i["type"] != "display"] == [f"goals.{f.id}" for f in intake.GOAL_FIELDS]
    for field in intake.FIELDS:
        if field.options:
            item = items(q)[field.id]
            assert [o["valueCoding"]["code"] for o in item["answerOption"]] == [o.code for o in field.options]
            assert {o["valueCoding"]["system"] for o in item["answerOption"]} == {sdc.option_system(field.id)}
