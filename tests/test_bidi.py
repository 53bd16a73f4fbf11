"""Balancing a person's own bidi controls before isolating them."""
import pytest

from progress_plugin.core.bidi import FSI, PDF, PDI, balance, isolate
from progress_plugin.view.bidi import bdi

RLO, LRE, RLI = "\u202e", "\u202a", "\u2067"


@pytest.mark.parametrize("words,balanced", [
    ("plain words", "plain words"),
    ("\u05e9\u05dc\u05d5\u05dd and \u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd and \u0645\u0631\u062d\u0628\u0627"),
    (f"a{RLO}b", f"a{RLO}b{PDF}"),                          # left open: closed at the end
    (f"a{PDF}b{PDI}c", "abc"),                             # closers nothing opened: dropped
    (f"{RLI}a{LRE}b{PDI}c", f"{RLI}a{LRE}b{PDF}{PDI}c"),  # an isolate's end closes what it holds
    (f"{RLI}a{PDF}b", f"{RLI}ab{PDI}"),                    # a PDF cannot reach out of an isolate
    ("\u200fmarks stay\u200e", "\u200fmarks stay\u200e"),
])
def test_balance_pairs_every_control(words, balanced):
    assert balance(words) == balanced


def test_isolate_and_bdi_wrap_the_balanced_words():
    assert isolate(f"x{RLO}y") == f"{FSI}x{RLO}y{PDF}{PDI}"
    assert bdi(f"<b>{RLO}") == f'<bdi dir="auto">&lt;b&gt;{RLO}{PDF}</bdi>'   # the words' own direction


def test_deep_nesting_is_capped():
    text = RLO * 500 + "x"
    out = balance(text)
    assert out.count(RLO) == out.count(PDF) <= 60
