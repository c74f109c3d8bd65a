"""The answer event stream: idempotent appends, conflicts, late and fenced events, refusals,
and idempotent submit. Every write goes through the group writer, as the API's do."""
from __future__ import annotations

import functools
import threading

import pytest
from sqlalchemy import func, select

from bridge.errors import Invalid
from bridge.models.attempts import AnswerEvent, AttemptLog
from bridge.services.delivery import answers
from bridge.services.delivery import submits
from tests.delivery import factories
from tests.delivery.factories import question

pytestmark = pytest.mark.req("C5")


def save(writer, attempt_id, *, w="tab-1", seq=1, q, response, epoch=None, client_time=None):
    job = functools.partial(answers.append, writer=w, seq=seq, question_id=q, response=response,
                            client_time=client_time, epoch=epoch)
    return writer.submit(job, attempt_id)


def current(db_session, attempt_id):
    db_session.rollback()  # see what the writer committed
    return answers.current_answers(db_session, attempt_id)


def events(db_session, attempt_id):
    db_session.rollback()
    return list(db_session.scalars(select(AnswerEvent).where(AnswerEvent.attempt_id == attempt_id)
                                   .order_by(AnswerEvent.id)))


def test_append_acknowledges_with_the_chain_head(writer, db_session, sitting, attempt_id):
    q = question(sitting, "single")
    first = save(writer, attempt_id, seq=1, q=q, response={"choice": "a"}, client_time=12.5)
    second = save(writer, attempt_id, seq=2, q=q, response={"choice": "b"})
    assert (first.seq, first.duplicate, first.status) == (1, False, "applied")
    rows = events(db_session, attempt_id)
    assert [r.hash for r in rows] == [first.head, second.head]
    assert rows[0].prev_hash is None and rows[1].prev_hash == first.head
    assert rows[1].hash == answers.event_hash(first.head, attempt_id, "tab-1", 2, 1,
                                              answers.payload_hash(q, {"choice": "b"}))
    assert rows[0].client_time == 12.5
    assert current(db_session, attempt_id) == {q: {"choice": "b"}}


def test_a_duplicate_returns_the_stored_ack_and_writes_nothing(writer, db_session, sitting, attempt_id):
    q = question(sitting, "essay")
    stored = save(writer, attempt_id, q=q, response={"text": "hello"})
    again = save(writer, attempt_id, q=q, response={"text": "hello"})
    assert again.duplicate and (again.head, again.server_time) == (stored.head, stored.server_time)
    assert len(events(db_session, attempt_id)) == 1


def test_a_reused_key_with_another_payload_is_a_logged_conflict(writer, db_session, sitting, attempt_id):
    q = question(sitting, "essay")
    save(writer, attempt_id, q=q, response={"text": "first"})
    with pytest.raises(answers.AnswerConflict) as refused:
        save(writer, attempt_id, q=q, response={"text": "second"})
    assert refused.value.http_status == 409
    assert current(db_session, attempt_id) == {q: {"text": "first"}}
    logged = db_session.scalars(select(AttemptLog).where(AttemptLog.attempt_id == attempt_id,
                                                         AttemptLog.action == "answer_conflict")).all()
    assert len(logged) == 1 and logged[0].detail["seq"] == 1


def test_a_late_event_never_overwrites_a_newer_one(writer, db_session, sitting, attempt_id):
    q = question(sitting, "single")
    save(writer, attempt_id, seq=2, q=q, response={"choice": "b"})
    late = save(writer, attempt_id, seq=1, q=q, response={"choice": "a"})  # delivered out of order
    assert not late.duplicate
    assert current(db_session, attempt_id) == {q: {"choice": "b"}}
    assert len(events(db_session, attempt_id)) == 2  # stored for the record, not current


def test_across_writers_the_later_acceptance_wins_but_not_a_late_event(writer, db_session, sitting, attempt_id):
    q = question(sitting, "truefalse")
    save(writer, attempt_id, w="old-seat", seq=5, q=q, response={"value": True})
    save(writer, attempt_id, w="new-seat", seq=1, q=q, response={"value": False})
    assert current(db_session, attempt_id) == {q: {"value": False}}
    save(writer, attempt_id, w="old-seat", seq=4, q=q, response={"value": True})  # late from the old seat
    assert current(db_session, attempt_id) == {q: {"value": False}}
    save(writer, attempt_id, w="old-seat", seq=6, q=q, response={"value": True})  # a real change there
    assert current(db_session, attempt_id) == {q: {"value": True}}


