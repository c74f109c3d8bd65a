"""What teachers' files and editors bring stays inert on the teacher's pages (C9, C10): an
import refuses active media with the reason in its report, item HTML is cleaned in the
preview and on the grading pages, and a candidate's uploaded file reaches graders only as a
sandboxed download."""
from __future__ import annotations

import base64

import pytest

from bridge.models.bank import Question, QuestionMedia
from tests.teaching.grading_rows import paper_form, submitted_attempt

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HOSTILE_STEM = ('<p>2+2? <img src="x" onerror="alert(\'stem\')"></p><script>alert("stem")</script>'
                '<a href="javascript:alert(1)">hint</a><iframe src="https://evil.example/"></iframe>')
HOSTILE_CHOICE = '<b>four</b><img src=x onerror=alert("choice")><script>alert("choice")</script>'


def _xml(files: str) -> bytes:
    b64 = base64.b64encode
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="truefalse"><name><text>With a PNG</text></name>
    <questiontext format="html"><text><![CDATA[<p>Right? <img src="@@PLUGINFILE@@/ok.png"></p>]]></text>
      <file name="ok.png" path="/" encoding="base64">{b64(PNG).decode()}</file></questiontext>
    <answer fraction="100"><text>true</text></answer><answer fraction="0"><text>false</text></answer></question>
  <question type="truefalse"><name><text>With a drawing</text></name>
    <questiontext format="html"><text><![CDATA[<p>Right? <img src="@@PLUGINFILE@@/fig.svg"></p>]]></text>
      {files}</questiontext>
    <answer fraction="100"><text>true</text></answer><answer fraction="0"><text>false</text></answer></question>
</quiz>""".encode()


@pytest.mark.req("C9")
def test_an_import_refuses_active_media_and_its_report_says_why(teach):
    """Issue 13: a bank's fig.svg (or fig.html) was imported and later served inline."""
    svg = f'<file name="fig.svg" path="/" encoding="base64">{base64.b64encode(SVG).decode()}</file>'
    posted = teach.post(teach.bank + "/import", data={"format": "moodle-xml"}, files={"file": ("bank.xml", _xml(svg))})
    assert posted.status_code == 303
    report = teach.get(posted.headers["Location"]).text
    assert "With a PNG" in report and "With a drawing" in report
    assert "the embedded file &#39;fig.svg&#39; is not a PNG, JPEG, GIF or WebP image" in report
    assert teach.count(Question, course_id=teach.course_id) == 1                 # the item with the PNG only
    assert teach.count(QuestionMedia) == 1

    def stored(s):
        from sqlalchemy import select

        return s.scalars(select(QuestionMedia.mime)).all()

    assert teach.db(stored) == ["image/png"]


def _hostile(teach, ids):
    def edit(s):
        single = s.get(Question, ids["single"])
        single.stem_html = HOSTILE_STEM
        single.choices = [{**c, "html": HOSTILE_CHOICE if c["id"] == "b" else c["html"]} for c in single.choices]
        fill = s.get(Question, ids["fill"])
        fill.stem_html = "<p onclick=alert('fill')>Capital of France: [[1]]; of China: [[2]]</p>"

    teach.db(edit)


def _assert_clean(html: str):
    # (a title may show the stem's text with its tags stripped and escaped: inert, so not checked)
    for hostile in ("onerror", "onclick", "javascript:", "evil.example", "<script>alert", "&lt;script&gt;",
                    "<iframe src", "&lt;iframe"):
        assert hostile not in html, hostile


@pytest.mark.req("C9")
def test_the_preview_shows_item_html_cleaned(teach):
    ids = teach.questions()
    _hostile(teach, ids)
    single = teach.get(teach.bank + f"/{ids['single']}/preview")
    assert single.status_code == 200
    _assert_clean(single.text)
    assert "2+2?" in single.text and "&lt;b&gt;four&lt;/b&gt;" in single.text    # inside the iframe's srcdoc
    fill = teach.get(teach.bank + f"/{ids['fill']}/preview")
    _assert_clean(fill.text)
    frame = fill.text[fill.text.index("srcdoc="):]
    assert "blank-mark" in frame and "[[1]]" not in frame                      # blanks as the candidate sees them


@pytest.mark.req("C10")
def test_grading_pages_show_item_html_cleaned(teach):
    ids = teach.questions()
    exam = teach.exam()
    assert teach.post(teach.exam_path(exam) + "/paper/items", data=paper_form(ids)).status_code == 302
    _hostile(teach, ids)
    _b, sam = teach.candidate("5", "Sam Student")
    attempt = submitted_attempt(teach, exam, sam, ids)
    grading = teach.exam_path(exam) + "/grading"
    for path in (f"{grading}/{attempt}", f"{grading}/questions/{ids['single']}", f"{grading}/questions/{ids['fill']}"):
        page = teach.get(path)
        assert page.status_code == 200, path
        _assert_clean(page.text)
    sheet = teach.get(f"{grading}/{attempt}").text
    assert "<b>four</b>" in sheet and '<span class="blank-mark">(2) ______</span>' in sheet


@pytest.mark.req("C10", "C4")
def test_an_uploaded_answer_is_a_sandboxed_download_whatever_it_holds(teach):
    ids = teach.questions()
    exam = teach.exam()
    assert teach.post(teach.exam_path(exam) + "/paper/items", data=paper_form(ids)).status_code == 302
    _b, sam = teach.candidate("5", "Sam Student")
    page = b"<!doctype html><script>fetch('/course')</script>"
    attempt = submitted_attempt(teach, exam, sam, ids, upload=page)

    def file_id(s):
        from sqlalchemy import select

        from bridge.models.attempts import AnswerFile

        return s.scalars(select(AnswerFile.id).where(AnswerFile.attempt_id == attempt)).one()

    got = teach.get(teach.exam_path(exam) + f"/grading/{attempt}/files/{teach.db(file_id)}")
    assert got.status_code == 200 and got.content == page
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    directives = [d.strip() for d in got.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in directives and "default-src 'none'" in directives
    assert got.headers["X-Content-Type-Options"] == "nosniff"
