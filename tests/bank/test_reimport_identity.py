"""What tells a re-imported question from a new one (C9): Moodle's ID number survives import
and export, and the content fingerprint ignores what does not make a different question."""
from dataclasses import replace

import pytest

from bridge.bank import moodle_xml
from bridge.bank.model import Choice, Item, fingerprint

XML = b"""<?xml version="1.0"?><quiz><question type="truefalse"><name><text>Sky</text></name>
<questiontext format="html"><text>The sky is blue.</text></questiontext><idnumber> SKY-1 </idnumber>
<answer fraction="100"><text>true</text></answer><answer fraction="0"><text>false</text></answer></question></quiz>"""


@pytest.mark.req("C9")
def test_the_moodle_id_number_is_read_and_written_back():
    [item] = moodle_xml.parse(XML).items
    assert item.idnumber == "SKY-1"
    [again] = moodle_xml.parse(moodle_xml.export([item]).encode() if isinstance(moodle_xml.export([item]), str)
                               else moodle_xml.export([item])).items
    assert again.idnumber == "SKY-1" and fingerprint(again) == fingerprint(item)


@pytest.mark.req("C9")
def test_the_fingerprint_is_type_name_text_and_answers():
    base = Item(qtype="single", name="Capital", stem_html="<p>Capital of  France?</p>",
                choices=(Choice("Paris", 1.0), Choice("London", 0.0)))
    assert fingerprint(base) == fingerprint(replace(base, stem_html="Capital of France?", points=3,
                                                    category=("Unit 2",), general_feedback_html="x"))
    for other in (replace(base, name="Capital 2"), replace(base, stem_html="Capital of China?"),
                  replace(base, choices=(Choice("Paris", 0.0), Choice("London", 1.0))),
                  replace(base, qtype="multiple")):
        assert fingerprint(other) != fingerprint(base)