def test_reordered_and_duplicated_delivery_from_threads(writer, db_session, sitting, attempt_id):
    """Each writer sends seq 1..12 over 3 items; the events arrive shuffled and twice, from
    many threads at once. Each key is stored once and each item ends at its highest seq."""
    import random

    items = [question(sitting, t) for t in ("single", "essay", "fill")]

    def payload(seq):
        q = items[seq % 3]
        kind = dict((qid, t) for qid, t in sitting.questions)[q]
        return q, factories.sample_response(kind, seq)

    sends = [(w, seq) for w in ("tab-a", "tab-b") for seq in range(1, 13)] * 2
    random.Random(7).shuffle(sends)
    errors = []

    def send(chunk):
        for w, seq in chunk:
            q, response = payload(seq)
            try:
                save(writer, attempt_id, w=w, seq=seq, q=q, response=response)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=send, args=(sends[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    rows = events(db_session, attempt_id)
    assert sorted((r.writer, r.seq) for r in rows) == sorted(set(sends))
    # per item and writer, the highest seq is what that writer last said; the state shows one of
    # the two writers' last word for each item, never an older one
    result = current(db_session, attempt_id)
    for seq_mod, q in enumerate(items):
        last = max(s for s in range(1, 13) if s % 3 == seq_mod)
        assert result[q] == payload(last)[1]


def test_an_event_from_an_older_epoch_is_fenced(writer, db_session, sitting):
    attempt_id, _ = factories.attempt(db_session, sitting, epoch=2)
    q = question(sitting, "single")
    fenced = save(writer, attempt_id, w="old-kiosk", q=q, response={"choice": "c"}, epoch=1)
    assert fenced.status == "fenced"
    assert current(db_session, attempt_id) == {}
    applied = save(writer, attempt_id, w="new-kiosk", q=q, response={"choice": "d"}, epoch=2)
    assert applied.status == "applied"
    assert current(db_session, attempt_id) == {q: {"choice": "d"}}
    with pytest.raises(Invalid, match="newer than the attempt"):
        save(writer, attempt_id, w="new-kiosk", seq=2, q=q, response={"choice": "d"}, epoch=3)


@pytest.mark.parametrize("status, error", [
    ("locked", answers.AttemptLocked), ("submitted", answers.AttemptSubmitted),
    ("rules_read", answers.NotInExam), ("voided", answers.NotInExam)])
def test_refused_unless_in_exam(writer, db_session, sitting, attempt_id, status, error):
    factories.set_status(db_session, attempt_id, status)
    with pytest.raises(error) as refused:
        save(writer, attempt_id, q=question(sitting, "single"), response={"choice": "a"})
    assert 400 <= refused.value.http_status < 500 and refused.value.message
    assert events(db_session, attempt_id) == []


def test_a_retry_of_a_stored_save_is_acknowledged_after_the_lock(writer, db_session, sitting, attempt_id):
    q = question(sitting, "single")
    stored = save(writer, attempt_id, q=q, response={"choice": "a"})
    factories.set_status(db_session, attempt_id, "locked")
    assert save(writer, attempt_id, q=q, response={"choice": "a"}) == \
        answers.Ack(1, stored.head, stored.server_time, True, "applied")


def test_deadline_with_a_grace_for_saves_in_flight(writer, db_session, sitting, clock_reset):
    attempt_id, _ = factories.attempt(db_session, sitting, minutes_left=10)
    q = question(sitting, "essay")
    clock_reset.set_offset(10 * 60 + answers.DEADLINE_GRACE_SECONDS - 2)  # just after the deadline
    assert save(writer, attempt_id, seq=1, q=q, response={"text": "in flight"}).status == "applied"
    clock_reset.set_offset(10 * 60 + answers.DEADLINE_GRACE_SECONDS + 2)
    with pytest.raises(answers.DeadlinePassed):
        save(writer, attempt_id, seq=2, q=q, response={"text": "too late"})
    assert current(db_session, attempt_id) == {q: {"text": "in flight"}}


@pytest.mark.parametrize("qtype, response", [
    ("single", {"choice": "z"}), ("single", {"choice": "a", "extra": 1}), ("single", {}),
    ("multiple", {"choices": ["a", "a"]}), ("multiple", {"choices": "a"}),
    ("truefalse", {"value": 1}), ("truefalse", {"value": "true"}),
    ("fill", {"blanks": ["only one"]}), ("fill", {"blanks": [1, 2]}),
    ("essay", {"text": 5}), ("essay", {"text": "x", "format": "docx"}),
    ("upload", {"sha256": "not-a-digest"}), ("single", {"choice": "a", "flagged": "yes"}),
    ("single", "a"), ("single", None), ("essay", {"text": "x" * (answers.MAX_RESPONSE_BYTES + 1)}),
])
def test_malformed_responses_are_invalid(writer, db_session, sitting, attempt_id, qtype, response):
    with pytest.raises(Invalid):
        save(writer, attempt_id, q=question(sitting, qtype), response=response)
    assert events(db_session, attempt_id) == []


@pytest.mark.parametrize("field, value", [
    ("w", ""), ("w", "x" * 65), ("w", "tab 1"), ("w", 7), ("seq", 0), ("seq", "1"), ("seq", True),
    ("seq", 2**31), ("q", 10**6), ("epoch", 0), ("client_time", "now"), ("client_time", float("nan"))])
def test_malformed_keys_are_invalid(writer, db_session, sitting, attempt_id, field, value):
    kw = {"q": question(sitting, "single"), "response": {"choice": "a"}, field: value}
    with pytest.raises(Invalid):
        save(writer, attempt_id, **kw)


def test_every_item_type_accepts_its_shape(writer, db_session, sitting, attempt_id):
    for seq, (q, qtype) in enumerate(sitting.questions, start=1):
        response = factories.sample_response(qtype, seq) | {"flagged": seq % 2 == 0}
        assert save(writer, attempt_id, seq=seq, q=q, response=response).status == "applied"
    assert len(current(db_session, attempt_id)) == len(sitting.questions)


# --- submit ----------------------------------------------------------------------------------
def do_submit(writer, attempt_id, key="k1", reason="candidate"):
    return writer.submit(functools.partial(submits.submit, reason=reason, idempotency_key=key), attempt_id)


@pytest.mark.req("C7")
def test_submit_is_idempotent(writer, db_session, sitting, attempt_id):
    first = do_submit(writer, attempt_id)
    again = do_submit(writer, attempt_id, key="another-tab")
    assert (first.status, first.duplicate, again.duplicate) == ("submitted", False, True)
    assert (again.submitted_at, again.reason) == (first.submitted_at, "candidate")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(AttemptLog).where(
        AttemptLog.attempt_id == attempt_id, AttemptLog.action == "submit")) == 1
    with pytest.raises(answers.AttemptSubmitted):
        save(writer, attempt_id, q=question(sitting, "single"), response={"choice": "a"})


@pytest.mark.req("C7")
def test_concurrent_duplicate_submits_count_once(writer, db_session, sitting, attempt_id):
    barrier = threading.Barrier(12)
    results = []

    def go():
        barrier.wait(timeout=30)
        results.append(do_submit(writer, attempt_id))

    threads = [threading.Thread(target=go) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 12
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.submitted_at for r in results}) == 1
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(AttemptLog).where(
        AttemptLog.attempt_id == attempt_id, AttemptLog.action == "submit")) == 1


@pytest.mark.req("C7")
def test_a_locked_attempt_can_be_submitted_but_not_one_never_started(writer, db_session, sitting):
    locked, _ = factories.attempt(db_session, sitting, status="locked")
    assert do_submit(writer, locked, reason="locks").reason == "locks"
    waiting, _ = factories.attempt(db_session, sitting, status="logged_in")
    with pytest.raises(answers.NotInExam):
        do_submit(writer, waiting)
    with pytest.raises(Invalid):
        do_submit(writer, waiting, reason="bored")
