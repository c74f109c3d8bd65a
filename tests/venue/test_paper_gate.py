"""Before a session's exam authorization no item leaves the bridge in clear (V6; DESIGN
"Paper confidentiality"). A candidate of a session placed at a site, signed in, walks
every page and API the bridge serves (each GET route filled with this exam's, attempt's
and item's ids, and every candidate step) before the authorization: the item's text is
in no response. After the authorization the same candidate gets the item: the probe
sees items when they are there."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from bridge.services.proctoring import console
from bridge.services.venue import authorization, exam_data, seats
from tests.delivery.factories import SESSION_COOKIE, session_cookie
from tests.fixtures.servers import loopback_session, serve_wsgi
from tests.venue.readiness_world import SECRET_MARK, at, make_world, session_row


def every_get(app, values: dict) -> list[str]:
    """Each GET route of the app with its parameters filled from ``values`` (static files
    and the WebSocket excluded)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.startswith("/ws/"):
            continue
        if all(arg in values for arg in rule.arguments):
            urls.append(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule))
    return urls


def bodies(http, base: str, urls: list[str]) -> dict[str, str]:
    out = {}
    for url in urls:
        response = http.get(base + url, allow_redirects=True, timeout=30)
        assert response.status_code < 500, (url, response.status_code)
        out[url] = response.text
    return out


@pytest.mark.req("V6")
def test_no_item_leaves_the_bridge_before_the_session_is_authorized(app, db_session):
    w = make_world(app, db_session, start_in=dt.timedelta(minutes=20))
    seats.import_csv(db_session, w.room.id, "".join(f"{n},10.0.0.{n},PC{n},\n" for n in range(1, 6)).encode())
    sitting = exam_data.place(db_session, w.site.id, w.session_id, w.room.id, actor="user:1")
    exam_data.build(db_session, sitting.id, secret_key=w.secret)
    exam_data.load(db_session, sitting.id, secret_key=w.secret)
    db_session.commit()
    candidate = w.candidates[0]
    cookie, csrf = session_cookie(app, candidate.id)
    from bridge.models.papers import PaperItem, Paper
    from sqlalchemy import select

    question_id = db_session.scalar(select(PaperItem.question_id).join(Paper, Paper.id == PaperItem.paper_id)
                                    .where(Paper.exam_id == w.exam.id).order_by(PaperItem.position))
    with serve_wsgi(app) as srv:
        http = loopback_session()
        http.cookies.set(SESSION_COOKIE, cookie)
        http.headers["X-CSRF-Token"] = csrf
        seen: dict[str, str] = {}
        sat = http.get(f"{srv.url}/exam/{w.exam.id}/sit", allow_redirects=True, timeout=30)
        attempt_id = int(re.search(r"/attempt/(\d+)", sat.url).group(1))
        seen["sit"] = sat.text
        seen["rules"] = http.post(f"{srv.url}/attempt/{attempt_id}/rules", data={"confirm": "1"}, timeout=30).text
        at(w, session_row(w).starts_at + dt.timedelta(minutes=1))  # the session has started: only the gate holds
        refused = http.post(f"{srv.url}/attempt/{attempt_id}/start", timeout=30)
        assert refused.ok and 'id="wait-authorization"' in refused.text  # back to the waiting page, no item
        seen["start"] = refused.text
        values = {"exam_id": w.exam.id, "attempt_id": attempt_id, "question_id": question_id, "name": "figure.png",
                  "site_id": w.site.id, "room_id": w.room.id, "session_id": w.session_id, "sitting_id": 1,
                  "seat_id": 1, "platform_id": 1, "kiosk_id": 1}
        urls = every_get(app, values)
        assert len(urls) > 30 and f"/attempt/{attempt_id}" in urls and f"/api/attempts/{attempt_id}/state" in urls
        seen.update(bodies(http, srv.url, urls))
        seen["answers"] = http.post(f"{srv.url}/api/attempts/{attempt_id}/answers", json={"events": []}, timeout=30).text
        leaked = [where for where, body in seen.items() if SECRET_MARK in body]
        assert leaked == []
        # the authorization opens the gate: the same walk now finds the item
        authorization.authorize(db_session, w.session_id, site_id=w.site.id, actor="user:1")
        console.allow_start(db_session, sitting.id, secret_key=w.secret, actor="user:1")
        db_session.commit()
        assert http.post(f"{srv.url}/attempt/{attempt_id}/start", timeout=30).ok
        assert SECRET_MARK in http.get(f"{srv.url}/attempt/{attempt_id}", timeout=30).text
