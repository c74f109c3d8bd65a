"""One exam, one gradebook column (issue 12, with a real Moodle: "two gradebook columns").

An exam placed by deep linking scores into the line item of its activity; one made on the
course page gets a column of its own, and when it is placed later the activity's column takes
over (the delivered scores go again, there) and the old one can be removed from the exam's
gradebook page. The sandbox LMS's line items are counted before and after."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.fixtures.world import STUDENT1, TEACHER


def _publish_and_deliver(world, exam_id: int, score: float) -> None:
    from bridge.extensions import transaction
    from bridge.models.exams import Exam
    from bridge.models.users import User
    from lms_plugin.services import outbox

    with world.app.app_context():
        with transaction() as s:
            sam = s.scalars(select(User).where(User.lti_sub == str(STUDENT1))).one()
            outbox.publish_score(s, s.get(Exam, exam_id), sam.id, score_given=score, actor="test")
        outbox.deliver_due()


def _deliver(world) -> None:
    from lms_plugin.services import outbox

    with world.app.app_context():
        outbox.deliver_due()


def _scored_columns(world) -> dict[int, list[float]]:
    """Line item id → Sam's score in it, for every column that holds one."""
    lms = world.lms.state
    return {li.id: [s.score_given for s in lms.scores(li.id) if s.user_id == str(STUDENT1)]
            for li in lms.line_items if any(s.user_id == str(STUDENT1) for s in lms.scores(li.id))}


def _exam(world, title: str):
    from bridge.extensions import transaction
    from bridge.models.exams import Exam

    with world.app.app_context(), transaction() as s:
        exam = s.scalars(select(Exam).where(Exam.title == title)).one()
        return exam.id, exam.course_id, exam.lineitem_url, exam.lineitem_source


@pytest.mark.req("L5", "L3")
def test_an_exam_placed_by_deep_linking_scores_into_its_activity_column(lms_world):
    before = len(lms_world.lms.state.line_items)
    teacher = lms_world.browser()
    activity, line_item = lms_world.place_exam(teacher, "Placed quiz")
    lms_world.launch(lms_world.browser(), STUDENT1, activity.id)
    exam_id, _course, _url, _source = _exam(lms_world, "Placed quiz")

    _publish_and_deliver(lms_world, exam_id, 42)
    assert len(lms_world.lms.state.line_items) == before + 1          # the activity's, nothing else
    assert _scored_columns(lms_world) == {line_item.id: [42.0]}


@pytest.mark.req("L5", "L3")
def test_an_exam_made_in_the_tool_then_placed_keeps_one_column(lms_world):
    lms = lms_world.lms.state
    home = lms_world.add_activity("Course home")                       # no grade: no line item
    teacher = lms_world.browser()
    course_page = lms_world.launch(teacher, TEACHER, home.id)
    course_id = int(re.search(r"/course/(\d+)", course_page.url).group(1))
    made = teacher.post(f"{lms_world.bridge}/course/{course_id}/exams",
                        data={"title": "Made here", "duration_minutes": "30"})
    assert made.status_code == 200
    lms_world.launch(lms_world.browser(), STUDENT1, home.id)
    exam_id, _c, _u, _s = _exam(lms_world, "Made here")
    before = len(lms.line_items)

    # Placed nowhere: a column of its own, exactly one.
    _publish_and_deliver(lms_world, exam_id, 60)
    assert len(lms.line_items) == before + 1
    (own,) = [li for li in lms.line_items if li.activity_id is None]
    assert _scored_columns(lms_world) == {own.id: [60.0]}
    assert _exam(lms_world, "Made here")[3] == "created"

    # The teacher places the same exam by deep linking: Moodle makes the activity's column.
    teacher.get(lms.deep_link_url(TEACHER, lms_world.tool.client_id))
    teacher.post(f"{lms_world.bridge}/lti/deeplink/respond", data={"exam_id": str(exam_id)})
    (placed,) = [a for a in lms.activities if a.title == "Made here"]
    (column,) = lms.activity_line_items(placed.id)
    lms_world.launch(lms_world.browser(), STUDENT1, placed.id)       # the launch names the column
    _deliver(lms_world)
    assert _scored_columns(lms_world)[column.id] == [60.0]            # the activity's column is not empty
    assert _exam(lms_world, "Made here")[3] == "activity"
    _publish_and_deliver(lms_world, exam_id, 70)                       # later scores go there only
    assert _scored_columns(lms_world) == {own.id: [60.0], column.id: [70.0]}

    # The exam's gradebook page shows where scores go and removes the column no longer used.
    page = teacher.get(f"{lms_world.bridge}/course/{course_id}/exam/{exam_id}/gradebook")
    assert page.status_code == 200 and "the column of the activity the exam is placed in" in page.text
    removed = teacher.post(f"{lms_world.bridge}/course/{course_id}/exam/{exam_id}/gradebook/remove",
                           data={"lineitem": lms.urls.lineitem(own.id, own.type_id)})
    assert removed.status_code == 200 and "was removed from the LMS gradebook" in removed.text
    assert len(lms.line_items) == before + 1                           # one column for this exam
    assert _scored_columns(lms_world) == {column.id: [70.0]}


