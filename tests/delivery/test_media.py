"""A question's media as the candidate's exam page fetches it (C4): a raster image inline,
with the type its bytes show; anything else (an SVG or HTML file stored before imports
refused them) only as a download; every answer a sandbox the browser may not sniff."""
from __future__ import annotations

import hashlib

import pytest

from bridge.models.bank import QuestionMedia
from tests.delivery import factories

pytestmark = pytest.mark.req("C4")

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><script>fetch('http://127.0.0.1:8765/')</script>"


def sandboxed(resp) -> bool:
    """The policy holds ``sandbox`` and ``default-src 'none'`` (other hooks may add
    directives that are not fetch directives, such as frame-ancestors)."""
    directives = {d.strip().split()[0]: d.strip() for d in resp.headers["Content-Security-Policy"].split(";")
                  if d.strip()}
    return directives.get("sandbox") == "sandbox" and directives.get("default-src") == "default-src 'none'"


@pytest.fixture
def candidate(app, db_session, sitting):
    attempt_id, user_id = factories.attempt(db_session, sitting)
    qid = sitting.questions[0][0]
    for name, mime, data in (("fig.png", "text/html", PNG), ("fig.svg", "image/svg+xml", SVG),
                             ("fig.html", "text/html", HTML), ("img/页.png", "image/png", PNG)):
        db_session.add(QuestionMedia(question_id=qid, name=name, mime=mime, data=data,
                                     sha256=hashlib.sha256(data).hexdigest()))
    db_session.commit()
    http = app.test_client()
    cookie, _csrf = factories.session_cookie(app, user_id)
    http.set_cookie(factories.SESSION_COOKIE, cookie, domain="localhost")
    return http, f"/attempt/{attempt_id}/media/{qid}"


def test_an_image_is_inline_with_the_type_its_bytes_show(candidate):
    http, base = candidate
    for name in ("fig.png", "img/页.png"):
        resp = http.get(f"{base}/{name}")
        assert resp.status_code == 200 and resp.data == PNG
        assert resp.mimetype == "image/png"                  # not the stored "text/html"
        assert "Content-Disposition" not in resp.headers
        assert sandboxed(resp)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name, data", [("fig.svg", SVG), ("fig.html", HTML)])
def test_active_content_already_stored_is_only_a_sandboxed_download(candidate, name, data):
    """Issue 13: a bank's fig.svg or fig.html was served inline on the bridge's origin."""
    http, base = candidate
    resp = http.get(f"{base}/{name}")
    assert resp.status_code == 200 and resp.data == data
    assert resp.mimetype == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith(f'attachment; filename="{name}"')
    assert sandboxed(resp)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_media_is_404(candidate):
    http, base = candidate
    assert http.get(f"{base}/nothing.png").status_code == 404
