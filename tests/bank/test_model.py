"""validate(): the reason an item can't be used, in words a teacher can act on."""
from dataclasses import replace

import pytest

from bridge.bank.model import Blank, Choice, Item, validate

pytestmark = pytest.mark.req("C9", "C4")

SINGLE = Item("single", "S", "<p>Pick</p>", choices=(Choice("a", 1.0), Choice("b", 0.0)))
FILL = Item("fill", "F", "<p>[[1]] and [[2]]</p>", blanks=(Blank(("x",)), Blank(("y",))))


@pytest.mark.parametrize("item", [
    SINGLE,
    Item("multiple", "M", "<p>Pick</p>", choices=(Choice("a", 0.5), Choice("b", 0.5),
                                                 Choice("c", -1.0))),
    Item("truefalse", "T", "<p>x</p>", correct=False),
    FILL,
    Item("fill", "one", "<p>Capital?</p>", blanks=(Blank(("Paris",)),)),
    Item("essay", "E", "<p>Discuss</p>"),
    Item("upload", "U", '<img src="@@PLUGINFILE@@/a.png">', upload_extensions=(".pdf",),
         upload_max_bytes=10),
])
def test_usable_items(item):
    assert validate(item) is None


@pytest.mark.parametrize("item, reason", [
    (replace(SINGLE, qtype="matching"),
     "type 'matching' is not one of single, multiple, truefalse, fill, essay, upload"),
    (replace(SINGLE, stem_html="<p> &nbsp;</p>"), "the question text is empty"),
    (replace(SINGLE, points=0), "the points must be more than 0 (found 0)"),
    (replace(SINGLE, choices=(Choice("a", 1.0), Choice("b", 1.0))),
     "a single-choice question needs exactly one fully correct answer (found 2)"),
    (replace(SINGLE, choices=(Choice("a", 0.5), Choice("b", 0.0))),
     "a single-choice question needs exactly one fully correct answer (found 0)"),
    (replace(SINGLE, choices=(Choice("a", 1.0),)),
     "a choice question needs at least 2 answers (found 1)"),
    (replace(SINGLE, choices=(Choice("a", 1.0), Choice("<p></p>", 0.0))), "answer 2 is empty"),
    (replace(SINGLE, choices=(Choice("a", 1.0), Choice("b", 2.0))),
     "answer 2 has a grade of 200%; use -100% to 100%"),
    (replace(SINGLE, qtype="multiple", choices=(Choice("a", 0.0), Choice("b", -0.5))),
     "a multiple-choice question needs at least one answer with a positive grade"),
    (replace(SINGLE, qtype="truefalse"), "truefalse questions can't have answer choices"),
    (Item("truefalse", "T", "x"),
     "a true/false question must say whether the statement is true or false"),
    (replace(FILL, blanks=()), "a fill-in-the-blank question needs at least one blank"),
    (replace(FILL, blanks=(Blank(("x",)), Blank(()))),
     "blank 2 has no accepted answer (or an empty one)"),
    (replace(FILL, blanks=(Blank(("x",)), Blank((" ",)))),
     "blank 2 has no accepted answer (or an empty one)"),
    (replace(FILL, stem_html="<p>[[2]] and [[1]]</p>"),
     "the question has 2 blank(s), so its text must mark where they go with [[1]] [[2]], "
     "each once and in that order (found [[2]] [[1]])"),
    (replace(FILL, stem_html="<p>no marks</p>"),
     "the question has 2 blank(s), so its text must mark where they go with [[1]] [[2]], "
     "each once and in that order (found no marks)"),
    (Item("essay", "E", "x", blanks=(Blank(("a",)),)), "essay questions can't have blanks"),
    (Item("upload", "U", "x", upload_max_bytes=0),
     "the maximum upload size must be more than 0 bytes"),
    (Item("upload", "U", "x", upload_extensions=("pdf",)),
     "allowed file types must be extensions like .pdf (found pdf)"),
])
def test_unusable_items_say_why(item, reason):
    assert validate(item) == reason
