"""An exam's teacher pages: the paper, the sessions, grading and release. HTTP only."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.extensions import transaction
from bridge.errors import Conflict, DomainError, Invalid, NotFound
from bridge.extensions import db
from bridge.i18n import N_
from bridge.models.papers import PARTIAL_RULES
from bridge.services.delivery.scoring import score_submitted
from bridge.services.delivery import scoring
from bridge.services.exams import courses, exams, papers, exam_sessions
from bridge.web.auth import require_course
from bridge.services.exams import bank_items as bank_store
from bridge.services.delivery import exam_reads
from bridge.web.html import translate as tr
from bridge.web.media import file_response
from bridge.web.teaching import forms
from bridge.runtime.writer import get_writer


def _exam(course_id: int, exam_id: int):
    user, course, _m = require_course(course_id, "teacher")
    exam = exams.get_exam(db.session, exam_id)
    if exam.course_id != course.id:
        raise NotFound("That exam does not exist (it may have been removed).")
    return user, course, exam


# --- paper -------------------------------------------------------------------------------------
def paper(course_id: int, exam_id: int, *, form=None, errors=None, status: int = 200):
    user, course, exam = _exam(course_id, exam_id)
    sheet = papers.paper_for(db.session, exam)  # a first visit sees the defaults (not stored until saved)
    return render_template("teaching/paper.html", user=user, course=course, exam=exam, paper=sheet,
                           bank=bank_store.list_questions(db.session, course.id), rules=PARTIAL_RULES,
                           paths=bank_store.category_paths(db.session, course.id),
                           form=form, errors=errors or {}), status


def set_fixed(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    ids = [q.id for q in bank_store.list_questions(db.session, course.id)]
    items, errors = forms.fixed_items(request.form, ids)
    return _save_paper(course_id, exam, errors, "items", papers.set_fixed_items, items, user.id)


def set_draws(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    rows, errors = forms.draws(request.form)
    return _save_paper(course_id, exam, errors, "draws", papers.set_draws, rows, user.id)


def _save_paper(course_id, exam, errors, section, service, values, actor_id):
    if not errors:
        try:
            with transaction() as s:
                service(s, exam, values, actor_id=actor_id)
        except (Invalid, NotFound) as exc:
            errors = {section: exc.message}
    if errors:
        return paper(course_id, exam.id, form=request.form, errors=errors, status=422)
    flash(_("The paper is saved."))
    return redirect(url_for("teaching.paper", course_id=course_id, exam_id=exam.id))


def save_settings(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    values, errors = forms.settings(request.form, PARTIAL_RULES)
    if errors:
        return paper(course_id, exam.id, form=request.form, errors=errors, status=422)
    with transaction() as s:
        papers.update_settings(s, exam, actor_id=user.id, **values)
    flash(_("The paper's settings are saved."))
    return redirect(url_for("teaching.paper", course_id=course.id, exam_id=exam.id))


# --- sessions ----------------------------------------------------------------------------------
def sessions(course_id: int, exam_id: int, *, form=None, errors=None, status: int = 200):
    user, course, exam = _exam(course_id, exam_id)
    rows = exam_reads.sittings(db.session, exam.id)
    return render_template("teaching/sessions.html", user=user, course=course, exam=exam, sittings=rows,
                           ends={s.id: exam_sessions.ends_at(s, exam) for s, _n in rows},
                           locked={s.id: exam_sessions.change_refusal(db.session, s) for s, _n in rows},
                           placements=exam_reads.placements(db.session, exam.id),
                           candidates=[m for m in courses.members(db.session, course.id, role="candidate")
                                       if m.active and not m.is_proctor],
                           paper=papers.paper_for(db.session, exam), form=form or {}, errors=errors or {}), status


def create_sitting(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    values, errors = forms.sitting(request.form)
    if errors:
        return sessions(course_id, exam.id, form=request.form, errors=errors, status=422)
    with transaction() as s:
        sitting = exam_sessions.create_session(s, exam, actor_id=user.id, **values)
        name, code = sitting.name, sitting.exam_code
    flash(_("Session “%(name)s” created. Remote exam code: %(code)s", name=name, code=code) if code
          else _("Session “%(name)s” created.", name=name))
    return redirect(url_for("teaching.sessions", course_id=course.id, exam_id=exam.id))


def edit_sitting(course_id: int, exam_id: int, session_id: int, *, form=None, errors=None, status: int = 200):
    user, course, exam = _exam(course_id, exam_id)
    sitting = exam_reads.get_sitting(db.session, exam.id, session_id)
    refusal = exam_sessions.change_refusal(db.session, sitting)
    return render_template("teaching/session_edit.html", user=user, course=course, exam=exam, sitting=sitting,
                           end=exam_sessions.ends_at(sitting, exam), refusal=refusal, paper=papers.paper_for(db.session, exam),
                           form=form or forms.sitting_values(sitting), errors=errors or {}), status


def update_sitting(course_id: int, exam_id: int, session_id: int):
    user, course, exam = _exam(course_id, exam_id)
    sitting = exam_reads.get_sitting(db.session, exam.id, session_id)
    values, errors = forms.sitting(request.form)
    if not errors:
        try:
            with transaction() as s:
                exam_sessions.update_session(s, s.merge(sitting), actor_id=user.id, **values)
        except (Invalid, Conflict) as exc:
            errors = {"form": exc.message}
    if errors:
        return edit_sitting(course_id, exam.id, session_id, form=request.form, errors=errors,
                            status=409 if "form" in errors and exam_sessions.change_refusal(db.session, sitting) else 422)
    flash(_("Session “%(name)s” saved.", name=values["name"]))
    return redirect(url_for("teaching.sessions", course_id=course.id, exam_id=exam.id))


def confirm_delete_sitting(course_id: int, exam_id: int, session_id: int):
    user, course, exam = _exam(course_id, exam_id)
    sitting = exam_reads.get_sitting(db.session, exam.id, session_id)
    return render_template("teaching/session_delete.html", user=user, course=course, exam=exam, sitting=sitting,
                           end=exam_sessions.ends_at(sitting, exam), refusal=exam_sessions.change_refusal(db.session, sitting),
                           assigned=len(sitting.candidates))


def delete_sitting(course_id: int, exam_id: int, session_id: int):
    user, course, exam = _exam(course_id, exam_id)
    sitting = exam_reads.get_sitting(db.session, exam.id, session_id)
    try:
        with transaction() as s:
            name = exam_sessions.delete_session(s, s.merge(sitting), actor_id=user.id)
    except Conflict as exc:
        flash(_("The session was not deleted: %(why)s", why=tr(exc.message)), "error")
        return redirect(url_for("teaching.sessions", course_id=course.id, exam_id=exam.id))
    flash(_("Session “%(name)s” deleted.", name=name))
    return redirect(url_for("teaching.sessions", course_id=course.id, exam_id=exam.id))


def assign_candidates(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    sitting = exam_reads.get_sitting(db.session, exam.id, forms.int_or_none(request.form.get("session_id")))
    ids = forms.user_ids(request.form)
    if not ids:
        return sessions(course_id, exam.id, errors={"assign": N_("Tick the candidates to put in the session.")},
                        status=422)
    with transaction() as s:
        n = exam_sessions.assign(s, sitting, ids, actor_id=user.id)
    flash(_("%(n)d candidate(s) now sit in “%(name)s”.", n=n, name=sitting.name))
    return redirect(url_for("teaching.sessions", course_id=course.id, exam_id=exam.id))


# --- grading and release -----------------------------------------------------------------------
def grading(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    attempts = exam_reads.submitted(db.session, exam.id)
    done, todo = exam_reads.release_counts(attempts)
    return render_template("teaching/grading.html", user=user, course=course, exam=exam, attempts=attempts,
                           done=done, todo=todo, paper=papers.paper_for(db.session, exam),
                           absentees=exam_reads.absentees(db.session, exam.id),
                           questions=exam_reads.by_question(db.session, attempts),
                           next_attempt=exam_reads.next_ungraded(attempts))


def grade_attempt(course_id: int, exam_id: int, attempt_id: int, *, errors=None, status: int = 200):
    user, course, exam = _exam(course_id, exam_id)
    attempt = exam_reads.get_attempt(db.session, exam.id, attempt_id)
    attempts = exam_reads.submitted(db.session, exam.id)
    return render_template("teaching/grade_attempt.html", user=user, course=course, exam=exam, attempt=attempt,
                           rows=exam_reads.sheet(db.session, attempt), errors=errors or {},
                           form=request.form if errors else {},
                           next_attempt=exam_reads.next_ungraded(attempts, after=attempt.id)), status


def grade_question(course_id: int, exam_id: int, question_id: int, *, errors=None, status: int = 200):
    """One item across every candidate: each answer with its automatic score and points."""
    user, course, exam = _exam(course_id, exam_id)
    rows = exam_reads.question_rows(db.session, exam_reads.submitted(db.session, exam.id), question_id)
    return render_template("teaching/grade_question.html", user=user, course=course, exam=exam, rows=rows,
                           question=rows[0].question, errors=errors or {},
                           form=request.form if errors else {}), status


def grade_item(course_id: int, exam_id: int, attempt_id: int, question_id: int):
    user, course, exam = _exam(course_id, exam_id)
    attempt = exam_reads.get_attempt(db.session, exam.id, attempt_id)
    by_question = request.form.get("back") == "question"
    try:
        with transaction() as s:
            scoring.grade_item(s, attempt, question_id, points=request.form.get("points", ""), grader_id=user.id,
                               comment=request.form.get("comment", ""), reason=request.form.get("reason", ""))
    except DomainError as exc:
        key = f"points_{attempt_id}_{question_id}" if by_question else f"points_{question_id}"
        errors = {key: (exc.message, exc.params) if exc.params else exc.message}
        if by_question:
            return grade_question(course_id, exam.id, question_id, errors=errors, status=exc.http_status)
        return grade_attempt(course_id, exam.id, attempt_id, errors=errors, status=exc.http_status)
    flash(_("Points saved."))
    if by_question:
        return redirect(url_for("teaching.grade_question", course_id=course.id, exam_id=exam.id,
                                question_id=question_id) + f"#a{attempt_id}")
    return redirect(url_for("teaching.grade_attempt", course_id=course.id, exam_id=exam.id,
                            attempt_id=attempt_id) + f"#q{question_id}")


def answer_file(course_id: int, exam_id: int, attempt_id: int, file_id: int):
    """An uploaded answer, as a download (never shown inline: it is the candidate's file)."""
    _user, _course, exam = _exam(course_id, exam_id)
    attempt = exam_reads.get_attempt(db.session, exam.id, attempt_id)
    row = exam_reads.get_file(db.session, attempt, file_id)
    return file_response(row.data, name=row.name or "answer", inline_images=False, cache="private, no-store")


def confirm_release(course_id: int, exam_id: int):
    user, course, exam = _exam(course_id, exam_id)
    done, todo = exam_reads.release_counts(exam_reads.submitted(db.session, exam.id))
    return render_template("teaching/release.html", user=user, course=course, exam=exam, done=done, todo=todo)


def release(course_id: int, exam_id: int):
    from lms_plugin.services import outbox

    user, course, exam = _exam(course_id, exam_id)
    unscored = scoring.unscored_attempts(db.session, exam.id)
    db.session.commit()  # end this read: the release below must see what the writer commits
    if unscored:  # through the writer, so the scorer (bridge.runtime.scorer) never scores them at the same time
        get_writer(current_app).submit(score_submitted, unscored)
    try:
        with transaction() as s:
            queued = scoring.release(s, exam, actor_id=user.id)
    except DomainError as exc:
        flash(_("Nothing was released: %(why)s", why=exc.message), "error")
        return redirect(url_for("teaching.grading", course_id=course.id, exam_id=exam.id))
    outbox.kick()
    from flask_babel import ngettext

    flash(ngettext("%(num)d score queued for the LMS gradebook. Its delivery is listed below.",
                   "%(num)d scores queued for the LMS gradebook. Their delivery is listed below.", queued))
    return redirect(url_for("main.exam_home", exam_id=exam.id) + "#scores")