@pytest.mark.req("L5")
def test_a_teacher_sees_and_changes_the_column(lms_world):
    lms = lms_world.lms.state
    teacher = lms_world.browser()
    activity, line_item = lms_world.place_exam(teacher, "Chosen quiz")
    lms_world.launch(lms_world.browser(), STUDENT1, activity.id)
    lms_world.launch(teacher, TEACHER, activity.id)
    exam_id, course_id, url, source = _exam(lms_world, "Chosen quiz")
    assert source == "activity" and url == lms.urls.lineitem(line_item.id, line_item.type_id)
    _publish_and_deliver(lms_world, exam_id, 50)

    other = lms.create_line_item(type_id=lms_world.tool.type_id, label="Final grade", score_maximum=100)
    other_url = lms.urls.lineitem(other.id, other.type_id)
    gradebook = f"{lms_world.bridge}/course/{course_id}/exam/{exam_id}/gradebook"
    page = teacher.get(gradebook)
    assert "Final grade" in page.text and "Chosen quiz" in page.text
    bad = teacher.post(gradebook, data={"lineitem": "https://evil.example/lineitem"})
    assert bad.status_code == 422 and "Choose one of the listed gradebook columns" in bad.text
    chosen = teacher.post(gradebook, data={"lineitem": other_url})
    assert chosen.status_code == 200 and chosen.url.endswith("/gradebook")     # POST, then redirect
    assert _exam(lms_world, "Chosen quiz")[2:] == (other_url, "chosen")
    _deliver(lms_world)
    assert _scored_columns(lms_world)[other.id] == [50.0]                      # delivered again, there
    lms_world.launch(lms_world.browser(), STUDENT1, activity.id)               # a launch keeps the choice
    assert _exam(lms_world, "Chosen quiz")[2:] == (other_url, "chosen")
    teacher.post(gradebook, data={"lineitem": "auto"})
    assert _exam(lms_world, "Chosen quiz")[2:] == (lms.urls.lineitem(line_item.id, line_item.type_id), "activity")


@pytest.mark.req("L5", "L4")
def test_an_exam_made_from_a_graded_activity_is_that_activitys_exam(lms_world):
    """The README's story: the teacher opens the course's graded ExamBridge activity and
    creates the exam there. It becomes the activity's exam (students who open the activity
    land on it) and scores into the activity's column; no second column appears. A second
    exam made in the same visit finds the activity taken and gets a column of its own."""
    lms = lms_world.lms.state
    activity = lms_world.add_activity("ExamBridge", line_item={"scoreMaximum": 100.0, "label": "ExamBridge"})
    (column,) = lms.activity_line_items(activity.id)
    before = len(lms.line_items)
    teacher = lms_world.browser()
    course_page = lms_world.launch(teacher, TEACHER, activity.id)
    course_id = int(re.search(r"/course/(\d+)", course_page.url).group(1))
    made = teacher.post(f"{lms_world.bridge}/course/{course_id}/exams",
                        data={"title": "Midterm", "duration_minutes": "30"})
    assert made.status_code == 200 and "ExamBridge" in made.text          # the flash names the activity
    exam_id, _c, url, source = _exam(lms_world, "Midterm")
    assert source == "activity"

    landing = lms_world.launch(lms_world.browser(), STUDENT1, activity.id)
    assert landing.url.endswith(f"/exam/{exam_id}")                        # the activity opens the exam
    _publish_and_deliver(lms_world, exam_id, 55)
    assert len(lms.line_items) == before                                   # no column of its own
    assert _scored_columns(lms_world) == {column.id: [55.0]}

    teacher.post(f"{lms_world.bridge}/course/{course_id}/exams", data={"title": "Second", "duration_minutes": "30"})
    assert _exam(lms_world, "Second")[3] is None                          # decided at its first delivery
    second = lms_world.launch(lms_world.browser(), STUDENT1, activity.id)
    assert second.url.endswith(f"/exam/{exam_id}")                         # the activity keeps its exam
