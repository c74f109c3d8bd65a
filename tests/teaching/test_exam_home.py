"""The exam's home page for its teacher (a readiness checklist with the next step, the
deliveries refreshing themselves, no proctor among the candidates) and the sessions page
(edit and delete until the start, start and end shown in the institution's zone, select all)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.models.papers import ExamSession


def _step(page: str) -> str:
    return re.search(r'id="next-step" data-step="(\w+)"', page).group(1)


@pytest.mark.req("C8", "L5")
def test_exam_home_is_a_checklist_whose_next_step_follows_the_work(teach):
    ids = teach.questions()
    exam = teach.exam()
    home = f"/exam/{exam}"
    page = teach.get(home).text
    assert 'id="readiness"' in page and _step(page) == "paper"
    assert re.search(r'class="next-of-exam">\s*Build the paper<', teach.get(teach.course_path).text)
    assert re.search(r'id="next-action" href="[^"]*/exams/%d/paper"' % exam, page)
    for key in ("paper", "sessions", "candidates", "proctor", "placement", "grading", "release"):
        assert f'id="check-{key}"' in page
    assert teach.post(teach.exam_path(exam) + "/paper/items", data={
        "section": "items", f"use_{ids['essay']}": "1", f"points_{ids['essay']}": "7.5"}).status_code == 302
    page = teach.get(home).text
    assert _step(page) == "sessions" and "1 item · 7.5 points" in page
    teach.post(teach.exam_path(exam) + "/sessions", data={"name": "Morning", "date": "2030-06-01", "time": "09:00"})
    page = teach.get(home).text
    assert _step(page) == "candidates" and "1 session" in page and "2030-06-01 09:00 (UTC)" in page


@pytest.mark.req("L5", "L4")
def test_no_proctor_among_the_candidates_and_deliveries_refresh_themselves(teach, lti_env):
    exam = teach.exam()
    student, sam = teach.candidate("5", "Sam Student")
    _p, pat = teach.candidate("6", "Pat Proctor")
    assert teach.post(f"/course/{teach.course_id}/proctors", data={"user_id": pat, "on": "1"}).status_code == 302
    page = teach.get(f"/exam/{exam}").text
    options = re.findall(r'<option value="(\d+)">([^<]+)</option>', page)
    assert (str(sam), "Sam Student") in options and all(name != "Pat Proctor" for _v, name in options)
    assert "Designated: Pat Proctor" in page
    refused = teach.post(teach.exam_path(exam) + "/score", data={"user_id": str(pat), "score": "5"})
    assert refused.status_code == 422
    fragment = teach.get(f"/exam/{exam}/deliveries")
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="deliveries"')
    assert 'data-url="/exam/%d/deliveries"' % exam in page and "/static/deliveries.js" in page
    assert "fetch(box.dataset.url" in teach.get("/static/deliveries.js").text  # a file: the CSP runs no inline script
    assert lti_env.get(f"/exam/{exam}/deliveries", http=student).status_code == 403


@pytest.mark.req("V4")
def test_sessions_are_edited_and_deleted_until_they_start(teach):
    exam = teach.exam()                                           # 60 minutes
    teach.candidate("5", "Sam Student")
    path = teach.exam_path(exam) + "/sessions"
    start = clock.utcnow_naive() + dt.timedelta(days=2)
    teach.post(path, data={"name": "Morning", "date": f"{start:%Y-%m-%d}", "time": "09:00"})
    sid = teach.db(lambda s: s.scalars(select(ExamSession.id)).one())
    page = teach.get(path).text
    assert f"{start:%Y-%m-%d} 09:00 (UTC)" in page and f"{start:%Y-%m-%d} 10:00 (UTC)" in page   # start and end
    assert 'id="select-all"' in page
    edit = f"{path}/{sid}/edit"
    form = teach.get(edit)
    assert form.status_code == 200 and 'value="Morning"' in form.text and 'value="09:00"' in form.text
    bad = teach.post(edit, data={"name": "Late morning", "date": f"{start:%Y-%m-%d}", "time": "25:00"})
    assert bad.status_code == 422 and 'value="Late morning"' in bad.text       # what was typed is kept
    done = teach.post(edit, data={"name": "Late morning", "date": f"{start:%Y-%m-%d}", "time": "11:30", "remote": "1"})
    assert done.status_code == 302
    row = teach.db(lambda s: (lambda x: (x.name, x.starts_at, x.exam_code))(s.get(ExamSession, sid)))
    assert row[0] == "Late morning" and row[1] == start.replace(hour=11, minute=30, second=0, microsecond=0)
    assert re.fullmatch(r"\d{6}", row[2])
    confirm = teach.get(f"{path}/{sid}/delete")
    assert confirm.status_code == 200 and "Delete the session" in confirm.text
    # once started: refused with a message, kept (time passes: the start is now a minute ago)
    ago = clock.utcnow_naive() - dt.timedelta(minutes=1)
    teach.db(lambda s: setattr(s.get(ExamSession, sid), "starts_at", ago))
    assert "no longer editable" in teach.get(path).text
    refused = teach.post(edit, data={"name": "X", "date": f"{start:%Y-%m-%d}", "time": "11:30"})
    assert refused.status_code == 409 and "already started" in refused.text
    gone = teach.post(f"{path}/{sid}/delete")
    assert gone.status_code == 302 and "already started" in teach.get(gone.headers["Location"]).text
    assert teach.db(lambda s: s.get(ExamSession, sid)) is not None
    teach.db(lambda s: setattr(s.get(ExamSession, sid), "starts_at", start))
    deleted = teach.post(f"{path}/{sid}/delete")
    assert deleted.status_code == 302 and "deleted" in teach.get(deleted.headers["Location"]).text
    assert teach.db(lambda s: s.get(ExamSession, sid)) is None


@pytest.mark.req("V4")
def test_session_times_are_entered_and_shown_in_the_institutions_zone(teach, lti_env, monkeypatch):
    monkeypatch.setitem(lti_env.app.config, "EXAMBRIDGE_TIMEZONE", "Asia/Shanghai")
    exam = teach.exam()
    path = teach.exam_path(exam) + "/sessions"
    page = teach.get(path).text
    assert "Start time (Asia/Shanghai)" in page and "(UTC)" not in page
    teach.post(path, data={"name": "Morning", "date": "2030-06-01", "time": "09:00"})
    stored = teach.db(lambda s: s.scalars(select(ExamSession.starts_at)).one())
    assert stored == dt.datetime(2030, 6, 1, 1, 0)                           # UTC in the database
    page = teach.get(path).text
    assert "2030-06-01 09:00 (Asia/Shanghai)" in page and 'datetime="2030-06-01T01:00:00Z"' in page
    assert "2030-06-01 09:00 (Asia/Shanghai)" in teach.get(f"/exam/{exam}").text
