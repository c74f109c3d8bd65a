"""The autosave fast path (``bridge.web.api.fast``) answers exactly like the Flask view: it
serves the signed-in owner's saves itself and hands every other request to Flask, whose
view then answers as before. Over real HTTP (threaded werkzeug server)."""
from __future__ import annotations

import secrets

import pytest
import requests

from bridge import clock
from bridge.services.delivery.answers import writer_heads
from bridge.runtime.writer import stop_writer
from tests.delivery import factories
from tests.delivery.factories import question
from tests.fixtures.servers import serve_wsgi

pytestmark = pytest.mark.req("C5")


@pytest.fixture
def live(app):
    calls, submits = [], []

    def counting(name, into):
        view = app.view_functions[name]

        def counted(*args, **kw):  # counts the requests that reached Flask's view
            into.append(kw.get("attempt_id"))
            return view(*args, **kw)
        app.view_functions[name] = counted

    counting("api.save_answers", calls)
    counting("api.submit_attempt", submits)
    with serve_wsgi(app) as server:
        server.flask_calls, server.flask_submits = calls, submits
        yield server
    stop_writer(app)


def signed(app, user_id, **session):
    csrf = secrets.token_urlsafe(16)
    data = {"user_id": user_id, "signed_in_at": clock.timestamp(), "_csrf": csrf, **session}
    cookie = app.session_interface.get_signing_serializer(app).dumps(data)
    http = requests.Session()
    http.trust_env = False
    http.headers.update({"Cookie": f"{factories.SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf})
    return http


def ev(seq, q, response):
    return {"writer": "tab-1", "seq": seq, "question_id": q, "response": response, "client_time": None,
            "epoch": None}


def test_the_owner_s_saves_skip_flask_after_the_first(app, live, db_session, sitting):
    attempt_id, user_id = factories.attempt(db_session, sitting)
    q = question(sitting, "single")
    http = signed(app, user_id)
    url = f"{live.url}/api/attempts/{attempt_id}/answers"
    first = http.post(url, json={"events": [ev(1, q, {"choice": "a"})]}, timeout=30)
    second = http.post(url, json={"events": [ev(2, q, {"choice": "b"}), ev(1, q, {"choice": "a"})]}, timeout=30)
    assert first.status_code == second.status_code == 200
    assert live.flask_calls == []  # neither reached Flask: the fast path looked the owner up itself
    acks = second.json()["acks"]
    assert [a["seq"] for a in acks] == [2, 1] and acks[1]["duplicate"] and acks[1]["head"] == first.json()["acks"][0]["head"]
    assert second.headers["Content-Type"] == "application/json"


def test_refusals_keep_the_view_s_translated_messages(app, live, db_session, sitting):
    attempt_id, user_id = factories.attempt(db_session, sitting)
    q = question(sitting, "single")
    url = f"{live.url}/api/attempts/{attempt_id}/answers"
    zh, en = signed(app, user_id, locale="zh_CN"), signed(app, user_id, locale="en")
    assert zh.post(url, json={"events": [ev(1, q, {"choice": "a"})]}, timeout=30).status_code == 200
    bad = [ev(2, q, {"choice": "nope"}), ev(3, q, {"choice": "b"})]
    zh_acks = zh.post(url, json={"events": bad}, timeout=30).json()["acks"]
    en_acks = en.post(url, json={"events": [ev(2, q, {"choice": "nope"})]}, timeout=30).json()["acks"]
    assert live.flask_calls == []
    assert zh_acks[0]["error"] == en_acks[0]["error"] == "invalid" and "head" in zh_acks[1]
    assert zh_acks[0]["message"] != en_acks[0]["message"] and "option" in en_acks[0]["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh_acks[0]["message"])


@pytest.mark.parametrize("case", ["expired", "bad_csrf", "other_candidate", "bad_json", "no_events", "bad_cookie"])
def test_what_the_fast_path_does_not_serve_flask_answers(app, live, db_session, sitting, case):
    attempt_id, user_id = factories.attempt(db_session, sitting)
    other_attempt, other_user = factories.attempt(db_session, sitting)
    q = question(sitting, "single")
    url = f"{live.url}/api/attempts/{attempt_id}/answers"
    owner = signed(app, user_id)
    assert owner.post(url, json={"events": [ev(1, q, {"choice": "a"})]}, timeout=30).status_code == 200
    body = {"events": [ev(2, q, {"choice": "b"})]}
    if case == "expired":
        http = signed(app, user_id)
        stale = app.session_interface.get_signing_serializer(app).dumps(
            {"user_id": user_id, "signed_in_at": clock.timestamp() - 13 * 3600, "_csrf": "t"})
        http.headers.update({"Cookie": f"{factories.SESSION_COOKIE}={stale}", "X-CSRF-Token": "t"})
        expected = 401
    elif case == "bad_csrf":
        http = signed(app, user_id)
        http.headers["X-CSRF-Token"] = "wrong"
        expected = 400
    elif case == "other_candidate":
        http = signed(app, other_user)
        expected = 403
    elif case == "bad_cookie":
        http = signed(app, user_id)
        http.headers["Cookie"] = f"{factories.SESSION_COOKIE}=forged.value.sig"
        expected = 400  # no session: no CSRF token to match
    else:
        http = owner
        body = "{not json" if case == "bad_json" else {"events": []}
        expected = 422
    if isinstance(body, str):
        r = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    else:
        r = http.post(url, json=body, timeout=30)
    assert r.status_code == expected, r.text
    assert r.json()["error"]
    # Flask answered: its CSRF check stops the two cases without a valid token before the view
    assert len(live.flask_calls) == (0 if case in ("bad_csrf", "bad_cookie") else 1)
    db_session.rollback()
    assert writer_heads(db_session, attempt_id)["tab-1"]["max_seq"] == 1  # nothing stored by a refused request


def test_submits_are_served_here_and_refusals_by_flask(app, live, db_session, sitting):
    from bridge.models.attempts import Attempt
    from bridge.models.papers import Paper

    attempt_id, user_id = factories.attempt(db_session, sitting)
    early_id, early_user = factories.attempt(db_session, sitting)
    q = question(sitting, "single")
    base = f"{live.url}/api/attempts"
    owner, early = signed(app, user_id), signed(app, early_user)
    for http, a in ((owner, attempt_id), (early, early_id)):  # owners become known to the fast path
        assert http.post(f"{base}/{a}/answers", json={"events": [ev(1, q, {"choice": "a"})]}, timeout=30).ok
    first = owner.post(f"{base}/{attempt_id}/submit", json={"key": "k"}, timeout=30)
    again = owner.post(f"{base}/{attempt_id}/submit", json={"key": "k"}, timeout=30)
    assert first.status_code == again.status_code == 200 and live.flask_submits == []
    assert not first.json()["duplicate"] and again.json()["duplicate"]
    assert again.json()["submitted_at"] == first.json()["submitted_at"]

    db_session.add(Paper(exam_id=sitting.exam_id, early_submit_minutes=30))
    db_session.commit()
    refused = early.post(f"{base}/{early_id}/submit", json={"key": "k"}, timeout=30)
    assert refused.status_code == 409 and refused.json()["error"] == "too_early"
    assert live.flask_submits == [early_id]  # rendered by Flask's view
    db_session.rollback()
    assert db_session.get(Attempt, early_id).status == "in_exam"
    assert db_session.get(Attempt, attempt_id).status == "submitted"


def test_behind_a_proxy_the_fast_path_sees_the_client_s_address(make_app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from bridge.web.api.fast import AutosaveFastPath

    proxied = make_app(PROXY_HOPS=1)
    assert isinstance(proxied.wsgi_app, ProxyFix) and isinstance(proxied.wsgi_app.app, AutosaveFastPath)
