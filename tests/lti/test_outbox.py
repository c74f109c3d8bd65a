"""The score outbox (L5): retried until it succeeds, never lost, never sent twice.

The LMS is a FakeMoodle on a real socket; time moves with ``clock.set_offset``, never sleep.
Here: publishing a score, and delivering it (the line item, outages and backoff, refusals).
Claims, leases, concurrent workers and the background sender: test_outbox_workers.py.
"""
from __future__ import annotations

import datetime as dt
import socket

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from bridge import clock
from bridge.errors import Invalid
from bridge.models.audit import AuditEntry
from lms_plugin.services import outbox
from tests.fixtures.servers import serve_wsgi
from tests.lti.factories import (LINEITEMS_PATH, FakeMoodle, add_member, candidate, make_course, make_exam,
                                 make_platform, make_user)
from tests.lti.outbox_helpers import advance, publish, rows

pytestmark = pytest.mark.req("L5")


# --- publishing --------------------------------------------------------------------------------
@pytest.mark.parametrize("score", [-0.5, 10.01, float("nan"), float("inf"), "abc"])
def test_score_outside_the_range_is_refused(db_session, setup, score):
    exam, sam, _ = setup
    with pytest.raises(Invalid) as err:
        outbox.publish_score(db_session, exam, sam.id, score_given=score, actor="t")
    assert "between 0 and 10" in err.value.message


def test_only_active_lms_members_can_get_a_score(db_session, setup):
    exam, sam, _ = setup
    course = exam.course
    stranger = make_user(db_session, course.deployment.platform, "99")
    local = make_user(db_session, None, None, username="proctor1")
    add_member(db_session, course, local, role="candidate")
    sam_member = course.members[0]
    sam_member.active = False
    for user, words in ((stranger, "not an active member"), (sam, "not an active member"),
                        (local, "has no LMS account")):
        with pytest.raises(Invalid) as err:
            outbox.publish_score(db_session, exam, user.id, score_given=5, actor="t")
        assert words in err.value.message


def test_a_course_without_grade_services_refuses_at_once(db_session, setup):
    exam, sam, _ = setup
    course = exam.course
    course.ags_scopes = [s for s in course.ags_scopes if not s.endswith("/score")]
    with pytest.raises(Invalid) as err:
        outbox.publish_score(db_session, exam, sam.id, score_given=5, actor="t")
    assert "send scores" in err.value.message
    course.ags_lineitems_url = None
    with pytest.raises(Invalid) as err:
        outbox.publish_score(db_session, exam, sam.id, score_given=5, actor="t")
    assert "Assignment and Grade Services" in err.value.message
    assert rows(db_session, exam) == []


def test_publish_writes_a_pending_row_and_an_audit_line(db_session, setup):
    exam, sam, _ = setup
    clock.set_offset(0)
    row = publish(db_session, exam, sam, 7.5, comment="good")
    assert (row.status, row.attempts, row.score_given, row.score_maximum, row.comment) == (
        "pending", 0, 7.5, 10.0, "good")
    assert len(row.idempotency_key) == 64
    stamp = dt.datetime.fromisoformat(row.timestamp)
    assert row.timestamp.endswith("+00:00") and len(row.timestamp.split(".")[1]) == 9  # ms
    assert abs((stamp - clock.now()).total_seconds()) < 5
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "score.publish")).one()
    assert entry.target == f"exam:{exam.id}/user:{sam.id}" and entry.detail["score_given"] == 7.5


def test_the_same_score_twice_is_one_row(db_session, setup):
    exam, sam, _ = setup
    first = publish(db_session, exam, sam, 7.5, comment="good")
    second = publish(db_session, exam, sam, 7.5, comment="good")
    assert first.id == second.id and len(rows(db_session, exam)) == 1


