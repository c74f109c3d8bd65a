"""Re-importing a file (C9): items already in the bank (Moodle ID number, or the same type,
name, text and answers) are skipped or updated as the teacher chose, the report counts new,
updated and skipped, and the report is a page of its own: a reload shows it again."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.models.bank import Question

XML = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="truefalse">
    <name><text>Sky</text></name>
    <questiontext format="html"><text>The sky is blue.</text></questiontext>
    <defaultgrade>1</defaultgrade>
    <idnumber>SKY-1</idnumber>
    <answer fraction="100"><text>true</text></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>
  <question type="multichoice">
    <name><text>Capital</text></name>
    <questiontext format="html"><text>{stem}</text></questiontext>
    <defaultgrade>{points}</defaultgrade>
    <idnumber></idnumber>
    <single>true</single>
    <answer fraction="100"><text>Paris</text></answer>
    <answer fraction="0"><text>London</text></answer>
  </question>
</quiz>
"""


def _xml(stem="What is the capital of France?", points="1", sky="The sky is blue."):
    return XML.replace("{stem}", stem).replace("{points}", points).replace("The sky is blue.", sky).encode()


def _import(teach, data, duplicates=None, name="unit.xml"):
    form = {"format": "moodle-xml"}
    if duplicates:
        form["duplicates"] = duplicates
    posted = teach.post(teach.bank + "/import", data=form, files={"file": (name, data)})
    assert posted.status_code == 303, posted.text[:500]
    return posted.headers["Location"]


def _bank(teach):
    return teach.db(lambda s: [(q.name, q.stem_html, q.points, q.idnumber) for q in s.scalars(
        select(Question).where(Question.course_id == teach.course_id, Question.archived.is_(False))
        .order_by(Question.id))])


@pytest.mark.req("C9")
def test_reimporting_the_same_file_skips_what_is_already_in_the_bank(teach):
    first = teach.get(_import(teach, _xml())).text
    assert "2 new items" in first and "0 items already in the bank, skipped" in first
    assert [row[3] for row in _bank(teach)] == ["SKY-1", None]               # Moodle's ID number is kept
    again = teach.get(_import(teach, _xml())).text                            # the default: skip
    assert "0 new items" in again and "2 items already in the bank, skipped" in again
    assert len(_bank(teach)) == 2
    # the Moodle ID number finds the item even when its text changed in Moodle; skip leaves it as it was
    edited = teach.get(_import(teach, _xml(sky="The sky is blue on a clear day."), duplicates="skip")).text
    assert "0 new items" in edited and "2 items already in the bank, skipped" in edited
    assert _bank(teach)[0][1] == "The sky is blue."


@pytest.mark.req("C9")
def test_update_replaces_the_bank_items_with_the_files(teach):
    _import(teach, _xml())
    report = teach.get(_import(teach, _xml(sky="The sky is blue on a clear day.", points="2"),
                               duplicates="update")).text
    # Sky: same ID number, new text → updated. Capital: same content, new points → updated.
    assert "0 new items" in report and "2 items updated" in report
    rows = _bank(teach)
    assert len(rows) == 2 and rows[0][1] == "The sky is blue on a clear day." and rows[1][2] == 2.0
    same = teach.get(_import(teach, _xml(sky="The sky is blue on a clear day.", points="2"),
                             duplicates="update")).text
    assert "0 items updated" in same and "2 items already in the bank, skipped" in same
    # a different question (other text, no ID number) is new
    other = teach.get(_import(teach, _xml(stem="What is the capital of China?"), duplicates="update")).text
    assert "1 new item" in other and len(_bank(teach)) == 3


@pytest.mark.req("C9")
def test_the_report_survives_a_reload_and_bad_choices_are_refused(teach):
    where = _import(teach, _xml())
    assert "/bank/imports/" in where
    assert teach.get(where).status_code == 200
    reload = teach.get(where)                                                 # a reload: same report, no 405
    assert reload.status_code == 200 and "2 new items" in reload.text and "unit.xml" in reload.text
    opened = teach.get(teach.bank + "/import", allow_redirects=False)         # the POST's address, opened
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/bank#import")
    assert teach.get(teach.bank + "/imports/99999").status_code == 404
    bad = teach.post(teach.bank + "/import", data={"format": "gift", "duplicates": "merge"},
                     files={"file": ("unit.gift", b"::Sky::The sky is blue. {T}\n")})
    assert bad.status_code == 422 and "skip or update" in bad.text
    assert 'value="gift" selected' in bad.text                                # the form keeps what was chosen
