"""The JSON API over real HTTP (threaded werkzeug server, ``serve_wsgi``): acks only after the
group commit, per-event errors, idempotency under duplicated and reordered requests, who may
call it, and no 500 for bad input."""
from __future__ import annotations

import random
import threading

import pytest
import requests

from bridge.runtime.writer import stop_writer
from tests.delivery import factories
from tests.delivery.factories import question
from tests.fixtures.servers import serve_wsgi

pytestmark = pytest.mark.req("C5")


class Candidate:
    """A browser tab of one candidate: signed session cookie and CSRF header."""

    def __init__(self, app, base: str, attempt_id: int, user_id: int):
        cookie, csrf = factories.session_cookie(app, user_id)
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers.update({"Cookie": f"{factories.SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf})
        self.base = f"{base}/api/attempts/{attempt_id}"

    def save(self, *events, **kw):
        return self.http.post(f"{self.base}/answers", json={"events": list(events)}, timeout=30, **kw)

    def submit(self, key="k"):
        return self.http.post(f"{self.base}/submit", json={"key": key}, timeout=30)

    def state(self):
        return self.http.get(f"{self.base}/state", timeout=30).json()


def ev(seq, q, response, writer="tab-1", epoch=None):
    return {"writer": writer, "seq": seq, "question_id": q, "response": response, "client_time": 1.0,
            "epoch": epoch}


@pytest.fixture
def live(app):
    with serve_wsgi(app) as server:
        yield server
    stop_writer(app)


@pytest.fixture
def tab(app, live, db_session, sitting):
    attempt_id, user_id = factories.attempt(db_session, sitting)
    return Candidate(app, live.url, attempt_id, user_id)


def test_save_then_state(tab, sitting):
    q1, q2 = question(sitting, "single"), question(sitting, "fill")
    r = tab.save(ev(1, q1, {"choice": "b"}), ev(2, q2, {"blanks": ["x", None]}))
    assert r.status_code == 200, r.text
    acks = r.json()["acks"]
    assert [a["seq"] for a in acks] == [1, 2] and not any(a["duplicate"] for a in acks)
    state = tab.state()
    assert state["status"] == "in_exam" and state["epoch"] == 1
    assert 0 < state["remaining_ms"] <= 120 * 60 * 1000
    assert state["answers"] == {str(q1): {"choice": "b"}, str(q2): {"blanks": ["x", None]}}
    assert state["writers"] == {"tab-1": {"max_seq": 2, "head": acks[1]["head"]}}


def test_per_event_errors_do_not_fail_the_others(tab, sitting):
    q = question(sitting, "single")
    r = tab.save(ev(1, q, {"choice": "a"}), ev(2, q, {"choice": "nope"}), "garbage",
                 {"writer": "tab-1", "seq": 3, "question_id": q, "response": {"choice": "c"}, "surprise": 1},
                 ev(1, q, {"choice": "d"}), ev(4, q, {"choice": "c"}))
    assert r.status_code == 200, r.text
    acks = r.json()["acks"]
    assert "head" in acks[0] and "head" in acks[5]
    assert [a.get("error") for a in acks] == [None, "invalid", "invalid", "invalid", "conflict", None]
    assert all(a["message"] for a in acks if "error" in a)
    assert tab.state()["answers"] == {str(q): {"choice": "c"}}


def test_duplicated_and_reordered_requests(tab, sitting):
    """Three writers × 20 seqs, each request sent twice, all shuffled, from 8 threads."""
    items = [question(sitting, t) for t in ("single", "truefalse")]
    kinds = dict(sitting.questions)

    def event(w, seq):
        q = items[seq % 2]
        return ev(seq, q, factories.sample_response(kinds[q], seq), writer=w)

    sends = [(w, s) for w in ("a", "b", "c") for s in range(1, 21)] * 2
    random.Random(3).shuffle(sends)
    acks, problems = {}, []

    def worker(chunk):
        for w, s in chunk:
            r = tab.save(event(w, s))
            if r.status_code != 200 or "error" in r.json()["acks"][0]:
                problems.append(r.text)
            else:
                acks.setdefault((w, s), set()).add(r.json()["acks"][0]["head"])

    threads = [threading.Thread(target=worker, args=(sends[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not problems
    assert len(acks) == 60 and all(len(heads) == 1 for heads in acks.values())  # a retry gets the same ack
    state = tab.state()
    assert {w: h["max_seq"] for w, h in state["writers"].items()} == {"a": 20, "b": 20, "c": 20}
    assert state["answers"][str(items[0])] == event("a", 20)["response"]
    assert state["answers"][str(items[1])] == event("a", 19)["response"]


@pytest.mark.parametrize("status, code", [("locked", "locked"), ("submitted", "submitted")])
def test_a_closed_attempt_refuses_each_event(tab, db_session, sitting, status, code):
    factories.set_status(db_session, int(tab.base.rsplit("/", 1)[1]), status)
    r = tab.save(ev(1, question(sitting, "single"), {"choice": "a"}))
    assert r.status_code == 200
    assert r.json()["acks"][0]["error"] == code


def test_deadline_refusal(tab, sitting, clock_reset):
    clock_reset.set_offset(121 * 60)
    assert tab.save(ev(1, question(sitting, "essay"), {"text": "x"})).json()["acks"][0]["error"] == "deadline"
    assert tab.state()["remaining_ms"] == 0


@pytest.mark.req("C7")
def test_submit_is_idempotent_over_http(tab, sitting):
    tab.save(ev(1, question(sitting, "single"), {"choice": "a"}))
    results = []
    threads = [threading.Thread(target=lambda: results.append(tab.submit("same-key"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    bodies = [r.json() for r in results]
    assert all(r.status_code == 200 for r in results)
    assert sum(not b["duplicate"] for b in bodies) == 1
    assert {b["submitted_at"] for b in bodies} == {bodies[0]["submitted_at"]}
    assert tab.state()["status"] == "submitted"


def test_only_the_candidate_may_call(app, live, db_session, sitting, tab):
    other_id, other_user = factories.attempt(db_session, sitting)
    intruder = Candidate(app, live.url, other_id, factories.attempt(db_session, sitting)[1])
    for response in (intruder.save(ev(1, question(sitting, "single"), {"choice": "a"})),
                     intruder.submit(), intruder.http.get(f"{intruder.base}/state", timeout=30)):
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
    anonymous = requests.post(f"{tab.base}/answers", json={"events": []}, timeout=30)
    assert anonymous.status_code == 400 and anonymous.json()["error"] == "csrf_failed"
    no_csrf = tab.http.post(f"{tab.base}/answers", json={"events": []}, timeout=30,
                            headers={"X-CSRF-Token": "wrong"})
    assert no_csrf.status_code == 400
    missing = tab.http.post(f"{live.url}/api/attempts/999999/answers", json={"events": []}, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_no_sign_in_is_401(live, tab):
    lone = requests.Session()
    lone.trust_env = False
    assert lone.get(f"{tab.base}/state", timeout=30).status_code == 401


@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", b'{"events": "x"}', b'{"events": []}', b'{"events": {}}', b"null",
    b'{"events": [' + b",".join([b"{}"] * 101) + b"]}", b"\xff\xfe",
])
def test_bad_bodies_are_4xx_json(tab, body):
    r = tab.http.post(f"{tab.base}/answers", data=body, headers={"Content-Type": "application/json"},
                      timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"] and r.json()["message"]


def test_bad_submit_body_is_4xx(tab):
    r = tab.http.post(f"{tab.base}/submit", json={"key": ["x"]}, timeout=30)
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    assert tab.http.post(f"{tab.base}/submit", data=b"{", timeout=30,
                         headers={"Content-Type": "application/json"}).status_code == 422
