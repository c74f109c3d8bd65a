"""A breakpoint resume fences the old seat on the HTTP path (DESIGN "Epochs").

After a resume raises the attempt's epoch, the browser session of the old seat (signed in
before the resume) still has a valid cookie. Whatever epoch its events name (none, the old
one, the current one or a higher one), each is stored ``fenced`` (kept for audit) and answered
with the error ``fenced``: none becomes the answer, and the new seat's answers stand. Both
the autosave fast path and Flask's view are exercised, over real HTTP; and the exam page of
the old seat, reloaded after the resume, still gets a forward token of the old epoch.
"""
from __future__ import annotations

import re
import secrets

import pytest
import requests
from sqlalchemy import select

from bridge import clock
from bridge.models.attempts import AnswerEvent, Attempt, AttemptLog
from bridge.services.delivery import answers
from bridge.services.kiosks import devices
from bridge.services.delivery import forwarding
from bridge.web.api import fast
from bridge.runtime.writer import stop_writer
from tests.delivery import factories
from tests.delivery.factories import question
from tests.fixtures.servers import serve_wsgi

pytestmark = pytest.mark.req("C5")


@pytest.fixture(params=["fast", "flask"])
def live(request, app, monkeypatch):
    if request.param == "flask":  # every save goes to Flask's view
        monkeypatch.setattr(fast.AutosaveFastPath, "_save", lambda self, *args: None)
    with serve_wsgi(app) as server:
        yield server
    stop_writer(app)


def browser(app, user_id: int, signed_in_at: float) -> requests.Session:
    csrf = secrets.token_urlsafe(16)
    cookie = app.session_interface.get_signing_serializer(app).dumps(
        {"user_id": user_id, "signed_in_at": signed_in_at, "_csrf": csrf})
    http = requests.Session()
    http.trust_env = False
    http.headers.update({"Cookie": f"{factories.SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf})
    return http


def resume(db_session, attempt_id: int) -> int:
    """What ``console.resume`` does to an attempt: the epoch goes up, a log line says when."""
    attempt = db_session.get(Attempt, attempt_id)
    attempt.epoch += 1
    db_session.add(AttemptLog(attempt_id=attempt_id, action="breakpoint_resume", actor="user:1",
                              detail={"reason": "pc_failure", "epoch": attempt.epoch}))
    db_session.commit()
    return attempt.epoch


def ev(seq, q, response, writer, epoch="absent"):
    event = {"writer": writer, "seq": seq, "question_id": q, "response": response, "client_time": 1.0}
    if epoch != "absent":
        event["epoch"] = epoch
    return event


def rows(db_session, attempt_id):
    db_session.rollback()
    return db_session.execute(select(AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.status, AnswerEvent.epoch)
                              .where(AnswerEvent.attempt_id == attempt_id).order_by(AnswerEvent.id)).all()


@pytest.mark.req("P4")
def test_the_old_seats_session_is_fenced_whatever_epoch_its_events_name(app, live, db_session, sitting):
    attempt_id, user_id = factories.attempt(db_session, sitting)
    q = question(sitting, "single")
    url = f"{live.url}/api/attempts/{attempt_id}/answers"
    old = browser(app, user_id, clock.timestamp() - 60)          # the seat that fails
    first = old.post(url, json={"events": [ev(1, q, {"choice": "a"}, "old-tab", 1)]}, timeout=30).json()
    assert first["acks"][0]["status"] == "applied"

    assert resume(db_session, attempt_id) == 2
    new = browser(app, user_id, clock.timestamp() + 1)           # the candidate signs in at the spare PC
    moved = new.post(url, json={"events": [ev(1, q, {"choice": "b"}, "new-tab", 2)]}, timeout=30).json()
    assert moved["acks"][0]["status"] == "applied", moved

    # the old seat keeps writing: no epoch, its own, the current one, a higher one
    sent = [ev(2, q, {"choice": "c"}, "old-tab"), ev(3, q, {"choice": "c"}, "old-tab", None),
            ev(4, q, {"choice": "d"}, "old-tab", 1), ev(5, q, {"choice": "c"}, "old-tab", 2),
            ev(6, q, {"choice": "d"}, "old-tab", 3)]
    r = old.post(url, json={"events": sent}, timeout=30)
    assert r.status_code == 200, r.text
    acks = r.json()["acks"]
    assert [(a["seq"], a.get("error")) for a in acks] == [(s, "fenced") for s in (2, 3, 4, 5, 6)], acks
    assert all(a["message"] and "head" not in a for a in acks)
    again = old.post(url, json={"events": sent[:1]}, timeout=30).json()  # a retry: the same answer
    assert again["acks"][0]["error"] == "fenced"

    stored = rows(db_session, attempt_id)
    assert [tuple(r) for r in stored] == [("old-tab", 1, "applied", 1), ("new-tab", 1, "applied", 2)] + [
        ("old-tab", s, "fenced", 1) for s in (2, 3, 4, 5, 6)]           # kept for audit, in the old epoch
    assert answers.current_answers(db_session, attempt_id) == {q: {"choice": "b"}}
    state = new.get(f"{live.url}/api/attempts/{attempt_id}/state", timeout=30).json()
    assert state["answers"] == {str(q): {"choice": "b"}}

    # the new seat goes on as before
    later = new.post(url, json={"events": [ev(2, q, {"choice": "d"}, "new-tab")]}, timeout=30).json()
    assert later["acks"][0]["status"] == "applied"
    assert answers.current_answers(db_session, attempt_id) == {q: {"choice": "d"}}


@pytest.mark.req("P4", "K4")
def test_the_old_seats_page_reloaded_after_the_resume_gets_an_old_token(app, db_session, sitting, monkeypatch):
    """The exam page's forward token names the epoch of its session's sign-in: reloading the
    page at the old seat never hands its kiosk a token of the new epoch."""
    from bridge.web.delivery import views as delivery

    monkeypatch.setattr(delivery, "render_template",  # what the exam page gets (the bench's items are bare)
                        lambda name, **ctx: f'data-forward-token="{ctx.get("forward_token")}"')
    attempt_id, user_id = factories.attempt(db_session, sitting)
    secret = app.config["SECRET_KEY"]
    before = clock.timestamp() - 60
    resume(db_session, attempt_id)
    pages = {}
    for name, signed_in_at in (("old", before), ("new", clock.timestamp() + 1)):
        client = app.test_client()
        with client.session_transaction() as s:
            s.update(user_id=user_id, signed_in_at=signed_in_at, _csrf="x")
        html = client.get(f"/attempt/{attempt_id}").get_data(as_text=True)
        token = re.search(r'data-forward-token="([^"]*)"', html).group(1)
        pages[name] = forwarding.check_forward_token(secret, attempt_id, token).epoch
    assert pages == {"old": 1, "new": 2}


def test_a_session_epoch_is_current_only_when_signed_in_after_the_epoch_began():
    import datetime as dt

    began = dt.datetime(2026, 12, 7, 9, 0)
    at = began.replace(tzinfo=dt.timezone.utc).timestamp()
    assert answers.session_epoch(1, None, None) == 1                 # never resumed
    assert answers.session_epoch(2, began, at) == 2
    assert answers.session_epoch(2, began, at - 0.001) == 1
    assert answers.session_epoch(3, None, at + 10) == 2              # epoch raised with no record: not current
    assert answers.session_epoch(2, began, "later") == 1             # no sign-in time: not current
