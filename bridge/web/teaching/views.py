"""The question bank's teacher pages: HTTP only (parse, one service call in a transaction,
render). Paper, sessions and grading are in ``exam_views``."""
from __future__ import annotations

import re
from io import BytesIO

from flask import flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from bridge.bank.model import QTYPES
from bridge.extensions import transaction
from bridge.errors import Invalid
from bridge.extensions import db
from bridge.services.exams import bank
from bridge.web.auth import require_course
from bridge.services.exams import bank_items as bank_store
from bridge.web.teaching import forms

FORMATS = ("moodle-xml", "gift")


def bank_page(course_id: int, *, status: int = 200, import_error: str | None = None, import_form=None):
    user, course, _m = require_course(course_id, "teacher")
    category = forms.int_or_none(request.args.get("category"))
    qtype = request.args.get("type") if request.args.get("type") in QTYPES else None
    items = bank_store.list_questions(db.session, course.id, category_id=category, qtype=qtype)
    return render_template("teaching/bank.html", user=user, course=course, items=items, qtypes=QTYPES,
                           paths=bank_store.category_paths(db.session, course.id), category=category,
                           qtype=qtype, formats=FORMATS, import_error=import_error,
                           import_form=import_form or {}), status


def import_bank(course_id: int):
    user, course, _m = require_course(course_id, "teacher")
    upload = request.files.get("file")
    fmt = request.form.get("format") if request.form.get("format") in FORMATS else None
    duplicates = request.form.get("duplicates") or "skip"
    if upload is None or not upload.filename:
        return bank_page(course_id, status=422, import_error=_("Choose a file to import."), import_form=request.form)
    try:
        with transaction() as s:
            result = bank.import_file(s, course, upload.read(), filename=upload.filename, fmt=fmt,
                                      actor=f"user:{user.id}", duplicates=duplicates)
            report_id = bank.keep_report(s, course, result, filename=upload.filename, user_id=user.id).id
    except Invalid as exc:
        return bank_page(course_id, status=422, import_error=exc.message, import_form=request.form)
    return redirect(url_for("teaching.import_report", course_id=course.id, report_id=report_id), code=303)


def import_form(course_id: int):
    """The import's address opened directly (a reload, a bookmark): the form is on the bank page."""
    require_course(course_id, "teacher")
    return redirect(url_for("teaching.bank", course_id=course_id) + "#import")


def import_report(course_id: int, report_id: int):
    user, course, _m = require_course(course_id, "teacher")
    row, report = bank.get_report(db.session, course.id, report_id)
    return render_template("teaching/import_report.html", user=user, course=course, report=report,
                           filename=row.filename, imported_at=row.created_at)


def export_bank(course_id: int):
    _user, course, _m = require_course(course_id, "teacher")
    data = bank.export_course(db.session, course)
    label = re.sub(r"[^\w.-]+", "-", course.label or "").strip("-.") or str(course.id)
    return send_file(BytesIO(data), mimetype="application/xml", as_attachment=True,
                     download_name=f"bank-{label}.xml")


def new_item(course_id: int):
    user, course, _m = require_course(course_id, "teacher")
    qtype = request.args.get("type", "single")
    form = forms.new_item_form()
    return _editor(user, course, None, qtype if qtype in QTYPES else "single", form, {}), 200


def create_item(course_id: int):
    user, course, _m = require_course(course_id, "teacher")
    return _save_item(user, course, None)


def edit_item(course_id: int, question_id: int):
    user, course, _m = require_course(course_id, "teacher")
    q = bank_store.get_question(db.session, course.id, question_id)
    qtype = request.args.get("type") if request.args.get("type") in QTYPES else q.qtype
    return _editor(user, course, q, qtype, forms.question_form(q), {}), 200


def update_item(course_id: int, question_id: int):
    user, course, _m = require_course(course_id, "teacher")
    return _save_item(user, course, bank_store.get_question(db.session, course.id, question_id))


def _save_item(user, course, q):
    """The editor's form saved as a new item (``q`` None) or onto ``q``; an item candidates
    were already given is saved as a new version, and the teacher is told."""
    qtype, original_id = request.form.get("qtype", ""), q.id if q is not None else None
    parsed = forms.item_form(request.form, qtype)
    if parsed.item is None:
        return _editor(user, course, q, qtype, request.form, parsed.errors), 422
    with transaction() as s:
        saved = bank_store.save_question(s, course, parsed.item, category_id=parsed.category_id,
                                         new_category=parsed.new_category, question=q, actor_id=user.id)
        saved_id, version = saved.id, saved.version
    if original_id is not None and saved_id != original_id:
        flash(_("Candidates were already given this item, so the change is saved as version %(n)d; their "
                "attempts keep the version they were given.", n=version))
    flash(_("Item saved. This is how candidates will see it."))
    return redirect(url_for("teaching.preview_item", course_id=course.id, question_id=saved_id))


def _editor(user, course, question, qtype, form, errors):
    return render_template("teaching/item_form.html", user=user, course=course, question=question,
                           qtype=qtype if qtype in QTYPES else "single", qtypes=QTYPES, form=form, errors=errors,
                           paths=bank_store.category_paths(db.session, course.id),
                           choice_rows=forms.rows(form, "choice_text_", spare=2, least=4, most=forms.MAX_CHOICES),
                           blank_rows=forms.rows(form, "blank_answers_", spare=1, least=2, most=forms.MAX_BLANKS))


def preview_item(course_id: int, question_id: int):
    user, course, _m = require_course(course_id, "teacher")
    q = bank_store.get_question(db.session, course.id, question_id)
    inner = render_template("teaching/_candidate_item.html", q=q, number=1)
    return render_template("teaching/preview.html", user=user, course=course, q=q, inner=inner,
                           path=bank_store.category_paths(db.session, course.id).get(q.category_id, ""))


def confirm_archive(course_id: int, question_id: int):
    user, course, _m = require_course(course_id, "teacher")
    q = bank_store.get_question(db.session, course.id, question_id)
    return render_template("teaching/archive.html", user=user, course=course, q=q)


def archive_item(course_id: int, question_id: int):
    user, course, _m = require_course(course_id, "teacher")
    with transaction() as s:
        q = bank_store.archive_question(s, course.id, question_id, actor_id=user.id)
        name = q.name
    flash(_("“%(name)s” was archived. Papers that already use it keep it.", name=name))
    return redirect(url_for("teaching.bank", course_id=course.id))
