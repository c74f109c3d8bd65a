"""The exam's proctor page over real HTTP (P1, P7, C6): a remote session's board lists every
assigned candidate, the one who never logged in included, and the live socket behind it
(/ws/proctor/<session>) answers the course's teacher and a designated proctor, nobody else."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import websocket
from sqlalchemy import select

from bridge.models.users import Course, User
from tests.exams import factories as f


def _remote_session(lti_env):
    """Tess teaches; Sam, Sue and Nora (a learner Tess makes proctor) launched; a remote
    session in 5 minutes with Sam and Sue on it. Sam opens the exam (logs in); Sue never comes."""
    from bridge.extensions import transaction
    from bridge.services.exams import papers, exam_sessions

    lti_env.launch(role="Instructor", sub="3")
    sam, sue, nora = lti_env.browser(), lti_env.browser(), lti_env.browser()
    lti_env.launch(role="Learner", sub="5", name="Sam Student", http=sam)
    lti_env.launch(role="Learner", sub="6", name="Sue Student", http=sue)
    lti_env.launch(role="Learner", sub="7", name="Nora Proctor", http=nora)
    with lti_env.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        people = {u.lti_sub: u for u in s.scalars(select(User))}
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=30)
        papers.set_fixed_items(s, exam, [(qs[k].id, 2.0) for k in ("single", "fill")], actor_id=people["3"].id)
        papers.update_settings(s, exam, actor_id=people["3"].id, remote_allowed=True)
        sess = exam_sessions.create_session(s, exam, name="Remote", starts_at=f.now() + dt.timedelta(minutes=5),
                                       remote=True, actor_id=people["3"].id)
        exam_sessions.assign(s, sess, [people["5"].id, people["6"].id], actor_id=people["3"].id)
        ids = dict(exam=exam.id, session=sess.id, course=course.id, nora=people["7"].id, code=sess.exam_code)
    assert lti_env.get(f"/exam/{ids['exam']}/sit", http=sam).status_code == 200       # Sam logs in
    return sam, nora, ids


def _socket(lti_env, http, session_id):
    cookies = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    url = lti_env.bridge.replace("http", "ws", 1) + f"/ws/proctor/{session_id}"
    return websocket.create_connection(url, cookie=cookies, origin=lti_env.bridge, timeout=10)


@pytest.mark.req("P1", "P7")
def test_the_proctor_page_lists_every_assigned_candidate_of_a_remote_session(lti_env):
    sam, nora, ids = _remote_session(lti_env)
    page = lti_env.get(f"/exam/{ids['exam']}/proctor")
    assert page.status_code == 200
    assert "Sam Student" in page.text and "Sue Student" in page.text            # Sue never logged in
    assert 'data-status="not_logged_in"' in page.text and 'data-status="logged_in"' in page.text
    assert f'data-board-socket="/ws/proctor/{ids["session"]}"' in page.text and ids["code"] in page.text
    assert 'class="legend"' in page.text and 'data-count="not_logged_in" id="s' in page.text

    # a designated proctor (a learner the teacher named) opens the page and its socket
    assert lti_env.get(f"/exam/{ids['exam']}/proctor", http=nora).status_code == 403
    assert lti_env.post(f"/course/{ids['course']}/proctors", data={"user_id": str(ids["nora"]), "on": "1"}
                        ).status_code == 200
    assert lti_env.get(f"/exam/{ids['exam']}/proctor", http=nora).status_code == 200
    ws = _socket(lti_env, nora, ids["session"])
    try:
        board = json.loads(ws.recv())
    finally:
        ws.close()
    assert {s["name"]: s["status"] for s in board["seats"]} == {"Sam Student": "logged_in",
                                                                "Sue Student": "not_logged_in"}
    assert board["counts"]["expected"] == 2 and board["session_id"] == ids["session"]


@pytest.mark.req("P1")
def test_the_session_socket_answers_nobody_else(lti_env):
    sam, _nora, ids = _remote_session(lti_env)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _socket(lti_env, sam, ids["session"])                                   # a candidate
    assert refused.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException) as missing:
        _socket(lti_env, lti_env.http, 999999)
    assert missing.value.status_code == 404
    with pytest.raises(websocket.WebSocketBadStatusException) as foreign:        # another site's page
        cookies = "; ".join(f"{c.name}={c.value}" for c in lti_env.http.cookies)
        websocket.create_connection(lti_env.bridge.replace("http", "ws", 1) + f"/ws/proctor/{ids['session']}",
                                    cookie=cookies, origin="https://evil.example", timeout=10)
    assert foreign.value.status_code == 403
