"""The board of a whole session (P1, P7, C6): a remote session (exam code, no room) has a
live board too, listing every assigned candidate — those who never logged in and those
registered absent included — with the state, why the last lock happened, the time left,
the progress and the last contact. Before, the proctor saw only candidates who logged in."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bridge import clock
from bridge.errors import NotFound
from bridge.models.attempts import Attempt
from bridge.services.delivery import answers, attempts
from bridge.services.exams import papers, exam_sessions
from bridge.services.proctoring import console
from bridge.services.proctoring import boards
from tests.exams import factories as f


@pytest.fixture
def remote(db_session):
    """A remote session (exam code) of four candidates, starting in 10 minutes; 60-minute exam of 3 items."""
    s = db_session
    c = f.course(s)
    teacher = f.member(s, c, "teacher", "Tess")
    ann, ben, cal, dee = (f.member(s, c, name=n) for n in ("Ann", "Ben", "Cal", "Dee"))
    qs = f.questions(s, c)
    exam = f.exam(s, c, minutes=60)
    papers.set_fixed_items(s, exam, [(qs[k].id, 2.0) for k in ("single", "fill", "essay")], actor_id=teacher.id)
    papers.update_settings(s, exam, actor_id=teacher.id, lock_limit=5, remote_allowed=True)
    sess = exam_sessions.create_session(s, exam, name="Remote", starts_at=f.now() + dt.timedelta(minutes=10),
                                   remote=True, actor_id=teacher.id)
    exam_sessions.assign(s, sess, [ann.id, ben.id, cal.id, dee.id], actor_id=teacher.id)
    s.commit()
    return type("W", (), dict(s=s, exam=exam, sess=sess, qs=qs, ann=ann, ben=ben, cal=cal, dee=dee))


def _started(w, user):
    a = attempts.log_in(w.s, w.exam, user.id, mode="code")
    attempts.read_rules(w.s, a)
    return a


@pytest.mark.req("P1", "P7", "C6")
def test_the_board_of_a_remote_session_lists_every_assigned_candidate(remote):
    w = remote
    assert w.sess.exam_code and not w.sess.candidates[0].room_id           # remote, placed in no room
    before = boards.session_board(w.s, w.sess.id)
    assert before.state == "scheduled" and before.exam_code == w.sess.exam_code
    assert [(x.name, x.status) for x in before.seats] == [("Ann", "not_logged_in"), ("Ben", "not_logged_in"),
                                                         ("Cal", "not_logged_in"), ("Dee", "not_logged_in")]
    ben, cal = _started(w, w.ben), _started(w, w.cal)
    w.s.add(Attempt(exam_id=w.exam.id, session_id=w.sess.id, user_id=w.dee.id, status="absent"))
    clock.set_offset(10 * 60 + 5)                                            # the session has started
    attempts.start(w.s, ben, seed=1)
    attempts.start(w.s, cal, seed=1)
    answers.append(w.s, ben.id, writer="tab", seq=1, question_id=w.qs["single"].id, response={"choice": "b"},
                   client_time=None, epoch=ben.epoch)
    answers.append(w.s, ben.id, writer="tab", seq=2, question_id=w.qs["fill"].id,
                   response={"blanks": ["Paris", ""]}, client_time=None, epoch=ben.epoch)
    answers.append(w.s, ben.id, writer="tab", seq=3, question_id=w.qs["essay"].id, response={"text": "draft"},
                   client_time=None, epoch=ben.epoch)
    answers.append(w.s, ben.id, writer="tab", seq=4, question_id=w.qs["essay"].id, response={"text": " "},
                   client_time=None, epoch=ben.epoch)                        # cleared again: not answered
    attempts.lock(w.s, cal, why="blur")
    clock.set_offset(10 * 60 + 65)                                           # a minute later
    w.s.commit()

    board = boards.session_board(w.s, w.sess.id)
    rows = {x.name: x for x in board.seats}
    assert board.state == "in_progress" and board.sitting_id is None
    assert [x.name for x in board.seats] == ["Ann", "Ben", "Cal", "Dee"]
    assert rows["Ann"].status == "not_logged_in" and rows["Ann"].attempt_id is None
    assert rows["Ann"].last_contact_s is None and rows["Ann"].remaining_s is None
    assert rows["Dee"].status == "absent"
    assert rows["Ben"].status == "in_exam" and (rows["Ben"].answered, rows["Ben"].total) == (2, 3)
    assert abs(rows["Ben"].remaining_s - (60 * 60 - 65)) <= 2                # the deadline runs from the start
    assert 59 <= rows["Ben"].last_contact_s <= 62                           # the last answer, a minute ago
    assert rows["Cal"].status == "locked" and rows["Cal"].lock_reason == "blur" and rows["Cal"].locks == 1
    assert (rows["Cal"].answered, rows["Cal"].total) == (0, 3) and rows["Cal"].remaining_s > 58 * 60
    assert board.counts["expected"] == 4 and board.counts["not_logged_in"] == 1 and board.counts["locked"] == 1
    assert board.counts["absent"] == 1 and board.counts["in_exam"] == 2
    # what the page's script receives: the same, as JSON
    data = json.loads(json.dumps(board.as_dict()))
    cal_row = next(x for x in data["seats"] if x["name"] == "Cal")
    assert data["session_id"] == w.sess.id and cal_row["lock_reason"] == "blur" and cal_row["status"] == "locked"
    assert cal_row["user_id"] == w.cal.id and cal_row["total"] == 3


@pytest.mark.req("P1")
def test_a_session_board_of_an_unknown_session_is_not_found(db_session):
    with pytest.raises(NotFound):
        boards.session_board(db_session, 999999)
    with pytest.raises(NotFound):
        boards.session_board(db_session, "1")
