"""The real HTTP flow from the sandbox LMS into the bridge and back (issue 2, Done when):
login initiation → platform auth → id_token form post → launch, for a teacher and a
student; deep linking; NRPS sync with role mapping; an AGS score in the LMS gradebook,
also after an outage."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from tests.fixtures.world import NONEDITING, STUDENT1, STUDENT2, STUDENT3, TEACHER


def _exam_id(resp) -> int:
    return int(re.search(r"/exam/(\d+)", resp.url).group(1))


@pytest.mark.req("L1", "L6")
def test_teacher_and_student_launch_over_real_sockets(lms_world):
    activity = lms_world.add_activity("Quiz room")
    teacher = lms_world.browser()
    page = lms_world.launch(teacher, TEACHER, activity.id)
    assert page.status_code == 200, teacher.trail
    assert page.url.startswith(lms_world.bridge + "/course/")
    assert "Hello, Tess Teacher" in page.text or "你好，Tess Teacher" in page.text
    trail = "\n".join(teacher.trail)
    assert "/lti/login" in trail and "/mod/lti/auth.php" in trail and "POST " + lms_world.bridge + "/lti/launch" in trail
    assert lms_world.lms.url.startswith("http://localhost:") and lms_world.bridge.startswith("http://127.0.0.1:")

    student = lms_world.browser()
    page = lms_world.launch(student, STUDENT1, activity.id)
    assert page.status_code == 200 and "Sam Student" in page.text
    assert "Create exam" not in page.text and "创建考试" not in page.text


@pytest.mark.req("L1")
def test_sandbox_login_by_post_form_like_moodle(lms_world):
    lms_world.lms.state.set_login_method("post")
    activity = lms_world.add_activity()
    b = lms_world.browser()
    page = lms_world.launch(b, STUDENT2, activity.id)
    assert page.status_code == 200 and "Sue Student" in page.text, b.trail
    assert any(step.startswith("POST " + lms_world.bridge + "/lti/login") for step in b.trail)


@pytest.mark.req("L3", "L5")
def test_deep_linking_round_trip_through_the_lms(lms_world):
    teacher = lms_world.browser()
    pick = teacher.get(lms_world.lms.state.deep_link_url(TEACHER, lms_world.tool.client_id))
    assert pick.status_code == 200 and pick.url.endswith("/lti/deeplink"), teacher.trail
    done = teacher.post(lms_world.bridge + "/lti/deeplink/respond", data={"title": "Final exam", "duration_minutes": "90"})
    assert done.status_code == 200 and done.url.startswith(lms_world.lms.url), teacher.trail
    (activity,) = [a for a in lms_world.lms.state.activities if a.title == "Final exam"]
    items = lms_world.lms.state.activity_line_items(activity.id)
    assert len(items) == 1 and items[0].score_maximum == 100
    assert activity.custom.get("exambridge_exam")

    student = lms_world.browser()
    page = lms_world.launch(student, STUDENT1, activity.id)
    assert "/exam/" in page.url and "Final exam" in page.text


@pytest.mark.req("L4")
def test_roster_sync_maps_roles_and_resyncs_without_duplicates(lms_world):
    from bridge.extensions import db
    from bridge.models.users import CourseMember, User

    activity = lms_world.add_activity()
    teacher = lms_world.browser()
    course_page = lms_world.launch(teacher, TEACHER, activity.id)
    nora = lms_world.browser()
    lms_world.launch(nora, NONEDITING, activity.id)      # Instructor at launch
    course_path = course_page.url[len(lms_world.bridge):]
    for _ in range(2):
        resp = teacher.post(lms_world.bridge + course_path + "/roster/sync")
        assert resp.status_code == 200
        assert "flash-error" not in resp.text, re.findall(r'class="flash[^"]*"[^>]*>([^<]*)', resp.text)
    with lms_world.app.app_context():
        rows = db.session.execute(select(User.lti_sub, CourseMember.role).join(CourseMember,
                                  CourseMember.user_id == User.id)).all()
    roles = dict(rows)
    assert len(rows) == len(roles)                              # nobody twice
    assert roles[str(TEACHER)] == "teacher"
    assert roles[str(NONEDITING)] == "teacher"                  # the roster's "Learner" does not downgrade
    assert roles[str(STUDENT1)] == roles[str(STUDENT2)] == roles[str(STUDENT3)] == "candidate"


@pytest.mark.req("L5")
def test_score_reaches_the_gradebook_and_survives_an_outage(lms_world):
    from bridge import clock
    from bridge.extensions import db
    from bridge.models.users import User
    from lms_plugin.services import outbox

    teacher = lms_world.browser()
    activity, line_item = lms_world.place_exam(teacher, "Graded", 30)
    exam_page = lms_world.launch(teacher, TEACHER, activity.id)
    exam_id = _exam_id(exam_page)
    course_path = re.search(r'href="(/course/\d+)"', exam_page.text).group(1)
    teacher.post(lms_world.bridge + course_path + "/roster/sync")
    with lms_world.app.app_context():
        sam = db.session.scalars(select(User.id).where(User.lti_sub == str(STUDENT1))).one()
        sue = db.session.scalars(select(User.id).where(User.lti_sub == str(STUDENT2))).one()

    # Platform up: the score arrives.
    teacher.post(f"{lms_world.bridge}{course_path}/exams/{exam_id}/score",
                 data={"user_id": str(sam), "score": "75", "comment": "good"})
    with lms_world.app.app_context():
        outbox.deliver_due()
    scores = lms_world.lms.state.scores(line_item.id)
    assert [(s.user_id, s.score_given) for s in scores] == [(str(STUDENT1), 75)]

    # Platform down: the score waits, nothing is lost.
    lms_world.lms.state.set_outage(True)
    teacher.post(f"{lms_world.bridge}{course_path}/exams/{exam_id}/score", data={"user_id": str(sue), "score": "60"})
    with lms_world.app.app_context():
        r = outbox.deliver_due()
        assert r.sent == 0 and r.retry == 1
        assert outbox.counts(db.session).get("pending") == 1
    page = teacher.get(f"{lms_world.bridge}/exam/{exam_id}")
    assert "waiting" in page.text or "等待发送" in page.text
    # Back up: delivered once its backoff has passed. Only the bridge's row is made due:
    # offsetting bridge.clock would also skew the JWTs the LMS checks against real time.
    lms_world.lms.state.set_outage(False)
    with lms_world.app.app_context():
        from lms_plugin.models import ScoreOutbox
        db.session.execute(update(ScoreOutbox).where(ScoreOutbox.status == "pending")
                           .values(next_attempt_at=clock.utcnow_naive()))
        db.session.commit()
        result = outbox.deliver_due()
        assert result.sent == 1, [(r.status, r.last_error) for r in outbox.for_exam(db.session, exam_id)]
        assert outbox.deliver_due().sent == 0                      # nothing twice
    log = lms_world.lms.state.score_log(line_item.id)
    assert sorted((s.user_id, s.score_given) for s in log) == [(str(STUDENT1), 75), (str(STUDENT2), 60)]
    gradebook = lms_world.browser().get(lms_world.lms.url + "/grade/report")
    assert "Sue Student" in gradebook.text and "Graded" in gradebook.text
