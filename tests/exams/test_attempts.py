"""The attempt's life: login cutoff, rules first, the server-ruled deadline, locks and the
proctor's unlock, auto-submit after N locks, idempotent submit, scoring on submit, the
exam-code entry and its throttle (C1, C3, C5–C8, C10)."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.errors import Forbidden, InvalidState, NotFound
from bridge.models.attempts import AnswerEvent, AttemptLog, ItemGrade
from bridge.models.bank import QuestionCategory
from bridge.services.delivery import attempts, scoring
from bridge.services.exams import papers, exam_sessions
from tests.exams import factories as f


@pytest.fixture
def world(db_session):
    s = db_session
    c = f.course(s)
    teacher = f.member(s, c, "teacher", "Tess")
    sam, sue = f.member(s, c, name="Sam"), f.member(s, c, name="Sue")
    qs = f.questions(s, c)
    exam = f.exam(s, c, minutes=60)
    papers.set_fixed_items(s, exam, [(qs[k].id, 2.0) for k in ("single", "multiple", "truefalse", "fill", "essay")],
                           actor_id=teacher.id)
    papers.update_settings(s, exam, actor_id=teacher.id, lock_limit=3, late_login_minutes=30, remote_allowed=True)
    sitting = exam_sessions.create_session(s, exam, name="Morning", starts_at=f.now() + dt.timedelta(minutes=10),
                                      remote=True, actor_id=teacher.id)
    exam_sessions.assign(s, sitting, [sam.id, sue.id], actor_id=teacher.id)
    s.commit()
    return type("W", (), dict(s=s, course=c, teacher=teacher, sam=sam, sue=sue, qs=qs, exam=exam, sitting=sitting))


def _into_exam(w, user):
    a = attempts.log_in(w.s, w.exam, user.id)
    attempts.read_rules(w.s, a)
    clock.set_offset(11 * 60)
    return attempts.start(w.s, a, seed=1)


@pytest.mark.req("C3")
def test_rules_first_then_start_at_the_session_time_with_a_server_deadline(world):
    a = attempts.log_in(world.s, world.exam, world.sam.id)
    assert a.status == "logged_in"
    with pytest.raises(InvalidState, match="rules"):
        attempts.start(world.s, a)
    attempts.read_rules(world.s, a)
    with pytest.raises(InvalidState, match="starts in"):
        attempts.start(world.s, a)
    clock.set_offset(15 * 60)                                   # five minutes late
    a = attempts.start(world.s, a, seed=7)
    assert a.status == "in_exam"
    assert a.deadline_at == world.sitting.starts_at + dt.timedelta(minutes=60)   # the late minutes are lost
    assert 54 * 60_000 < attempts.remaining_ms(a) <= 55 * 60_000
    assert [i["question_id"] for i in a.items] == [world.qs[k].id for k in ("single", "multiple", "truefalse", "fill", "essay")]
    late = world.s.scalars(select(AttemptLog).where(AttemptLog.attempt_id == a.id, AttemptLog.action == "start")).one()
    assert 300 <= late.detail["late_seconds"] <= 303            # five minutes, plus the test's own run time


@pytest.mark.req("C3")
def test_login_closes_after_the_late_cutoff(world):
    clock.set_offset((10 + 31) * 60)
    with pytest.raises(Forbidden, match="closed 30 minutes"):
        attempts.log_in(world.s, world.exam, world.sam.id)


@pytest.mark.req("C6")
def test_locks_unlock_by_code_or_console_and_the_nth_lock_submits(world):
    a = _into_exam(world, world.sam)
    attempts.lock(world.s, a, why="blur")
    assert a.status == "locked" and a.lock_count == 1
    code = attempts.issue_unlock_code(world.s, a, actor="proctor")
    with pytest.raises(Forbidden):
        attempts.unlock(world.s, a, actor="candidate", code="000000" if code != "000000" else "111111")
    attempts.unlock(world.s, a, actor="candidate", code=code)
    assert a.status == "in_exam"
    attempts.lock(world.s, a, why="visibilitychange")
    code = attempts.issue_unlock_code(world.s, a, actor="proctor")
    clock.set_offset(clock.offset() + 11 * 60)                  # the code lived 10 minutes
    with pytest.raises(Forbidden, match="expired"):
        attempts.unlock(world.s, a, actor="candidate", code=code)
    attempts.unlock(world.s, a, actor="proctor")                # the console needs no code
    attempts.lock(world.s, a, why="fullscreen")                 # the third lock: the limit
    assert a.status == "submitted" and a.submit_reason == "locks"
    actions = world.s.scalars(select(AttemptLog.action).where(AttemptLog.attempt_id == a.id)
                              .order_by(AttemptLog.id)).all()
    assert actions.count("lock") == 3 and actions.count("unlock") == 2 and "unlock_refused" in actions


@pytest.mark.req("C7", "C10")
def test_submit_is_idempotent_and_scores_objective_items(world):
    a = _into_exam(world, world.sam)
    qs = world.qs
    for seq, (key, response) in enumerate([("single", {"choice": "b"}), ("multiple", {"choices": ["a", "b"]}),
                                           ("truefalse", {"value": False}), ("fill", {"blanks": ["paris", "北京"]})], 1):
        world.s.add(AnswerEvent(attempt_id=a.id, writer="tab1", seq=seq, question_id=qs[key].id, response=response,
                                payload_hash=str(seq), hash=str(seq)))
    world.s.flush()
    attempts.submit(world.s, a, reason="candidate")
    first = a.submitted_at
    attempts.submit(world.s, a, reason="candidate")
    assert a.submitted_at == first
    assert a.score == 6.0 and a.score_complete is False         # the essay waits for a teacher
    scoring.grade_item(world.s, a, qs["essay"].id, points=1.5, grader_id=world.teacher.id, comment="ok")
    assert a.score == 7.5 and a.score_complete is True
    grades = world.s.scalars(select(ItemGrade).where(ItemGrade.attempt_id == a.id)).all()
    assert len(grades) == 5


@pytest.mark.req("C3")
def test_the_deadline_submits_what_is_stored(world):
    a = _into_exam(world, world.sam)
    attempts.lock(world.s, a, why="blur")
    clock.set_offset(clock.offset() + 61 * 60)
    attempts.settle(world.s, a)
    assert a.status == "submitted" and a.submit_reason == "deadline"


@pytest.mark.req("C1")
def test_exam_code_admits_rostered_candidates_and_throttles_guessing(world, make_app):
    code = world.sitting.exam_code
    assert len(code) == 6 and code.isdigit()
    outsider = f.member(world.s, world.course, name="Out")
    world.s.commit()
    with pytest.raises(NotFound):
        attempts.enter_by_code(world.s, code, outsider.id, address="10.0.0.9")
    world.s.rollback()
    a = attempts.enter_by_code(world.s, code, world.sam.id, address="10.0.0.1")
    assert a.mode == "code" and a.status == "logged_in"
    world.s.commit()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(NotFound):
            attempts.enter_by_code(world.s, wrong, world.sue.id, address="10.0.0.2")
        world.s.rollback()
    with pytest.raises(attempts.TooManyTries):                  # even the right code, now
        attempts.enter_by_code(world.s, code, world.sue.id, address="10.0.0.3")


@pytest.mark.req("C8")
def test_draws_per_candidate_with_shuffled_options(world):
    s = world.s
    cat = QuestionCategory(course_id=world.course.id, name="Pool")
    s.add(cat)
    s.flush()
    from bridge.models.bank import Question
    pool = [Question(course_id=world.course.id, category_id=cat.id, qtype="single", stem_html=f"Q{n}",
                     choices=[{"id": k, "html": k, "fraction": float(k == "a")} for k in "abc"]) for n in range(6)]
    s.add_all(pool)
    s.flush()
    paper = papers.set_draws(s, world.exam, [{"category_id": cat.id, "count": 3, "points": 1}], actor_id=world.teacher.id)
    first = papers.compose(s, paper, random.Random(1))
    second = papers.compose(s, paper, random.Random(2))
    assert len(first) == 3 and {i["question_id"] for i in first} <= {q.id for q in pool}
    assert [i["question_id"] for i in first] != [i["question_id"] for i in second] or \
        [i["order"] for i in first] != [i["order"] for i in second]
    assert all(sorted(i["order"]) == ["a", "b", "c"] for i in first)
    with pytest.raises(Exception, match="holds 6 items"):
        papers.set_draws(s, world.exam, [{"category_id": cat.id, "count": 9, "points": 1}], actor_id=world.teacher.id)


@pytest.mark.req("C3")
def test_the_sweeper_submits_attempts_whose_time_is_up(world):
    a = _into_exam(world, world.sam)
    b = _into_exam(world, world.sue)
    attempts.lock(world.s, b, why="blur")
    world.s.commit()
    assert attempts.sweep(world.s) == 0
    clock.set_offset(clock.offset() + 61 * 60)
    assert attempts.sweep(world.s) == 2
    assert (a.status, b.status) == ("submitted", "submitted") and a.submit_reason == b.submit_reason == "deadline"
    assert attempts.sweep(world.s) == 0                                     # idempotent


def test_periodic_runs_and_stops(app):
    import threading

    from bridge.runtime import periodic

    ran = threading.Event()
    stop = periodic.start(app, "test", ran.set, every=0.01)
    assert ran.wait(5)
    stop()


@pytest.mark.req("C3", "C7")
def test_early_submission_opens_after_the_papers_minutes(world):
    from bridge.services.delivery import answers
    from bridge.services.delivery import submits

    papers.update_settings(world.s, world.exam, actor_id=world.teacher.id, early_submit_minutes=20)
    a = _into_exam(world, world.sam)                     # 1 minute after the start
    world.s.commit()
    with pytest.raises(answers.TooEarly, match="20 minutes"):
        submits.submit(world.s, a.id, reason="candidate", idempotency_key="k")
    world.s.rollback()
    clock.set_offset(clock.offset() + 20 * 60)
    assert submits.submit(world.s, a.id, reason="candidate", idempotency_key="k").status == "submitted"


@pytest.mark.req("C6")
def test_locks_submit_even_before_early_submission(world):
    papers.update_settings(world.s, world.exam, actor_id=world.teacher.id, early_submit_minutes=30, lock_limit=1)
    a = _into_exam(world, world.sam)
    attempts.lock(world.s, a, why="blur")
    assert a.status == "submitted" and a.submit_reason == "locks"
