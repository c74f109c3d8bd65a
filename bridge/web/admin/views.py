"""Admin pages: HTTP only."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext

from bridge.extensions import transaction
from bridge.errors import DomainError, Forbidden
from bridge.extensions import db
from bridge.services import audit
from bridge.services.people import accounts
from bridge.web.auth import current_actor, current_user, home_for, require_staff, sign_in

PLATFORM_FIELDS = ("name", "issuer", "client_id", "deployment_ids", "auth_login_url",
                   "auth_token_url", "jwks_url")


def _require_admin():
    user = current_user()
    if user is None:
        return None
    if not user.is_admin:
        abort(403)
    return user


def _login_page(error=None, status=200):
    """The sign-in page; it names the demo's account when this bridge runs ``make run``
    (whose terminal prints that account's password), and keeps the user name typed."""
    from bridge import demo

    sandbox = current_app.config.get("EXAMBRIDGE_SANDBOX_ENABLED")
    in_demo = sandbox and demo.admin_password_file(current_app.instance_path).is_file()
    return render_template("admin/login.html", error=error, demo_admin=demo.DEMO_ADMIN if in_demo else None,
                           username=request.form.get("username", "")), status


def login():
    if request.method == "GET":
        return _login_page()
    cfg = current_app.config
    try:
        with transaction() as s:
            user = accounts.authenticate(s, username=request.form.get("username", ""),
                                         password=request.form.get("password", ""),
                                         remote_addr=request.remote_addr or "",
                                         max_failures=cfg["EXAMBRIDGE_LOGIN_ATTEMPTS"],
                                         window_minutes=cfg["EXAMBRIDGE_LOGIN_WINDOW_MINUTES"])
    except accounts.TooManyAttempts as exc:
        page, status = _login_page(f"{_(exc.message)} {_try_again(exc.retry_after)}", 429)
        return page, status, {"Retry-After": str(exc.retry_after)}
    if user is None:
        return _login_page(_("The username or password is wrong."), 401)
    sign_in(user)
    return redirect(url_for(home_for(current_actor())))


def _try_again(seconds: int) -> str:
    """When the sign-in page may be tried again, in words."""
    if seconds < 120:
        return ngettext("Try again in %(num)s second.", "Try again in %(num)s seconds.", seconds)
    minutes = -(-seconds // 60)
    return ngettext("Try again in %(num)s minute.", "Try again in %(num)s minutes.", minutes)


def platforms(form=None, errors=None, status=200):
    from lms_plugin.services import platforms as svc

    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    base = request.host_url.rstrip("/")
    public = current_app.config.get("EXAMBRIDGE_PUBLIC_URL") or base
    return render_template("admin/platforms.html", user=user, platforms=svc.list_platforms(db.session),
                           form=form or {}, errors=errors or {}, tool_urls=svc.tool_urls(public)), status


def add_platform():
    from lms_plugin.services import platforms as svc

    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    form = {k: request.form.get(k, "").strip() for k in PLATFORM_FIELDS}
    try:
        with transaction() as s:
            p = svc.add_platform(
                s, issuer=form["issuer"], client_id=form["client_id"],
                deployment_ids=[d.strip() for d in form["deployment_ids"].replace(",", " ").split() if d.strip()],
                auth_login_url=form["auth_login_url"], auth_token_url=form["auth_token_url"],
                jwks_url=form["jwks_url"], name=form["name"], registered_by="admin",
                actor=f"user:{user.id}")
            issuer = p.issuer
    except DomainError as exc:
        return platforms(form=form, errors=getattr(exc, "fields", {"_": exc.message}), status=422)
    flash(_("Platform %(issuer)s registered.", issuer=issuer))
    return redirect(url_for("admin.platforms"))


def toggle_platform(platform_id: int):
    from lms_plugin.services import platforms as svc

    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    active = request.form.get("active") == "1"
    with transaction() as s:
        svc.set_active(s, platform_id, active=active, actor=f"user:{user.id}")
    flash(_("Platform enabled.") if active else _("Platform disabled: its launches are refused."))
    return redirect(url_for("admin.platforms"))


def issue_registration_url():
    from lms_plugin.services import registration

    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    public = current_app.config.get("EXAMBRIDGE_PUBLIC_URL") or request.host_url.rstrip("/")
    with transaction() as s:
        url = registration.issue_ticket_url(s, public, hours=24, actor=f"user:{user.id}")
    flash(_("One-time registration URL (valid 24 hours): %(url)s", url=url))
    return redirect(url_for("admin.platforms"))


def audit_log():
    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    prefix = request.args.get("action", "")
    return render_template("admin/audit.html", user=user, entries=audit.recent(db.session, action_prefix=prefix, limit=200),
                           prefix=prefix)


def authcodes_page():
    """The authority's page (P15): open requests of the rooms of their sites; approve one
    online, or read its code out on the phone."""
    from bridge.services.proctoring import authcodes
    if current_user() is None:
        return redirect(url_for("admin.login"))
    actor = require_staff("authority")
    user = current_user()
    requests_ = authcodes.open_requests(db.session, authority=actor)
    # nobody reads out or approves a code they asked for themselves
    codes = {r.id: authcodes.code_for(db.session, authcodes.get(db.session, r.request_code),
                                      secret_key=current_app.config["SECRET_KEY"])
             for r in requests_ if r.requested_by != actor}
    return render_template("admin/authcodes.html", user=user, requests=requests_, codes=codes)


def approve_authcode(request_id: int):
    from bridge.services.proctoring import authcodes
    if current_user() is None:
        return redirect(url_for("admin.login"))
    actor = require_staff("authority")
    try:
        with transaction() as s:
            made = authcodes.approve(s, request_id, actor=actor)
    except Forbidden:
        raise  # another site's request, or one they asked for: the refusal page says why
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("admin.authcodes_page"))
    flash(_("Request %(code)s approved: the console may act now.", code=made.request_code))
    return redirect(url_for("admin.authcodes_page"))
