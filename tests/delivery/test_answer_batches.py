"""Autosaves from many callers share one ``append_many`` call per batch (issue 3,
Performance): the outcome per event is exactly what ``append`` alone would give, the writers'
heads table follows the stream, and a batch that fails as a whole falls back to one
transaction per event."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.errors import Invalid
from bridge.models.attempts import AnswerEvent, AnswerHead, Attempt, AttemptLog
from bridge.services.delivery import answers
from bridge.services.delivery import submits
from tests.delivery import factories
from tests.delivery.factories import question

pytestmark = pytest.mark.req("C5", "C7")


def stream(db_session, attempt_id):
    db_session.rollback()
    return list(db_session.execute(select(AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.hash, AnswerEvent.prev_hash,
                                          AnswerEvent.status).where(AnswerEvent.attempt_id == attempt_id)
                                   .order_by(AnswerEvent.id)))


def heads(db_session, attempt_id):
    db_session.rollback()
    return {w: (s, h) for w, s, h in db_session.execute(
        select(AnswerHead.writer, AnswerHead.max_seq, AnswerHead.head).where(AnswerHead.attempt_id == attempt_id))}


def event(q, seq, response, w="tab-1"):
    return {"writer": w, "seq": seq, "question_id": q, "response": response, "client_time": None, "epoch": None}


def test_one_batch_gives_each_event_what_append_alone_gives(writer, db_session, sitting):
    first, _u = factories.attempt(db_session, sitting)
    second, _u = factories.attempt(db_session, sitting)
    locked, _u = factories.attempt(db_session, sitting, status="locked")
    q = question(sitting, "single")
    items = [
        (first, event(q, 1, {"choice": "a"})),
        (second, event(q, 1, {"choice": "b"})),
        (first, event(q, 2, {"choice": "b"})),
        (first, event(q, 1, {"choice": "a"})),            # duplicate inside the batch
        (first, event(q, 2, {"choice": "c"})),            # conflict inside the batch
        (locked, event(q, 1, {"choice": "a"})),           # refused: locked
        (999_999, event(q, 1, {"choice": "a"})),          # no such attempt
        (second, event(q, 2, {"choice": "nope"})),        # not an option
        (second, "not an event"),
        (first, event(q, 3, {"choice": "a"}, w="phone")),  # a second writer of the same attempt
    ]
    results = writer.submit_grouped(answers.append_many, items)
    kinds = [r.code if isinstance(r, Exception) else ("dup" if r.duplicate else "ack") for r in results]
    assert kinds == ["ack", "ack", "ack", "dup", "conflict", "locked", "not_found", "invalid", "invalid", "ack"]
    assert results[3].head == results[0].head
    rows = stream(db_session, first)
    assert [(w, s) for w, s, *_ in rows] == [("tab-1", 1), ("tab-1", 2), ("phone", 3)]
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash is None
    assert heads(db_session, first) == {"tab-1": (2, results[2].head), "phone": (3, results[9].head)}
    assert heads(db_session, locked) == {}
    conflicts = db_session.scalars(select(AttemptLog.action).where(AttemptLog.attempt_id == first)).all()
    assert conflicts.count("answer_conflict") == 1


def test_batches_continue_the_chain_and_answer_retries_from_the_stream(writer, db_session, sitting, attempt_id):
    q = question(sitting, "essay")
    one = writer.submit_grouped(answers.append_many, [(attempt_id, event(q, s, {"text": str(s)})) for s in (1, 2, 3)])
    late = writer.submit_grouped(answers.append_many, [(attempt_id, event(q, 5, {"text": "5"})),
                                                       (attempt_id, event(q, 4, {"text": "4"})),  # late, accepted
                                                       (attempt_id, event(q, 2, {"text": "2"}))])  # retry
    assert late[2].duplicate and late[2].head == one[1].head
    rows = stream(db_session, attempt_id)
    assert [s for _w, s, *_ in rows] == [1, 2, 3, 5, 4]
    for before, after in zip(rows, rows[1:]):
        assert after.prev_hash == before.hash  # acceptance order, whatever the seq
    # the head is the latest accepted event; max_seq the highest seq
    assert heads(db_session, attempt_id) == {"tab-1": (5, rows[-1].hash)}
    db_session.rollback()
    assert answers.current_answers(db_session, attempt_id)[q] == {"text": "5"}
    assert answers.writer_heads(db_session, attempt_id) == {"tab-1": {"max_seq": 5, "head": rows[-1].hash}}


def test_a_batch_that_fails_as_a_whole_runs_each_event_alone(writer, db_session, sitting, attempt_id):
    q = question(sitting, "truefalse")
    calls = []
    real = answers.append_many

    def flaky(session, items):
        calls.append(len(items))
        if len(items) > 1:
            raise RuntimeError("a statement of the whole batch failed")
        return real(session, items)

    flaky.__name__ = "append_many"
    results = writer.submit_grouped(flaky, [(attempt_id, event(q, s, {"value": True})) for s in (1, 2)])
    assert [r.seq for r in results] == [1, 2] and calls[0] == 2 and calls[1:] == [1, 1]
    assert [s for _w, s, *_ in stream(db_session, attempt_id)] == [1, 2]


def test_an_attempt_submitted_in_the_same_batch_refuses_the_saves_after_it(writer, db_session, sitting, attempt_id):
    """Grouped saves and other jobs keep their order inside a batch."""
    import functools

    q = question(sitting, "truefalse")
    submit = functools.partial(submits.submit, reason="proctor", idempotency_key=None)
    outcomes = writer.submit_many([(functools.partial(answers.append, writer="tab-1", seq=1, question_id=q,
                                                      response={"value": True}, client_time=None, epoch=None),
                                    (attempt_id,)),
                                   (submit, (attempt_id,))])
    assert outcomes[0].seq == 1 and outcomes[1].status == "submitted"
    after = writer.submit_grouped(answers.append_many, [(attempt_id, event(q, 2, {"value": False}))])
    assert after[0].code == "submitted"
    db_session.rollback()
    assert db_session.get(Attempt, attempt_id).status == "submitted"


def test_malformed_batches_refuse_per_event(writer, db_session, attempt_id):
    results = writer.submit_grouped(answers.append_many, [(attempt_id, {"writer": "x", "seq": 0}), (attempt_id, [])])
    assert all(isinstance(r, Invalid) for r in results)


def submit_fields(key="k"):
    return {"key": key, "actor": "user:1", "address": "127.0.0.1"}


def test_grouped_submits_store_once_and_leave_scoring_to_the_scorer(writer, db_session, sitting):
    first, _u = factories.attempt(db_session, sitting)
    second, _u = factories.attempt(db_session, sitting)
    never, _u = factories.attempt(db_session, sitting, status="logged_in")
    results = writer.submit_grouped(submits.submit_many, [
        (first, submit_fields()), (second, submit_fields()), (first, submit_fields("again")),
        (never, submit_fields()), (424242, submit_fields()), (second, {"key": ["not", "text"]})])
    assert [getattr(r, "code", None) or ("dup" if r.duplicate else "ok") for r in results] == \
        ["ok", "ok", "dup", "not_in_exam", "not_found", "invalid"]
    later = writer.submit_grouped(submits.submit_many, [(first, submit_fields())])[0]
    assert later.duplicate and later.submitted_at == results[0].submitted_at
    db_session.rollback()
    rows = {a.id: a for a in db_session.scalars(select(Attempt).where(Attempt.id.in_([first, second, never])))}
    assert rows[first].status == rows[second].status == "submitted" and rows[never].status == "logged_in"
    assert rows[first].submit_reason == "candidate" and rows[first].score is None  # scored by the scorer, later
    lines = db_session.execute(select(AttemptLog.attempt_id, AttemptLog.detail, AttemptLog.address)
                               .where(AttemptLog.action == "submit")).all()
    assert sorted(a for a, _d, _ad in lines) == sorted([first, second])
    assert all(d == {"reason": "candidate", "key": "k"} and ad == "127.0.0.1" for _a, d, ad in lines)


def test_the_early_submission_rule_holds_for_grouped_submits(writer, db_session, sitting):
    from bridge.models.papers import Paper

    db_session.add(Paper(exam_id=sitting.exam_id, early_submit_minutes=30))
    db_session.commit()
    attempt_id, _u = factories.attempt(db_session, sitting)
    result = writer.submit_grouped(submits.submit_many, [(attempt_id, submit_fields())])[0]
    assert result.code == "too_early"


def test_the_scorer_scores_what_was_submitted_and_the_sweeper_what_it_missed(app, writer, db_session, sitting,
                                                                             clock_reset):
    from bridge.services.delivery import scoring
    from bridge.services.delivery import attempts as attempt_service

    q = question(sitting, "truefalse")
    scored_id, _u = factories.attempt(db_session, sitting)
    missed_id, _u = factories.attempt(db_session, sitting)
    for attempt_id in (scored_id, missed_id):
        writer.submit_grouped(answers.append_many, [(attempt_id, event(q, 1, {"value": True}))])
    writer.submit_grouped(submits.submit_many, [(scored_id, submit_fields()), (missed_id, submit_fields())])
    assert writer.submit(scoring.score_submitted, [scored_id]) == 1
    db_session.rollback()
    assert db_session.get(Attempt, scored_id).score is not None
    assert db_session.get(Attempt, missed_id).score is None
    assert scoring.score_left_over(db_session) == 0  # not a minute old yet
    clock_reset.set_offset(clock_reset.offset() + 120)
    assert scoring.score_left_over(db_session) == 1
    db_session.commit()
    assert db_session.get(Attempt, missed_id).score is not None
    assert attempt_service.sweep(db_session) == 0


def test_a_postgres_connection_dropped_under_the_writer_costs_a_retry_not_a_save(writer, db_session, sitting,
                                                                                 attempt_id, backend):
    """The writer's engine has no pre-ping (a round trip per batch): a connection the server
    dropped fails its batch once, and the jobs run again alone on a fresh connection."""
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL drops connections; SQLite has none to drop")
    from sqlalchemy import text

    def backend_pid(session):
        return session.execute(text("SELECT pg_backend_pid()")).scalar()

    pid = writer.submit(backend_pid)
    db_session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    db_session.commit()
    q = question(sitting, "truefalse")
    result = writer.submit_grouped(answers.append_many, [(attempt_id, event(q, 1, {"value": True}))])[0]
    assert result.seq == 1 and not result.duplicate
    assert writer.submit(backend_pid) != pid
    assert [s for _w, s, *_ in stream(db_session, attempt_id)] == [1]


def test_any_text_survives_the_batch_statements(writer, db_session, sitting, attempt_id):
    """On PostgreSQL the batch's last write carries the COMMIT with its rows bound client-side
    as quoted literals; on SQLite the rows travel as one JSON parameter. Either way an essay
    full of quotes, placeholders, backslashes and CJK text is stored exactly as sent."""
    q = question(sitting, "essay")
    nasty = "It's %s and %(x)s; '); DROP TABLE answer_events; -- \\\\ \\u0000 \\n \"q\" 中文 end"
    result = writer.submit_grouped(answers.append_many, [(attempt_id, event(q, 1, {"text": nasty, "format": "plain"}))])
    assert result[0].seq == 1
    db_session.rollback()
    assert answers.current_answers(db_session, attempt_id)[q] == {"text": nasty, "format": "plain"}
    assert [s for _w, s, *_ in stream(db_session, attempt_id)] == [1]
    nul = writer.submit_grouped(answers.append_many, [(attempt_id, event(q, 2, {"text": "a\x00b", "format": "plain"}))])
    assert nul[0].code == "invalid" and "NUL" in nul[0].message  # refused, nothing else of the batch harmed
