"""Grading (C10): every answer of every item type with the right answer and the automatic
score, overrides with a reason (audited) that release sends, absent candidates, "next
ungraded", one item across all candidates, and anchors that lead somewhere."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bridge.models.audit import AuditEntry
from tests.teaching.grading_rows import ANSWERS, paper_form, submitted_attempt


def _exam_with_paper(teach, kinds=("single", "multiple", "truefalse", "fill", "essay", "upload")):
    ids = teach.questions()
    exam = teach.exam()
    assert teach.post(teach.exam_path(exam) + "/paper/items", data=paper_form(ids, kinds)).status_code == 302
    return ids, exam


def _anchors_resolve(html: str):
    targets = set(re.findall(r'id="([^"]+)"', html))
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert anchor in targets, anchor


@pytest.mark.req("C10", "C4")
def test_grading_shows_every_answer_with_right_answer_and_automatic_score(teach):
    ids, exam = _exam_with_paper(teach)
    _b, sam = teach.candidate("5", "Sam Student")
    attempt = submitted_attempt(teach, exam, sam, ids)
    grading = teach.exam_path(exam) + "/grading"
    page = teach.get(f"{grading}/{attempt}")
    assert page.status_code == 200
    html = page.text
    for kind, qid in ids.items():
        assert f'id="q{qid}"' in html, kind                         # a section for every item, objective too
    _anchors_resolve(html)
    single = html[html.index(f'id="q{ids["single"]}"'):html.index(f'id="q{ids["multiple"]}"')]
    assert "chosen" in single and "Automatic score:" in single and "2 of 2" in single
    multiple = html[html.index(f'id="q{ids["multiple"]}"'):html.index(f'id="q{ids["truefalse"]}"')]
    assert multiple.count('<span class="badge">chosen</span>') == 2 and "0 of 3" in multiple
    tf = html[html.index(f'id="q{ids["truefalse"]}"'):html.index(f'id="q{ids["fill"]}"')]
    assert re.search(r"Answer:\s*<strong>False</strong>", tf) and re.search(r"Right answer:\s*<strong>True</strong>", tf)
    fill = html[html.index(f'id="q{ids["fill"]}"'):html.index(f'id="q{ids["essay"]}"')]
    assert "paris" in fill and "Rome" in fill and "Paris" in fill and "北京 · Beijing" in fill and "1 of 2" in fill
    essay = html[html.index(f'id="q{ids["essay"]}"'):html.index(f'id="q{ids["upload"]}"')]
    assert "Because of causes." in essay and "not graded" in essay
    upload = html[html.index(f'id="q{ids["upload"]}"'):]
    link = re.search(r'href="([^"]+/files/\d+)"[^>]*>sheet.xlsx</a>', upload)
    assert link, upload[:600]
    got = teach.get(link.group(1))
    assert got.status_code == 200 and got.content == b"PK\x03\x04 sheet"
    assert "attachment" in got.headers["Content-Disposition"]
    assert "94.4444" not in html and "%g" not in html


@pytest.mark.req("C10", "P16")
def test_an_override_needs_a_reason_is_audited_and_is_what_release_sends(teach):
    from lms_plugin.models import ScoreOutbox

    ids, exam = _exam_with_paper(teach, ("single", "truefalse", "essay"))
    _b, sam = teach.candidate("5", "Sam Student")
    attempt = submitted_attempt(teach, exam, sam, ids, answers={k: ANSWERS[k] for k in ("single", "truefalse", "essay")})
    grading = teach.exam_path(exam) + "/grading"
    tf = f"{grading}/{attempt}/items/{ids['truefalse']}"
    refused = teach.post(tf, data={"points": "1", "reason": "  "})
    assert refused.status_code == 422 and f'id="err-points_{ids["truefalse"]}"' in refused.text
    assert "Give a reason for overriding the automatic score." in refused.text
    assert 'value="1"' in refused.text                                     # what was typed is kept
    too_many = teach.post(tf, data={"points": "4", "reason": "x"})
    assert too_many.status_code == 422 and "Points must be between 0 and 1." in too_many.text
    ok = teach.post(tf, data={"points": "1", "reason": "The statement was ambiguous."})
    assert ok.status_code == 302 and ok.headers["Location"].endswith(f"/grading/{attempt}#q{ids['truefalse']}")
    page = teach.get(f"{grading}/{attempt}").text
    assert "Overridden:" in page and "The statement was ambiguous." in page
    target, detail = teach.db(lambda s: s.execute(select(AuditEntry.target, AuditEntry.detail).where(
        AuditEntry.action == "grade.override")).one())
    assert detail == {"before": 0.0, "after": 1.0, "reason": "The statement was ambiguous."}
    assert target == f"attempt:{attempt}/q:{ids['truefalse']}"
    assert teach.post(f"{grading}/{attempt}/items/{ids['essay']}", data={"points": "7"}).status_code == 302
    assert teach.post(teach.exam_path(exam) + "/release").status_code == 302
    given = teach.db(lambda s: s.scalars(select(ScoreOutbox.score_given).where(ScoreOutbox.exam_id == exam)).one())
    assert given == pytest.approx((2 + 1 + 7) / 13 * 100, abs=0.01)       # the override counts (1, not 0)
    # a re-score (the sweeper, a second release) keeps the teacher's points
    assert teach.post(teach.exam_path(exam) + "/release").status_code == 302
    page = teach.get(f"{grading}/{attempt}").text
    assert "Total: 10 of 13" in page


@pytest.mark.req("C10", "P9")
def test_candidates_who_never_sat_are_listed_as_absent(teach):
    from bridge.models.attempts import Attempt
    from bridge.models.papers import ExamSession
    from bridge.services.exams import exam_sessions

    ids, exam = _exam_with_paper(teach, ("single", "essay"))
    _b, sam = teach.candidate("5", "Sam Student")
    _b2, amy = teach.candidate("6", "Amy Absent")
    _b3, reg = teach.candidate("7", "Rex Registered")
    submitted_attempt(teach, exam, sam, ids, answers={"single": {"choice": "b"}})

    def place(s):
        sitting = s.scalars(select(ExamSession).where(ExamSession.exam_id == exam)).one()
        exam_sessions.assign(s, sitting, [amy, reg], actor_id=sam)
        s.add(Attempt(exam_id=exam, session_id=sitting.id, user_id=reg, status="absent", items=[]))

    teach.db(place)
    page = teach.get(teach.exam_path(exam) + "/grading").text
    absent = page[page.index('id="absent"'):]
    assert "Amy Absent" in absent and "Rex Registered" in absent and "Sam Student" not in absent
    assert absent.count('<span class="badge">absent</span>') == 2


@pytest.mark.req("C10")
def test_next_ungraded_and_one_item_across_all_candidates(teach):
    ids, exam = _exam_with_paper(teach, ("single", "essay"))
    _b, sam = teach.candidate("5", "Sam Student")
    _b2, sue = teach.candidate("6", "Sue Student")
    first = submitted_attempt(teach, exam, sam, ids, answers={"single": {"choice": "b"}, "essay": {"text": "Sam's"}})
    second = submitted_attempt(teach, exam, sue, ids, answers={"single": {"choice": "a"}, "essay": {"text": "Sue's"}})
    grading = teach.exam_path(exam) + "/grading"
    listing = teach.get(grading).text
    assert f'href="{grading}/{first}">Next ungraded: Sam Student' in listing
    assert f'href="{grading}/questions/{ids["essay"]}"' in listing
    page = teach.get(f"{grading}/{first}").text
    assert f'href="{grading}/{second}">Next ungraded: Sue Student' in page
    # one item, every candidate
    by_item = f"{grading}/questions/{ids['essay']}"
    page = teach.get(by_item)
    assert page.status_code == 200 and "Sam&#39;s" in page.text and "Sue&#39;s" in page.text
    _anchors_resolve(page.text)
    bad = teach.post(f"{grading}/{second}/items/{ids['essay']}", data={"points": "11", "back": "question"})
    assert bad.status_code == 422 and f'id="err-points_{second}_{ids["essay"]}"' in bad.text and "Sam&#39;s" in bad.text
    ok = teach.post(f"{grading}/{second}/items/{ids['essay']}", data={"points": "4.5", "back": "question"})
    assert ok.status_code == 302 and ok.headers["Location"].endswith(f"/grading/questions/{ids['essay']}#a{second}")
    page = teach.get(f"{grading}/{second}").text
    assert f'href="{grading}/{first}">Next ungraded: Sam Student' in page    # wraps round to the first
    teach.post(f"{grading}/{first}/items/{ids['essay']}", data={"points": "10"})
    page = teach.get(f"{grading}/{first}").text
    assert "Next ungraded" not in page and "Every other attempt is graded." in page
    assert teach.get(f"{grading}/questions/99999").status_code == 404
    single = teach.get(f"{grading}/questions/{ids['single']}").text
    assert "Sue Student" in single and "0 of 2" in single and "Reason (required)" in single


@pytest.mark.req("C10")
def test_scores_are_rounded_for_people_and_plurals_agree(teach):
    ids, exam = _exam_with_paper(teach, ("single", "essay"))
    _b, sam = teach.candidate("5", "Sam Student")
    attempt = submitted_attempt(teach, exam, sam, ids, answers={"single": {"choice": "b"}, "essay": {"text": "x"}})
    grading = teach.exam_path(exam) + "/grading"
    assert teach.post(f"{grading}/{attempt}/items/{ids['essay']}", data={"points": "7.44444"}).status_code == 302
    for page in (teach.get(grading).text, teach.get(f"{grading}/{attempt}").text):
        assert "9.44 of 12" in page and "9.44444" not in page
    assert re.search(r"1 attempt complete,\s+0 need grading\.", teach.get(grading).text)
    release = teach.get(teach.exam_path(exam) + "/release").text
    assert "Release 1 score<" in release and "score(s)" not in release
    preview = teach.get(f"{teach.bank}/{ids['truefalse']}/preview").text
    assert "1 point ·" in preview and "1 points" not in preview and "point(s)" not in preview
