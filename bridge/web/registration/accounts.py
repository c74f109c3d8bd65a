"""A public candidate's account pages: HTTP only (``bridge.services.registration.accounts``);
the links it mails go out through ``bridge.mail``."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from bridge import mail
from bridge.errors import DomainError
from bridge.extensions import db, transaction
from bridge.services.people.accounts import TooManyAttempts
from bridge.services.registration import accounts
from bridge.web.auth import current_user, sign_in


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _mail_link(to: str, subject: str, intro: str, endpoint: str, token: str) -> bool:
    """Mail a link; False (and a message on the page) when the mail server refused it."""
    link = url_for(endpoint, token=token, _external=True)
    body = f"{intro}\n\n{link}\n\n" + _("The link works for %(n)d hours. If you did not ask for it, ignore this mail.",
                                         n=accounts.LINK_HOURS)
    try:
        mail.send(current_app.config, to=to, subject=subject, body=body)
    except mail.MailError:
        flash(_("The mail could not be sent just now. Try again in a few minutes."), "error")
        return False
    return True


def sign_up():
    if request.method == "GET":
        return render_template("registration/sign_up.html", form={}, error=None)
    form = {k: request.form.get(k, "").strip() for k in ("email", "name")}
    try:
        with transaction() as s:
            account, token = accounts.sign_up(s, email=form["email"], name=form["name"],
                                              password=request.form.get("password", ""),
                                              confirm=request.form.get("confirm", ""), secret=_secret())
            email = account.email
    except DomainError as exc:
        return render_template("registration/sign_up.html", form=form, error=exc.translated()), exc.http_status
    _send_verification(email, token)
    return render_template("registration/check_mail.html", email=email)


def _send_verification(email: str, token: str) -> bool:
    return _mail_link(email, _("Confirm your email for exam registration"),
                      _("Open this link to confirm your email address and continue your registration:"),
                      "registration.verify", token)


def verify(token: str):
    try:
        with transaction() as s:
            account = accounts.verify(s, token, secret=_secret())
            user = account.user
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("registration.sign_in"))
    sign_in(user)
    flash(_("Your email is confirmed. You can register now."))
    return redirect(url_for("registration.home"))


def resend():
    user = current_user()
    account = accounts.account_of_user(db.session, user.id) if user else None
    if account is None:
        return redirect(url_for("registration.sign_in"))
    if account.verified_at is None and _send_verification(account.email,
                                                          accounts.verification_token(account, _secret())):
        flash(_("We sent the link again to %(email)s.", email=account.email))
    return redirect(url_for("registration.home"))


def sign_in_page():
    if request.method == "GET":
        return render_template("registration/sign_in.html", email="", error=None)
    email = request.form.get("email", "").strip()
    try:
        with transaction() as s:
            account = accounts.authenticate(s, email=email, password=request.form.get("password", ""),
                                            remote_addr=request.remote_addr or "")
            user = account.user if account else None
    except TooManyAttempts as exc:
        minutes = -(-exc.retry_after // 60)
        error = f"{exc.translated()} " + ngettext("Try again in %(num)s minute.", "Try again in %(num)s minutes.",
                                                   minutes)
        return (render_template("registration/sign_in.html", email=email, error=error), 429,
                {"Retry-After": str(exc.retry_after)})
    if user is None:
        return render_template("registration/sign_in.html", email=email,
                               error=_("The email or password is wrong.")), 401
    sign_in(user)
    return redirect(url_for("registration.home"))


def sign_out():
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("registration.home"))


def reset_request():
    if request.method == "GET":
        return render_template("registration/reset_request.html")
    with transaction() as s:
        found = accounts.reset_token(s, request.form.get("email", ""), secret=_secret())
    if found is not None:
        account, token = found
        _mail_link(account.email, _("Reset your password for exam registration"),
                   _("Open this link to choose a new password:"), "registration.reset", token)
    # the same answer either way: the page does not tell which emails have an account
    flash(_("If an account uses that email, a link to reset its password is on its way."))
    return redirect(url_for("registration.sign_in"))


def reset(token: str):
    if request.method == "GET":
        return render_template("registration/reset.html", token=token, error=None)
    try:
        with transaction() as s:
            account = accounts.reset_password(s, token, password=request.form.get("password", ""),
                                              confirm=request.form.get("confirm", ""), secret=_secret())
            user = account.user
    except DomainError as exc:
        return render_template("registration/reset.html", token=token, error=exc.translated()), exc.http_status
    sign_in(user)
    flash(_("Your password is changed and you are signed in."))
    return redirect(url_for("registration.home"))
