"""Signing in to the exam with admission number and ID number (a registered candidate, at
the exam PC or any browser the site gives them): HTTP only
(``bridge.services.registration.exam_sign_in``)."""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for

from bridge.errors import DomainError
from bridge.extensions import transaction
from bridge.models.exams import Exam
from bridge.models.users import User
from bridge.services.delivery import attempts
from bridge.services.delivery.attempts import TooManyTries
from bridge.services.registration import exam_sign_in
from bridge.web.auth import sign_in


def sign_in_page():
    if request.method == "GET":
        return render_template("delivery/admission.html", error=None, number="")
    number = request.form.get("admission_number", "")
    try:
        with transaction() as s:
            seat = exam_sign_in.sign_in(s, number, request.form.get("id_number", ""),
                                        secret=current_app.config["SECRET_KEY"], address=request.remote_addr or "")
            attempt = attempts.log_in(s, s.get(Exam, seat.exam_id), seat.user_id,
                                      address=request.remote_addr or "", mode="admission")
            user, attempt_id = s.get(User, seat.user_id), attempt.id
    except TooManyTries as exc:
        return render_template("delivery/admission.html", error=exc.translated(), number=number), 429
    except DomainError as exc:
        return render_template("delivery/admission.html", error=exc.translated(), number=number), exc.http_status
    sign_in(user, exam_only=True)  # an admission number and ID number open the exam, not the account
    return redirect(url_for("delivery.attempt", attempt_id=attempt_id))
