"""A breakpoint resume fences the old seat on the kiosk path (``/ws/kiosk``, DESIGN "Epochs").

Over real WebSockets: the old seat's kiosk still holds its forward token after the resume
moved the candidate to another PC. Every event it forwards is stamped with its token's epoch,
whatever epoch (or none) the event names: stored ``fenced`` (kept for audit) and answered with
the error ``fenced``; none becomes the answer, and the new seat's answers stand. The old
seat's page, reloaded, still gets a token of the old epoch; the new epoch's token is the new
seat's (``wrong_kiosk`` for the old one).
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.models.attempts import AnswerEvent, Attempt, AttemptLog
from bridge.services.delivery import answers
from bridge.services.delivery import forwarding
from kiosk_agent import protocol as P
from tests.delivery import factories
from tests.kiosk.hub_helpers import registered


def resume(db_session, attempt_id: int) -> int:
    """What ``console.resume`` does to an attempt: the epoch goes up, a log line says when."""
    attempt = db_session.get(Attempt, attempt_id)
    attempt.epoch += 1
    db_session.add(AttemptLog(attempt_id=attempt_id, action="breakpoint_resume", actor="user:1",
                              detail={"reason": "pc_failure", "epoch": attempt.epoch}))
    db_session.commit()
    return attempt.epoch


def event(sitting, writer: str, seq: int, n: int, epoch="absent") -> dict:
    qid, qtype = sitting.questions[0]
    out = {"writer": writer, "seq": seq, "question_id": qid, "response": factories.sample_response(qtype, n),
           "client_time": time.time()}
    if epoch != "absent":
        out["epoch"] = epoch
    return out


@pytest.mark.req("P4", "K4")
def test_the_old_kiosk_is_fenced_whatever_epoch_its_events_name(live, room, clients, db_session, app):
    secret = app.config["SECRET_KEY"]
    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    qid, qtype = sitting.questions[0]
    old_kiosk, new_kiosk = registered(live, clients, room), registered(live, clients, room)
    signed_in = clock.timestamp() - 60
    old_token = forwarding.mint_forward_token(db_session, secret, attempt_id, signed_in_at=signed_in)
    first = old_kiosk.request(P.EVENTS, {"attempt_id": attempt_id, "token": old_token,
                                         "events": [event(sitting, "old-tab", 1, 0, 1)]})
    assert first.type == P.ACKS and first.payload["acks"][0]["status"] == "applied", first

    assert resume(db_session, attempt_id) == 2
    new_token = forwarding.mint_forward_token(db_session, secret, attempt_id, signed_in_at=clock.timestamp() + 1)
    moved = new_kiosk.request(P.EVENTS, {"attempt_id": attempt_id, "token": new_token,
                                         "events": [event(sitting, "new-tab", 1, 1, 2)]})
    assert moved.type == P.ACKS and moved.payload["acks"][0]["status"] == "applied", moved

    # the old seat's page, reloaded after the resume, gets a token of the old epoch only
    reloaded = forwarding.mint_forward_token(db_session, secret, attempt_id, signed_in_at=signed_in)
    assert forwarding.check_forward_token(secret, attempt_id, reloaded).epoch == 1
    # the old kiosk keeps forwarding: no epoch, null, its own, the current one, a higher one
    sent = [event(sitting, "old-tab", 2, 2), event(sitting, "old-tab", 3, 2, None),
            event(sitting, "old-tab", 4, 3, 1), event(sitting, "old-tab", 5, 2, 2),
            event(sitting, "old-tab", 6, 3, 3)]
    for token in (old_token, reloaded):
        acks = old_kiosk.request(P.EVENTS, {"attempt_id": attempt_id, "token": token, "events": sent})
        assert acks.type == P.ACKS, acks
        assert [(a["seq"], a.get("error")) for a in acks.payload["acks"]] == [(s, "fenced") for s in range(2, 7)]
        assert all(a["message"] and "head" not in a for a in acks.payload["acks"])
    stolen = old_kiosk.request(P.EVENTS, {"attempt_id": attempt_id, "token": new_token,
                                          "events": [event(sitting, "old-tab", 7, 2, 2)]})
    assert stolen.type == P.ERROR and stolen.payload["code"] == "wrong_kiosk"

    db_session.expire_all()
    stored = db_session.execute(select(AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.status, AnswerEvent.epoch)
                                .where(AnswerEvent.attempt_id == attempt_id).order_by(AnswerEvent.id)).all()
    assert [tuple(r) for r in stored] == [("old-tab", 1, "applied", 1), ("new-tab", 1, "applied", 2)] + [
        ("old-tab", s, "fenced", 1) for s in range(2, 7)]
    assert answers.current_answers(db_session, attempt_id) == {qid: factories.sample_response(qtype, 1)}

    later = new_kiosk.request(P.EVENTS, {"attempt_id": attempt_id, "token": new_token,
                                         "events": [event(sitting, "new-tab", 2, 3, 2)]})
    assert later.payload["acks"][0]["status"] == "applied"
    db_session.expire_all()
    assert answers.current_answers(db_session, attempt_id) == {qid: factories.sample_response(qtype, 3)}