def test_a_newer_score_supersedes_an_unsent_one(db_session, setup):
    exam, sam, sue = setup
    old = publish(db_session, exam, sam, 5)
    other = publish(db_session, exam, sue, 6)
    new = publish(db_session, exam, sam, 8)
    back = publish(db_session, exam, sam, 5)  # going back to 5 is a new publication
    states = {r.id: r.status for r in rows(db_session, exam)}
    assert states == {old.id: "superseded", other.id: "pending", new.id: "superseded",
                      back.id: "pending"}


def test_counts_and_for_exam(db_session, setup):
    exam, sam, sue = setup
    publish(db_session, exam, sam, 5)
    publish(db_session, exam, sam, 6)
    publish(db_session, exam, sue, 7)
    assert outbox.counts(db_session) == {"pending": 2, "sent": 0, "superseded": 1, "failed": 0}
    listed = outbox.for_exam(db_session, exam.id)
    assert [r.score_given for r in listed] == [7, 6, 5]  # newest first
    assert listed[0].user.lti_sub == "6"


# --- delivering --------------------------------------------------------------------------------
def test_delivery_creates_the_line_item_once_and_posts(app, db_session, setup, moodle):
    exam, sam, sue = setup
    publish(db_session, exam, sam, 7.5, comment="good")
    publish(db_session, exam, sue, 9)

    result = outbox.deliver_due(app)
    assert (result.sent, result.retry, result.failed) == (2, 0, 0)
    assert all(r.status == "sent" and r.sent_at and r.attempts == 1 for r in rows(db_session, exam))
    assert [c.path for c in moodle.calls("POST")
            if c.path.endswith("/lineitems")] == [LINEITEMS_PATH]  # the line item, once
    assert db_session.get(type(exam), exam.id).lineitem_url.endswith("/3/lineitem?type_id=1")
    assert moodle.score_posts == {"5": 1, "6": 1}
    sent = {s["userId"]: s for s in moodle.scores}
    assert sent["5"]["scoreGiven"] == 7.5 and sent["5"]["comment"] == "good"
    assert sent["5"]["_lineitem"].endswith("/3/lineitem")
    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 0, 0)  # nothing twice


def test_a_placed_exam_scores_into_its_activity_column(app, db_session, setup, moodle):
    """Issue 12 (two gradebook columns): placed in the activity whose line item Moodle made
    (resourceLinkId 1), the exam writes there; no column of its own."""
    from lms_plugin.models import ResourceLink

    exam, sam, _ = setup
    db_session.add(ResourceLink(course_id=exam.course_id, resource_link_id="1", title="Midterm", exam_id=exam.id))
    db_session.commit()
    publish(db_session, exam, sam, 7)
    assert outbox.deliver_due(app).sent == 1
    assert [c for c in moodle.calls("POST") if c.path.endswith("/lineitems")] == []  # no new column
    exam = db_session.get(type(exam), exam.id)
    assert exam.lineitem_url.endswith("/2/lineitem?type_id=1") and exam.lineitem_source == "activity"
    assert [s["_lineitem"] for s in moodle.scores] == [f"{LINEITEMS_PATH}/2/lineitem"]


def test_a_column_change_sends_the_delivered_scores_again(app, db_session, setup, moodle):
    """An exam that got a column of its own and is placed later: the activity's column takes
    over, and what was delivered goes again, there."""
    from lms_plugin.services import gradebook

    exam, sam, sue = setup
    publish(db_session, exam, sam, 7)
    publish(db_session, exam, sue, 8)
    assert outbox.deliver_due(app).sent == 2
    exam = db_session.get(type(exam), exam.id)
    assert exam.lineitem_source == "created" and exam.lineitem_url.endswith("/3/lineitem?type_id=1")
    activity = f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1"
    assert gradebook.adopt_activity_lineitem(db_session, exam, activity, actor="system:launch")
    db_session.commit()
    assert outbox.deliver_due(app).sent == 2
    assert sorted((s["userId"], s["_lineitem"].rsplit("/", 2)[-2]) for s in moodle.scores) == [
        ("5", "2"), ("5", "3"), ("6", "2"), ("6", "3")]
    # a teacher's choice is kept; an activity's column is not replaced by another activity's
    assert not gradebook.adopt_activity_lineitem(db_session, exam, activity.replace("/2/", "/9/"),
                                                 actor="system:launch")


