"""Pages people look at: the course, the gradebook, Moodle's return.php, and the
test/demo controls (outage, stale-score mode, login method)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from .course import COURSE_ID, COURSE_LABEL, COURSE_TITLE, TEACHER_ID, USERS, find_user, roster
from .state import LOGIN_METHODS, STALE_SCORE_MODES
from .web import error_page, sandbox

bp = Blueprint("sandbox_pages", __name__)


def _course_context(**extra):
    sb = sandbox()
    tools = {t.client_id: t for t in sb.tools}
    activities = []
    for activity in sb.activities:
        tool = tools.get(activity.client_id)
        activities.append({
            "activity": activity, "tool": tool, "line_items": sb.activity_line_items(activity.id),
            "container": activity.container or (tool.default_container if tool else "window"),
            "launches": [(u, sb.launch_url(u.id, activity.id, "window"), sb.launch_url(u.id, activity.id, "iframe"))
                         for u in USERS],
        })
    teacher = find_user(TEACHER_ID)
    deep_links = [(t, sb.deep_link_url(teacher.id, t.client_id), sb.deep_link_url(teacher.id, t.client_id, "iframe"))
                  for t in tools.values() if t.active and t.supports_deep_linking]
    return dict(course_id=COURSE_ID, label=COURSE_LABEL, title=COURSE_TITLE, users=USERS, roster=roster(),
                activities=activities, tools=list(tools.values()), deep_links=deep_links, teacher=teacher,
                **extra)


@bp.get("/")
@bp.get(f"/course/{COURSE_ID}")
def course():
    return render_template("sandbox/course.html",
                           **_course_context(lti_msg=request.args.get("lti_msg"),
                                             lti_errormsg=request.args.get("lti_errormsg"),
                                             notice=request.args.get("notice")))


def _parse_custom(text: str) -> dict[str, str]:
    """``name=value`` lines, as Moodle's custom parameters box."""
    custom = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            if key.strip():
                custom[key.strip()] = value.strip()
    return custom


@bp.post(f"/course/{COURSE_ID}/activities")
def add_activity():
    """The manual "add an activity" form (deep linking is the other way)."""
    form = request.form
    line_item = None
    if form.get("grade_max", "").strip():
        try:
            line_item = {"scoreMaximum": float(form["grade_max"]), "label": form.get("title", "")}
        except ValueError:
            return error_page(400, "Bad request", "The maximum grade must be a number.")
    try:
        activity = sandbox().add_activity(form.get("tool", ""), form.get("title", ""),
                                          _parse_custom(form.get("custom", "")), line_item,
                                          description=form.get("description", ""),
                                          container=form.get("container") or None, created_by="form")
    except (KeyError, ValueError) as exc:
        return error_page(400, "Cannot add the activity", str(exc).strip("'\""))
    return redirect(url_for(".course", notice=f"Activity “{activity.title}” added."))


@bp.get("/mod/lti/return.php")
def lti_return():
    """Where a tool sends the user back (launch_presentation.return_url)."""
    return redirect(url_for(".course", lti_msg=request.args.get("lti_msg") or None,
                            lti_errormsg=request.args.get("lti_errormsg") or None))


@bp.get("/grade/report")
def gradebook():
    sb = sandbox()
    tools = {t.client_id: t for t in sb.tools}
    activities = {a.id: a for a in sb.activities}
    students = [u for u in roster() if u.gradable]
    books = []
    for item in sb.line_items:
        current = {s.user_id: s for s in sb.scores(item.id)}
        rows = [(u, current.get(str(u.id))) for u in students]
        tool = next((t for t in tools.values() if t.type_id == item.type_id), None)
        books.append({"item": item, "activity": activities.get(item.activity_id), "tool": tool, "rows": rows,
                      "log": list(reversed(sb.score_log(item.id)))})
    return render_template("sandbox/gradebook.html", books=books, users={str(u.id): u for u in USERS},
                           title=COURSE_TITLE, label=COURSE_LABEL)


@bp.route("/sandbox/controls", methods=["GET", "POST"])
def controls():
    sb = sandbox()
    if request.method == "POST":
        form = request.form
        if "outage" in form:
            sb.set_outage(form["outage"] == "on")
        if form.get("stale_score_mode") in STALE_SCORE_MODES:
            sb.set_stale_score_mode(form["stale_score_mode"])
        if form.get("login_method") in LOGIN_METHODS:
            sb.set_login_method(form["login_method"])
        return redirect(url_for(".controls"))
    return render_template("sandbox/controls.html", sb=sb, stale_modes=STALE_SCORE_MODES,
                           login_methods=LOGIN_METHODS)
