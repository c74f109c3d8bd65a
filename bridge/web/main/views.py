"""Landing pages: HTTP only. Domain rules are in bridge.services and lms_plugin.services."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from bridge import clock
from bridge.i18n import LOCALES
from bridge.extensions import transaction
from bridge.errors import DomainError, Invalid
from bridge.extensions import db
from bridge.services.exams import courses, exam_readiness, exams, exam_sessions
from bridge.services.registration import periods
from bridge.web.auth import current_actor, current_user, home_for, require_course, require_user


def index():
    user = current_user()
    if user is None:
        return render_template("main/welcome.html")
    course_id = session.get("course_id")
    if course_id:
        return redirect(url_for("main.course_home", course_id=course_id))
    actor = current_actor()
    if actor.is_staff:
        return redirect(url_for(home_for(actor)))
    return render_template("main/welcome.html", user=user)


def course_home(course_id: int):
    user, course, member = require_course(course_id)
    role = _effective_role(user, member)
    if role in ("teacher", "admin"):
        course_exams = exams.list_exams(db.session, course.id)
        return render_template("main/teacher.html", user=user, course=course, role=role, exams=course_exams,
                               members=courses.members(db.session, course.id), next_steps=_next_steps(course_exams),
                               errors={}, form={})
    if role == "proctor":
        return render_template("main/proctor.html", user=user, course=course,
                               exams=exams.list_exams(db.session, course.id))
    course_exams = exams.list_exams(db.session, course.id)
    return render_template("main/candidate.html", user=user, course=course, exams=course_exams,
                           sittings={e.id: exam_sessions.session_of(db.session, e.id, user.id) for e in course_exams},
                           registration_open=bool(periods.open_periods(db.session)))


def _next_steps(course_exams) -> dict[int, str]:
    """Each exam's next step on its readiness checklist (the course page's exam list)."""
    now = clock.utcnow_naive()
    return {e.id: exam_readiness.build(db.session, e, now=now,
                                       deliveries=_delivery_counts(_deliveries(e.id))).next_step for e in course_exams}


def _effective_role(user, member) -> str:
    if user.is_admin or (member and member.role == "admin"):
        return "admin"
    if member is None:
        return "candidate"
    if member.role == "teacher":
        return "teacher"
    if member.is_proctor:
        return "proctor"
    return member.role


def create_exam(course_id: int):
    from lms_plugin.services import gradebook

    user, course, member = require_course(course_id, "teacher")
    form = request.form
    try:
        with transaction() as s:
            exam = exams.create_exam(s, course, title=form.get("title", ""),
                                     duration_minutes=form.get("duration_minutes", ""), actor_id=user.id)
            activity = gradebook.claim_launch_activity(s, exam, session.get("resource_link"),
                                                       actor=f"user:{user.id}")
    except Invalid as exc:
        course_exams = exams.list_exams(db.session, course.id)
        return render_template("main/teacher.html", user=user, course=course, role="teacher", exams=course_exams,
                               members=courses.members(db.session, course.id), next_steps=_next_steps(course_exams),
                               errors=getattr(exc, "fields", {"title": exc.message}), form=form), 422
    flash(_("Exam “%(title)s” created for the LMS activity “%(activity)s”: students who open it find "
            "this exam, and its scores go to that activity's gradebook column.", title=exam.title,
            activity=activity) if activity else _("Exam “%(title)s” created.", title=exam.title))
    return redirect(url_for("main.course_home", course_id=course.id))


def designate_proctor(course_id: int):
    user, course, _member = require_course(course_id, "teacher")
    try:
        target = int(request.form.get("user_id", ""))
    except ValueError:
        raise Invalid(_("Choose a person from the course list."))
    on = request.form.get("on") == "1"
    with transaction() as s:
        member = courses.designate_proctor(s, course.id, target, on=on, actor_id=user.id)
        name = member.user.display_name
    flash(_("%(name)s is now a proctor.", name=name) if on
          else _("%(name)s is no longer a proctor.", name=name))
    return redirect(url_for("main.course_home", course_id=course.id))


def sync_roster(course_id: int):
    from lms_plugin.services import nrps

    user, course, _member = require_course(course_id, "teacher")
    try:
        with transaction() as s:
            result = nrps.sync_roster(s, course, actor=f"user:{user.id}")
    except DomainError as exc:
        flash(_("The roster could not be fetched from the LMS: %(msg)s", msg=exc.message), "error")
        return redirect(url_for("main.course_home", course_id=course.id))
    flash(_("Roster synced: %(added)d added, %(updated)d updated, %(deactivated)d no longer enrolled.",
            added=result.added, updated=result.updated, deactivated=result.deactivated))
    return redirect(url_for("main.course_home", course_id=course.id))


def publish_score(course_id: int, exam_id: int):
    """Teacher enters a score for a candidate; it goes to the LMS through the outbox (L5)."""
    from lms_plugin.services import outbox

    user, course, _member = require_course(course_id, "teacher")
    exam = exams.get_exam(db.session, exam_id)
    if exam.course_id != course.id:
        raise Invalid(_("That exam belongs to another course."))
    try:
        candidate_id = int(request.form.get("user_id", ""))
        score = float(request.form.get("score", ""))
    except ValueError:
        raise Invalid(_("Choose a candidate and enter the score as a number."))
    if candidate_id not in {m.user_id for m in _gradebook_candidates(course.id)}:
        raise Invalid(_("Scores go to candidates only; proctors and teachers have none."))
    with transaction() as s:
        outbox.publish_score(s, exam, candidate_id, score_given=score,
                             comment=request.form.get("comment", ""), actor=f"user:{user.id}")
    outbox.kick()
    flash(_("Score queued for the LMS gradebook."))
    return redirect(url_for("main.exam_home", exam_id=exam.id))


def exam_home(exam_id: int):
    exam = exams.get_exam(db.session, exam_id)
    user, course, member = require_course(exam.course_id)
    role = _effective_role(user, member)
    staff = role in ("teacher", "admin")
    deliveries = _deliveries(exam.id) if staff else []
    readiness = exam_readiness.build(db.session, exam, now=clock.utcnow_naive(),
                                     deliveries=_delivery_counts(deliveries)) if staff else None
    return render_template("main/exam.html", user=user, course=course, exam=exam, role=role,
                           candidates=_gradebook_candidates(course.id) if staff else [], deliveries=deliveries,
                           readiness=readiness,
                           sitting=exam_sessions.session_of(db.session, exam.id, user.id) if role == "candidate" else None)


def exam_deliveries(exam_id: int):
    """The deliveries list alone: the exam's home page polls it while scores are on their way."""
    exam = exams.get_exam(db.session, exam_id)
    require_course(exam.course_id, "teacher")
    return render_template("main/_deliveries.html", exam=exam, deliveries=_deliveries(exam.id))