def test_platform_down_then_back_delivers_exactly_once(app, db_session, setup, moodle):
    exam, sam, _ = setup
    publish(db_session, exam, sam, 7.5)
    moodle.outage = 503

    waits = []
    for attempt in range(1, 5):
        result = outbox.deliver_due(app)
        assert (result.sent, result.retry, result.failed) == (0, 1, 0)
        (row,) = rows(db_session, exam)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert "503" in row.last_error
        wait = (row.next_attempt_at - clock.utcnow_naive()).total_seconds()
        ceiling = min(900, 5 * 2 ** (attempt - 1))
        assert ceiling / 2 - 1 <= wait <= ceiling  # exponential, with jitter
        waits.append(wait)
        assert outbox.deliver_due(app).retry == 0  # not due yet: not tried again
        advance(wait + 1)
    assert waits[-1] > waits[0]

    moodle.outage = None
    assert outbox.deliver_due(app).sent == 1
    (row,) = rows(db_session, exam)
    assert (row.status, row.attempts, row.last_error) == ("sent", 5, "")
    assert moodle.score_posts == {"5": 1}
    advance(3600)
    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 0, 0)
    assert moodle.score_posts == {"5": 1}


def test_backoff_doubles_with_jitter_up_to_the_cap():
    assert outbox.backoff_seconds(1, cap=900, rand=lambda: 1.0) == 5
    assert outbox.backoff_seconds(3, cap=900, rand=lambda: 0.0) == 10
    assert outbox.backoff_seconds(30, cap=900, rand=lambda: 1.0) == 900
    assert outbox.backoff_seconds(10_000, cap=60, rand=lambda: 0.5) == 45


def test_closed_port_then_the_lms_starts(make_app, fresh_tokens):
    app = make_app(OUTBOX_MAX_BACKOFF_SECONDS=20, HTTP_TIMEOUT_SECONDS=3)
    # Hold the port bound but not listening: connections are refused, and no other test can
    # take the port before the LMS starts on it (SO_REUSEADDR lets the server bind it too).
    reserved = socket.socket()
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.bind(("127.0.0.1", 0))
    port = reserved.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    with reserved, app.app_context():
        from bridge.extensions import db
        from lms_plugin.services import tool_keys

        session = db.session
        jwks = {"keys": tool_keys.published(session)}
        session.commit()
        platform = make_platform(session, origin)
        course = make_course(session, platform)
        exam = make_exam(session, course)
        sam = candidate(session, course, "5")
        publish(session, exam, sam, 4)

        for _ in range(6):  # many failures: the wait stops growing at the configured cap
            assert outbox.deliver_due(app).retry == 1
            (row,) = rows(session, exam)
            wait = (row.next_attempt_at - clock.utcnow_naive()).total_seconds()
            assert wait <= 20
            advance(wait + 1)
        assert row.attempts == 6 and "could not be reached" in row.last_error

        lms = FakeMoodle(jwks=jwks)
        lms.serve_origin(origin)
        server = make_server("127.0.0.1", port, lms, threaded=True)
        reserved.close()
        with serve_wsgi(None, server=server):
            assert outbox.deliver_due(app).sent == 1
        assert lms.score_posts == {"5": 1} and lms.assertion_errors == []
        assert rows(session, exam)[0].status == "sent"


