"""C10: objective items scored automatically, with the paper's partial-credit rule."""
from types import SimpleNamespace as NS

import pytest

from bridge.services.delivery.scoring import score_item

SINGLE = NS(qtype="single", choices=[{"id": "a", "fraction": 0}, {"id": "b", "fraction": 1}])
MULTI = NS(qtype="multiple", choices=[{"id": "a", "fraction": 0.5}, {"id": "b", "fraction": 0.5},
                                      {"id": "c", "fraction": -1}, {"id": "d", "fraction": 0}])
TF = NS(qtype="truefalse", correct=False)
FILL = NS(qtype="fill", blanks=[{"accepted": ["Paris"], "case_sensitive": False, "ignore_spaces": True},
                                {"accepted": ["H2O"], "case_sensitive": True, "ignore_spaces": True}])


@pytest.mark.req("C10", "C4")
@pytest.mark.parametrize("q, response, rule, points", [
    (SINGLE, {"choice": "b"}, "all_or_nothing", 2.0),
    (SINGLE, {"choice": "a"}, "all_or_nothing", 0.0),
    (SINGLE, {"choice": "zz"}, "all_or_nothing", 0.0),
    (SINGLE, None, "all_or_nothing", 0.0),
    (SINGLE, {"choices": ["b"]}, "all_or_nothing", 0.0),
    (MULTI, {"choices": ["a", "b"]}, "all_or_nothing", 2.0),
    (MULTI, {"choices": ["a"]}, "all_or_nothing", 0.0),
    (MULTI, {"choices": ["a"]}, "proportional", 1.0),
    (MULTI, {"choices": ["a", "c"]}, "proportional", 0.0),
    (MULTI, {"choices": ["a", "b", "c"]}, "proportional_with_penalty", 1.0),
    (MULTI, {"choices": ["a", "c", "d"]}, "proportional_with_penalty", 0.0),
    (MULTI, {"choices": "a"}, "proportional", 0.0),
    (TF, {"value": False}, "all_or_nothing", 2.0),
    (TF, {"value": "false"}, "all_or_nothing", 0.0),
    (FILL, {"blanks": [" paris ", "H2O"]}, "all_or_nothing", 2.0),
    (FILL, {"blanks": ["PARIS", "h2o"]}, "all_or_nothing", 1.0),
    (FILL, {"blanks": ["Paris"]}, "all_or_nothing", 1.0),
    (FILL, {"blanks": [3, None]}, "all_or_nothing", 0.0),
])
def test_objective_items(q, response, rule, points):
    assert score_item(q, 2.0, response, multiple_rule=rule) == points


@pytest.mark.req("C10")
def test_full_width_and_spacing_are_normalised():
    q = NS(qtype="fill", blanks=[{"accepted": ["ABC 12"], "case_sensitive": True, "ignore_spaces": True}])
    assert score_item(q, 1.0, {"blanks": ["ＡＢＣ１２"]}) == 1.0
