"""The JSON reader every boundary shares: nesting, text and number limits, and error messages that encode."""
from __future__ import annotations

import json

import pytest
from flask import Flask

from progress_plugin.schemas import jsonio
from progress_plugin.web.context import answer
from progress_plugin.errors import ValidationError


def problems(data) -> dict:
    with pytest.raises(ValidationError) as info:
        jsonio.loads(data)
    return info.value.messages


# -- nesting --------------------------------------------------------------------------------------
def test_nesting_up_to_the_limit_is_read_and_one_more_is_not():
    assert jsonio.loads("[" * 64 + "]" * 64) is not None
    with pytest.raises(jsonio.NotJSON) as info:
        jsonio.loads("[" * 65 + "]" * 65)
    assert info.value.status == 400
    assert info.value.messages == {"_schema": ["JSON nested more than 64 levels deep."]}


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000,
                                  "[" * 100_000, '{"a": ' + "[" * 10_000])
def test_ten_thousand_deep_is_refused_before_parsing(text):
    with pytest.raises(jsonio.NotJSON, match="nested too deeply"):
        jsonio.loads(text)


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"words": "[" * 500 + '\\"{' * 100, "list": [["]]]]"]]})
    assert jsonio.loads(text)["words"].startswith("[[[")
    assert jsonio.depth_exceeds(text) == 0


# -- text -----------------------------------------------------------------------------------------
def test_lone_surrogates_and_nul_are_refused_by_path_keys_too():
    found = problems('{"data": {"client_id": "c\\ud800", "tags": [{"code": "a\\u0000"}]}, "\\udfff": 1}')
    assert found["data"]["client_id"] == [jsonio.SURROGATE_MESSAGE]
    assert found["data"]["tags"][0]["code"] == [jsonio.NUL_MESSAGE]
    assert found["\\udfff"][0].startswith("This key: holds a lone surrogate")


def test_encoded_surrogates_are_not_utf8():
    with pytest.raises(jsonio.NotJSON) as info:
        jsonio.loads(b'{"a": "\xed\xa0\x80"}')
    assert info.value.messages == {"_schema": ["Not UTF-8 text (byte 7)."]}


def test_bidi_controls_pairs_and_every_other_character_are_kept():
    words = "\u202eevil\u202c \u2066x\u2069 \u200f \ufeff \U0001f600 क्ष \ue000 \u0378"
    assert jsonio.loads(json.dumps({"w": words}))["w"] == words
    assert jsonio.loads('"\\ud83d\\ude00"') == "\U0001f600"          # a surrogate pair is one character


# -- numbers --------------------------------------------------------------------------------------
def test_integers_are_64_bit_and_huge_ones_are_refused_by_path_without_conversion():
    assert jsonio.loads(f"[{2 ** 63 - 1}, {-(2 ** 63)}]") == [2 ** 63 - 1, -(2 ** 63)]
    found = problems('{"a": [1, ' + str(2 ** 63) + '], "b": ' + "9" * 5000 + ', "c": -' + "1" * 30 + "}")
    assert found == {"a": {1: [jsonio.NUMBER_MESSAGE]}, "b": [jsonio.NUMBER_MESSAGE], "c": [jsonio.NUMBER_MESSAGE]}


def test_floats_that_overflow_and_nan_or_infinity_are_refused():
    assert problems('{"x": 1e999}') == {"x": [jsonio.FLOAT_MESSAGE]}
    for text in ('{"x": NaN}', "[Infinity]", "-Infinity"):
        with pytest.raises(jsonio.NotJSON, match="not valid JSON"):
            jsonio.loads(text)


def test_a_syntax_error_names_its_line_and_column():
    with pytest.raises(jsonio.NotJSON) as info:
        jsonio.loads('{\n  "a": [,]\n}')
    assert info.value.messages["_schema"][0].startswith("line 2 column 9: not valid JSON")


# -- messages written back ------------------------------------------------------------------------
def test_messages_with_int_and_str_keys_are_written_as_sorted_json():
    messages = {"entry": {0: ["Expected a CodeSystem."], 1: ["Expected a CodeSystem."], "_schema": ["Exactly one."]},
                "a\ud800": ["Unknown field."], 2: {"0": ["x"]}, "2": {0: ["y"]}}
    with Flask(__name__).app_context():
        response = answer(422, json=messages)
    body = json.loads(response.get_data())
    assert list(body["json"]["entry"]) == ["0", "1", "_schema"]
    assert body["json"]["a\\ud800"] == ["Unknown field."]
    assert body["json"]["2"] == {"0": ["x", "y"]}
    response.get_data().decode("utf-8")


def test_plain_keys_can_keep_int_keys_for_hosts():
    assert jsonio.plain_keys({0: {"\x00": ["m\udc80"]}}, keys_as_text=False) == {0: {"\\u0000": ["m\\udc80"]}}


def test_plain_keys_keeps_a_marked_sentence_sayable_unless_it_had_to_escape_it():
    from progress_plugin.core.words import Msg, msg
    out = jsonio.plain_keys({0: [msg("Goal {rank}", rank=1)], "b": [msg("Not a tag code: {c}.", c="\x00")]})
    assert out == {"0": ["Goal 1"], "b": ["Not a tag code: \\u0000."]}
    assert isinstance(out["0"][0], Msg) and out["0"][0].template == "Goal {rank}"
    assert type(out["b"][0]) is str                  # escaped text is no longer the sentence its template makes
