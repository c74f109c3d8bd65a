"""C9: an import lands whole or not at all, with a report naming what was skipped and why;
the CLI prints the report and exits non-zero when nothing was imported; export round-trips."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from bridge.errors import Invalid
from bridge.models.bank import Question, QuestionCategory, QuestionMedia
from bridge.services.exams import bank
from tests.exams import factories as f
from tests.fixtures.cli import run_cli

XML = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/top/单元一/Algebra</text></category></question>
  <question type="multichoice">
    <name><text>Two plus two</text></name>
    <questiontext format="html"><text><![CDATA[<p>2+2 = ? <img src="@@PLUGINFILE@@/dot.png"></p>]]></text>
      <file name="dot.png" path="/" encoding="base64">iVBORw0KGgo=</file></questiontext>
    <defaultgrade>2</defaultgrade><single>true</single><shuffleanswers>1</shuffleanswers>
    <answer fraction="100" format="html"><text>4</text></answer>
    <answer fraction="0" format="html"><text>5</text></answer>
  </question>
  <question type="truefalse">
    <name><text>Sky</text></name>
    <questiontext format="html"><text>The sky is green.</text></questiontext>
    <answer fraction="0"><text>true</text></answer><answer fraction="100"><text>false</text></answer>
  </question>
  <question type="matching">
    <name><text>Pairs</text></name>
    <questiontext format="html"><text>Match them.</text></questiontext>
  </question>
</quiz>
""".encode()

GIFT = """// a comment
::Capital:: The capital of France is {=Paris =paris}

::Essay:: Describe your method. {}
""".encode("utf-8")


@pytest.mark.req("C9")
def test_moodle_xml_import_reports_and_stores_categories_and_media(db_session):
    course = f.course(db_session)
    result = bank.import_file(db_session, course, XML, filename="export.xml", actor="test")
    db_session.commit()
    assert [name for _, name in result.imported] == ["Two plus two", "Sky"]
    assert len(result.skipped) == 1 and "matching" in result.skipped[0].reason.lower()
    assert "Pairs" in result.skipped[0].where
    q = db_session.get(Question, result.imported[0][0])
    assert q.qtype == "single" and q.points == 2 and [c["fraction"] for c in q.choices] == [1.0, 0.0]
    cats = db_session.scalars(select(QuestionCategory.name).order_by(QuestionCategory.id)).all()
    assert cats == ["单元一", "Algebra"] and q.category.name == "Algebra"
    assert db_session.scalar(select(func.count()).select_from(QuestionMedia)) == 1
    again = bank.export_course(db_session, course)
    round_trip = bank.parse(again, "moodle-xml")
    assert [i.name for i in round_trip.items] == ["Two plus two", "Sky"]


@pytest.mark.req("C9")
def test_gift_import(db_session):
    course = f.course(db_session)
    result = bank.import_file(db_session, course, GIFT, filename="unit.gift", actor="test")
    kinds = [db_session.get(Question, qid).qtype for qid, _ in result.imported]
    assert kinds == ["fill", "essay"]


@pytest.mark.req("C9")
@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE quiz [<!ENTITY x SYSTEM "file:///etc/passwd">]><quiz>&x;</quiz>',
    b"<quiz><question type='truefalse'>",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00",
])
def test_hostile_or_broken_files_are_refused_and_change_nothing(db_session, data):
    course = f.course(db_session)
    before = db_session.scalar(select(func.count()).select_from(Question))
    with pytest.raises(Invalid):
        bank.import_file(db_session, course, data, filename="bad.xml", actor="test")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Question)) == before


@pytest.mark.req("C9")
def test_cli_prints_the_report_and_fails_when_nothing_is_imported(app, db_session, tmp_path):
    course = f.course(db_session)
    db_session.commit()
    good, empty = tmp_path / "good.xml", tmp_path / "only-matching.gift"
    good.write_bytes(XML)
    empty.write_text("::M:: Match {=a -> b =c -> d}\n", encoding="utf-8")
    ok = run_cli(app, "bank", "import", str(good), "--course", str(course.id))
    assert ok.returncode == 0, ok.stderr
    assert "imported 2 item(s), skipped 1" in ok.stdout and "Pairs" in ok.stdout
    again = run_cli(app, "bank", "import", str(good), "--course", str(course.id))   # nothing new, not a failure
    assert again.returncode == 0 and "imported 0 item(s)" in again.stdout
    assert "already in the bank: 0 updated, 2 left as they were" in again.stdout
    none = run_cli(app, "bank", "import", str(empty), "--course", str(course.id))
    assert none.returncode == 1 and "imported 0 item(s)" in none.stdout
    missing = run_cli(app, "bank", "import", str(good), "--course", "999999")
    assert missing.returncode != 0 and "no course 999999" in missing.stderr and "Traceback" not in missing.stderr