def test_delivery_on_a_fresh_install_makes_the_signing_key_first(app, db_session, fresh_tokens):
    """No key yet (nothing fetched the JWKS): delivery makes one before it claims a row."""
    from lms_plugin.models import ToolKey

    with socket.socket() as reserved:  # an LMS that refuses connections
        reserved.bind(("127.0.0.1", 0))
        platform = make_platform(db_session, f"http://127.0.0.1:{reserved.getsockname()[1]}")
        course = make_course(db_session, platform)
        exam = make_exam(db_session, course)
        publish(db_session, exam, candidate(db_session, course, "5"), 4)
        assert db_session.scalars(select(ToolKey)).first() is None

        assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 1, 0)
    assert db_session.scalars(select(ToolKey)).first() is not None
    assert rows(db_session, exam)[0].attempts == 1


def test_permanent_refusal_fails_the_row_with_the_lms_message(app, db_session, setup, moodle):
    exam, sam, _ = setup
    publish(db_session, exam, sam, 7)
    moodle.score_reply = (400, '{"status": 400, "reason": "User not enrolled in course"}')

    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 0, 1)
    (row,) = rows(db_session, exam)
    assert row.status == "failed" and "User not enrolled in course" in row.last_error
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "score.failed")).one()
    assert entry.outcome == "error" and entry.detail["status"] == 400
    advance(3600)
    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 0, 0)  # failed is final

    moodle.score_reply = None  # the teacher fixed it in the LMS and publishes again
    again = publish(db_session, exam, sam, 7)
    assert again.id != row.id and again.status == "pending"
    assert outbox.deliver_due(app).sent == 1


def test_a_newer_score_while_the_lms_is_down_replaces_the_old_one(app, db_session, setup, moodle):
    exam, sam, _ = setup
    publish(db_session, exam, sam, 5)
    moodle.outage = 503
    assert outbox.deliver_due(app).retry == 1
    publish(db_session, exam, sam, 8)
    moodle.outage = None
    advance(3600)

    assert outbox.deliver_due(app).sent == 1
    assert [s["scoreGiven"] for s in moodle.scores] == [8]
    assert [r.status for r in rows(db_session, exam)] == ["sent", "superseded"]


def test_one_unreachable_platform_is_tried_once_per_run(app, db_session, setup, moodle):
    exam, sam, sue = setup
    publish(db_session, exam, sam, 5)
    publish(db_session, exam, sue, 6)
    moodle.outage = 503
    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 1, 0)
    assert sorted(r.attempts for r in rows(db_session, exam)) == [0, 1]


def test_a_refused_token_keeps_the_score_until_the_set_up_is_fixed(app, db_session, setup, moodle):
    """invalid_client is the LMS refusing the tool's set-up (a key or client id an admin can
    fix), not the score: the row waits at the longest backoff instead of failing."""
    exam, sam, _ = setup
    publish(db_session, exam, sam, 8)
    right = moodle.client_id
    moodle.client_id = "someone-else"
    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 1, 0)
    (row,) = rows(db_session, exam)
    cap = app.config["EXAMBRIDGE_OUTBOX_MAX_BACKOFF_SECONDS"]
    assert row.status == "pending" and "invalid_client" in row.last_error
    assert row.next_attempt_at >= clock.utcnow_naive() + dt.timedelta(seconds=cap - 5)
    moodle.client_id = right
    advance(cap + 1)
    assert outbox.deliver_due(app).sent == 1
    assert moodle.score_posts == {"5": 1}


def test_a_stale_timestamp_409_is_sent_again_with_a_new_time(app, db_session, setup, moodle):
    """Moodle 4.5 answers 409 to a score not newer (to the second) than the one it holds."""
    exam, sam, _ = setup
    publish(db_session, exam, sam, 9)
    (row,) = rows(db_session, exam)
    first_time = row.timestamp
    moodle.score_reply = (409, '{"status": 409, "reason": "Refusing score with an earlier timestamp"}')
    advance(2)
    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 1, 0)
    (row,) = rows(db_session, exam)
    assert row.status == "pending" and row.timestamp > first_time
    moodle.score_reply = None
    advance(3600)
    assert outbox.deliver_due(app).sent == 1
    assert moodle.scores[-1]["timestamp"] == row.timestamp and moodle.scores[-1]["scoreGiven"] == 9
