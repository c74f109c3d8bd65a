"""The exam's gradebook column page: which LMS column the exam writes to, and a teacher's
choice of another (HTTP only; the rules are in lms_plugin.services.gradebook)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.services.exams import exams
from bridge.web.auth import require_course
from lms_plugin.services import ags, gradebook, outbox

bp = Blueprint("lti_gradebook", __name__, template_folder="templates")


def _exam(course_id: int, exam_id: int):
    user, course, _member = require_course(course_id, "teacher")
    exam = exams.get_exam(db.session, exam_id)
    if exam.course_id != course.id:
        abort(404)
    return user, course, exam


def _page(user, course, exam, *, status: int = 200, error: str | None = None, chosen: str | None = None):
    items, list_error = [], None
    try:
        items = gradebook.list_columns(db.session, exam)
    except DomainError as exc:
        list_error = exc.translated()
    columns = gradebook.describe(db.session, exam, items)
    current = next((c for c in columns if c.current), None)
    return render_template("lti/gradebook.html", user=user, course=course, exam=exam, columns=columns,
                           current=current, list_error=list_error, error=error,
                           chosen=chosen or exam.lineitem_url or gradebook.AUTO,
                           removable={c.item.id for c in gradebook.removable(columns)},
                           links=ags.resource_links_of(db.session, exam)), status


@bp.get("/course/<int:course_id>/exam/<int:exam_id>/gradebook")
def exam_gradebook(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    return _page(user, course, exam)


@bp.post("/course/<int:course_id>/exam/<int:exam_id>/gradebook")
def choose_column(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    choice = request.form.get("lineitem", "")
    try:
        items = gradebook.list_columns(db.session, exam)  # network: before the write transaction
        db.session.commit()
        with transaction() as s:
            resent = gradebook.choose(s, exam, choice, items, actor=f"user:{user.id}")
    except DomainError as exc:
        db.session.rollback()
        return _page(user, course, exam, status=exc.http_status if exc.http_status < 500 else 502,
                     error=exc.translated(), chosen=choice)
    if resent:
        outbox.kick()
    flash(_("The exam's gradebook column is set.") + (" " + _("Scores already delivered are sent again, to this "
                                                              "column.") if resent else ""))
    return redirect(url_for(".exam_gradebook", course_id=course.id, exam_id=exam.id))


@bp.post("/course/<int:course_id>/exam/<int:exam_id>/gradebook/remove")
def remove_column(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    url = request.form.get("lineitem", "")
    try:
        items = gradebook.list_columns(db.session, exam)
        label = gradebook.remove_column(db.session, exam, url, items)
        db.session.commit()
        with transaction() as s:
            gradebook.record_removal(s, exam, url, actor=f"user:{user.id}")
    except DomainError as exc:
        db.session.rollback()
        return _page(user, course, exam, status=exc.http_status if exc.http_status < 500 else 502,
                     error=exc.translated())
    flash(_("The column “%(label)s” was removed from the LMS gradebook.", label=label))
    return redirect(url_for(".exam_gradebook", course_id=course.id, exam_id=exam.id))