def _deliveries(exam_id: int) -> list:
    from lms_plugin.services import outbox

    return outbox.for_exam(db.session, exam_id)


def _delivery_counts(deliveries) -> dict[str, int]:
    """{status: n} over each candidate's newest delivery (an older, replaced score does not count)."""
    newest: dict[int, str] = {}
    for d in deliveries:  # newest first
        newest.setdefault(d.user_id, d.status)
    counts: dict[str, int] = {}
    for status in newest.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def _gradebook_candidates(course_id: int) -> list:
    """Who a score may be sent for by hand: active candidates, never proctors or teachers."""
    return [m for m in courses.members(db.session, course_id, role="candidate") if m.active and not m.is_proctor]


def set_locale(code: str):
    if code in LOCALES:
        session["locale"] = code
    return redirect(_own_page(request.referrer, request.host) or url_for("main.index"))


def _own_page(referrer: str | None, host: str) -> str | None:
    """The path (and query) of ``referrer`` when it is one of our own pages, else None. Only a
    plain path leaves here: never ``//host`` or ``/\\host`` (browsers read both as another
    site), a scheme, or control characters that a browser would strip into either."""
    raw = referrer or ""
    if any(ord(ch) < 0x21 or ch == "\\" for ch in raw):
        return None
    back = urlsplit(raw)
    if back.scheme not in ("http", "https") or back.netloc != host:
        return None
    path = back.path
    if not path.startswith("/") or path.startswith("//"):
        return None
    return path + ("?" + back.query if back.query else "")


def logout():
    require_user()
    session.clear()
    return render_template("main/welcome.html", signed_out=True)
