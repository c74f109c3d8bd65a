"""Site administration › Manage tools: registered tools, dynamic registration by "Tool
URL" (the tool opens in an iframe with ``openid_configuration`` and ``registration_token``
and closes itself with ``postMessage({subject: 'org.imsglobal.lti.close'})``), manual
registration, and an active/disabled toggle.

Unlike Moodle, a dynamically registered tool is active at once (Moodle leaves it pending
until the admin activates it); the toggle can disable it.
"""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from .vocab import SERVICE_SCOPES
from .web import error_page, sandbox

bp = Blueprint("sandbox_admin", __name__)


def _short_scope(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


@bp.get("/admin/tools")
def tools():
    return render_template("sandbox/admin_tools.html", tools=sandbox().tools, short_scope=_short_scope,
                           all_scopes=SERVICE_SCOPES, notice=request.args.get("notice"))


@bp.post("/admin/tools/register")
def start_dynamic_registration():
    tool_url = request.form.get("tool_url", "").strip()
    parts = urlsplit(tool_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return error_page(400, "Bad tool URL", "The tool URL must be an http(s) URL.")
    sb = sandbox()
    token, record = sb.issue_registration_token()
    query = urlencode({"openid_configuration": sb.urls.openid_configuration, "registration_token": token})
    src = f"{tool_url}{'&' if parts.query else '?'}{query}"
    return render_template("sandbox/admin_register.html", src=src, tool_url=tool_url, jti=record.jti)


@bp.get("/admin/tools/registration-status")
def registration_status():
    tool = sandbox().registration_token_status(request.args.get("jti", ""))
    if tool is None:
        return jsonify(registered=False)
    return jsonify(registered=True, name=tool.name, client_id=tool.client_id, deployment_id=tool.deployment_id)


@bp.post("/admin/tools/manual")
def manual_registration():
    form = request.form
    redirect_uris = [line.strip() for line in form.get("redirect_uris", "").splitlines() if line.strip()] or None
    try:
        tool = sandbox().register_tool(
            name=form.get("name", ""), login_url=form.get("login_url", "").strip(),
            launch_url=form.get("launch_url", "").strip(), deeplink_url=form.get("deeplink_url", "").strip() or None,
            jwks_url=form.get("jwks_url", "").strip(), redirect_uris=redirect_uris,
            scopes=form.getlist("scopes"), description=form.get("description", ""),
            default_container=form.get("default_container") or "window", registered_by="manual")
    except ValueError as exc:
        return error_page(400, "Cannot register the tool", str(exc))
    return redirect(url_for(".tools", notice=f"{tool.name} registered: client_id {tool.client_id}, "
                                             f"deployment_id {tool.deployment_id}."))


@bp.post("/admin/tools/<client_id>/active")
def toggle_active(client_id: str):
    try:
        sandbox().set_tool_active(client_id, request.form.get("active") == "1")
    except KeyError:
        return error_page(404, "Not found", "No such tool.")
    return redirect(url_for(".tools"))
