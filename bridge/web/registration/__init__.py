"""Registration for exam sittings, the candidate's side (R1, R2; seed 003): a public
candidate's account (sign up, verify, sign in, reset), and the registration itself:
agreement, personal data, site and subjects, submission."""
from flask import Blueprint

bp = Blueprint("registration", __name__)

from bridge.web.registration import accounts, views  # noqa: E402

bp.add_url_rule("/register", "home", views.home)
bp.add_url_rule("/register/account/new", "sign_up", accounts.sign_up, methods=["GET", "POST"])
bp.add_url_rule("/register/account/verify/<token>", "verify", accounts.verify)
bp.add_url_rule("/register/account/verify", "resend", accounts.resend, methods=["POST"])
bp.add_url_rule("/register/sign-in", "sign_in", accounts.sign_in_page, methods=["GET", "POST"])
bp.add_url_rule("/register/sign-out", "sign_out", accounts.sign_out, methods=["POST"])
bp.add_url_rule("/register/account/reset", "reset_request", accounts.reset_request, methods=["GET", "POST"])
bp.add_url_rule("/register/account/reset/<token>", "reset", accounts.reset, methods=["GET", "POST"])
bp.add_url_rule("/register/<int:period_id>", "period", views.period)
bp.add_url_rule("/register/<int:period_id>/agreement", "agree", views.agree, methods=["POST"])
bp.add_url_rule("/register/<int:period_id>/details", "details", views.details, methods=["GET", "POST"])
bp.add_url_rule("/register/<int:period_id>/subjects", "subjects", views.subjects, methods=["GET", "POST"])
bp.add_url_rule("/register/<int:period_id>/submit", "submit", views.submit, methods=["POST"])
bp.add_url_rule("/register/<int:period_id>/photo", "photo", views.photo_page, methods=["GET", "POST"])
bp.add_url_rule("/register/<int:period_id>/photo.jpg", "photo_file", views.photo_file)
bp.add_url_rule("/register/<int:period_id>/review", "ask_review", views.ask_review, methods=["POST"])

from bridge.web.registration import payment_views  # noqa: E402

bp.add_url_rule("/register/<int:period_id>/pay", "pay", payment_views.pay, methods=["POST"])
bp.add_url_rule("/register/<int:period_id>/pay/refresh", "refresh_payment", payment_views.refresh, methods=["POST"])
bp.add_url_rule("/register/payments/notify", "payment_notify", payment_views.notify, methods=["POST"])
bp.add_url_rule("/register/payments/return", "payment_return", payment_views.payment_return)
bp.add_url_rule("/register/<int:period_id>/form", "registration_form", views.registration_form)
bp.add_url_rule("/register/<int:period_id>/form.pdf", "registration_form_pdf", views.registration_form)

from bridge.web.registration import ticket_views  # noqa: E402

bp.add_url_rule("/register/<int:period_id>/ticket", "admission_ticket", ticket_views.admission_ticket)
bp.add_url_rule("/register/<int:period_id>/ticket.pdf", "admission_ticket_pdf", ticket_views.admission_ticket)
