"""The exam's proctor page (P1, P7, C6): a live board per session of the exam — remote
sessions (exam code, phones and own PCs) and sessions placed in no room included — with
every assigned candidate, and unlocking a locked attempt by a button or by a one-time code
the proctor reads out. A teacher or proctor of the course (a designated proctor too) opens it.

The board is the room console's (``boards.session_board``, the same rows as a room's
``boards.board``), painted by the same script (static/console.js) from the same kind of
socket (``/ws/proctor/<session>``, bridge.web.console.views.session_socket)."""
from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from bridge.extensions import transaction
from bridge.errors import NotFound
from bridge.extensions import db
from bridge.models.attempts import Attempt
from bridge.models.papers import ExamSession
from bridge.services.delivery import attempts
from bridge.services.exams import exams
from bridge.services.proctoring import boards
from bridge.web.auth import require_course


def _exam_for_proctor(exam_id: int):
    exam = exams.get_exam(db.session, exam_id)
    user, course, _member = require_course(exam.course_id, "teacher", "proctor")
    return user, exam


def _attempt(exam, attempt_id: int) -> Attempt:
    a = db.session.get(Attempt, attempt_id)
    if a is None or a.exam_id != exam.id:
        raise NotFound("That attempt is not part of this exam.")
    return a


def page(exam_id: int):
    user, exam = _exam_for_proctor(exam_id)
    sessions = list(db.session.scalars(select(ExamSession).where(ExamSession.exam_id == exam.id)
                                       .order_by(ExamSession.starts_at)))
    rows = list(db.session.scalars(select(Attempt).where(Attempt.exam_id == exam.id).order_by(Attempt.session_id,
                                                                                             Attempt.id)))
    with transaction() as s:
        for a in rows:
            attempts.settle(s, a)
    session_boards = [boards.session_board(db.session, sess.id) for sess in sessions]
    return render_template("delivery/proctor.html", user=user, exam=exam, sessions=sessions, boards=session_boards,
                           duration=dt.timedelta(minutes=exam.duration_minutes))


def unlock(exam_id: int, attempt_id: int):
    user, exam = _exam_for_proctor(exam_id)
    with transaction() as s:
        a = _attempt(exam, attempt_id)
        attempts.unlock(s, a, actor=f"user:{user.id}")
        name = a.user.display_name
    flash(_("%(name)s may continue.", name=name))
    return redirect(url_for("delivery.proctor", exam_id=exam.id))


def code(exam_id: int, attempt_id: int):
    user, exam = _exam_for_proctor(exam_id)
    with transaction() as s:
        a = _attempt(exam, attempt_id)
        value = attempts.issue_unlock_code(s, a, actor=f"user:{user.id}")
        name = a.user.display_name
    flash(_("Unlock code for %(name)s: %(code)s (valid 10 minutes, once; five wrong tries void it).",
            name=name, code=value))
    return redirect(url_for("delivery.proctor", exam_id=exam.id))
