"""The proctor's real breakpoint resume (``resumes.resume``) fences the credentials of the old
seat in the answer stream (DESIGN "Epochs"): a browser session signed in before the resume
and the old kiosk's forward token are stamped with the old epoch, whatever their events name;
a session signed in after it writes the answer."""
from __future__ import annotations

import datetime as dt

import pytest

from bridge import clock
from bridge.models.bank import Question
from bridge.services.delivery import answers, attempts
from bridge.services.kiosks import devices
from bridge.services.delivery import forwarding
from bridge.services.proctoring import console
from bridge.services.proctoring import resumes
from tests.delivery.factories import sample_response
from tests.venue.readiness_world import at, ready_room, session_row


@pytest.mark.req("P4", "C5")
def test_the_consoles_resume_fences_sessions_and_tokens_of_the_old_seat(app, db_session):
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=1)
    sid, [first] = w.sitting_id, w.candidates
    a = attempts.log_in(w.s, w.exam, first.id)
    attempts.read_rules(w.s, a)
    at(w, session_row(w).starts_at - dt.timedelta(minutes=10))
    console.allow_start(w.s, sid, secret_key=w.secret)
    at(w, session_row(w).starts_at)
    attempts.start(w.s, a)
    w.s.commit()
    old_sign_in = clock.timestamp()
    old_token = forwarding.check_forward_token(
        w.secret, a.id, forwarding.mint_forward_token(w.s, w.secret, a.id, signed_in_at=old_sign_in))
    at(w, session_row(w).starts_at + dt.timedelta(minutes=3))
    resumes.resume(w.s, sid, [first.id], reason="pc_failure", description="黑屏", secret_key=w.secret, actor="user:1")
    w.s.commit()
    new_sign_in = clock.timestamp() + 0.5
    assert forwarding.check_forward_token(
        w.secret, a.id, forwarding.mint_forward_token(w.s, w.secret, a.id, signed_in_at=new_sign_in)).epoch == 2
    assert forwarding.check_forward_token(
        w.secret, a.id, forwarding.mint_forward_token(w.s, w.secret, a.id, signed_in_at=old_sign_in)).epoch == 1

    q = a.items[0]["question_id"]
    item = w.s.get(Question, q)

    def response(n):
        if item.qtype in ("single", "multiple"):
            choice = str(item.choices[n % len(item.choices)]["id"])
            return {"choice": choice} if item.qtype == "single" else {"choices": [choice]}
        if item.qtype == "fill":
            return {"blanks": [f"x{n}"] * max(1, len(item.blanks or ()))}
        return sample_response(item.qtype, n)

    def save(writer, seq, n, epoch, carrier):
        event = {"writer": writer, "seq": seq, "question_id": q, "response": response(n),
                 "client_time": None, "epoch": epoch}
        return answers.append_many(w.s, [(a.id, event, carrier)])[0]

    assert save("new-tab", 1, 1, None, answers.Carrier(signed_in_at=new_sign_in)).status == "applied"
    old_page, old_kiosk = answers.Carrier(signed_in_at=old_sign_in), answers.Carrier(epoch=old_token.epoch)
    for seq, epoch in enumerate((None, 1, 2, 3), start=1):
        assert isinstance(save("old-tab", seq, 2, epoch, old_page), answers.Fenced)
        assert isinstance(save("old-kiosk", seq, 3, epoch, old_kiosk), answers.Fenced)
    w.s.commit()
    assert answers.current_answers(w.s, a.id) == {q: response(1)}
