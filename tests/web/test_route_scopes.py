"""Least privilege, route by route: seven people (nobody, a candidate, a teacher, the proctor
of room A, the site admin of site A, the authority of site A, the admin) call every route of
the app with the ids of another site, room, sitting, course and candidate. Each answer must be
the one ``ROUTES`` below expects; a route the table does not name fails the test, so a new
route cannot ship without saying who may call it.

Answers: ``401`` nobody signed in; ``403`` another's site, room, course or request; ``404``
an id that is not under the one before it; ``ALLOWED`` (the admin, and a person on their own
ground): anything but a refusal (401/403) or a server error; ``ANY``: open to all (the LTI
doors, health, the kiosk and station doors, which hold their own credentials) but never a 500.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.models.staff import StaffGrant
from bridge.services.people import access

PASSWORD = "correct horse battery"
PEOPLE = ("nobody", "candidate", "teacher", "proctor", "site_admin", "authority", "admin")
ALLOWED = "allowed"
ANY = "any"
REFUSED = frozenset({401, 403, 404})


def _row(nobody, others, admin=ALLOWED, **override):
    row = {"nobody": nobody, "admin": admin}
    row.update({p: others for p in PEOPLE if p not in row})
    row.update(override)
    return row


OPEN = _row(ANY, ANY, ANY)
SIGNED_IN = _row({401}, ANY, ANY)  # any signed-in person, about themselves only
ADMIN_PAGE = _row({302}, {403})  # the admin pages send nobody to their sign-in
AUTHORITY_ACT = _row({302}, {403})  # answering another site's request
SITE = _row({401}, {403})  # another site, or anything under it
ROOM = _row({401}, {403})  # another room's sitting (console)
COURSE = _row({401}, {403, 404})  # another course (teacher pages, the course's proctor page)
ATTEMPT = _row({401}, {403, 404}, {403, 404})  # another candidate's attempt: nobody else's, admin's neither
DEVICE = _row(REFUSED | {400, 426}, REFUSED | {400, 426}, REFUSED | {400, 426})  # no device credential

ROUTES = {
    # the LMS doors, health, the landing page, the language switch, public files
    **{e: OPEN for e in ("lti.login", "lti.launch", "lti.login_continue", "lti.register", "lti.jwks",
                         "lti.toplevel", "lti.toplevel_continue", "lti.deeplink_launch", "health.healthz",
                         "health.readyz", "health.favicon", "static", "main.index", "main.set_locale",
                         "admin.login", "delivery.code", "station.home", "station.register", "station.restore")},
    "lti.deeplink_pick": _row({400, 401, 403}, {400, 401, 403}, {400, 401, 403}),  # needs a deep-link launch
    "lti.deeplink_respond": _row({400, 401, 403}, {400, 401, 403}, {400, 401, 403}),
    "main.logout": SIGNED_IN,
    # devices: the kiosk socket and the hub's command relay hold their own credentials
    "hub.kiosk_socket": DEVICE,
    "commands.post_commands": _row({401}, {403}),  # the admin's command relay to kiosks
    # a candidate's attempt (another candidate's here)
    **{e: ATTEMPT for e in ("delivery.attempt", "delivery.gate", "delivery.lock", "delivery.media",
                            "delivery.page_unloaded", "delivery.read_rules", "delivery.save_info", "delivery.start",
                            "delivery.unlock", "delivery.upload", "api.attempt_state", "api.save_answers",
                            "api.submit_attempt")},
    # the course (another course here)
    **{e: COURSE for e in ("main.course_home", "main.create_exam", "main.designate_proctor", "main.exam_deliveries",
                           "main.exam_home", "main.publish_score", "main.sync_roster", "delivery.proctor",
                           "delivery.proctor_code", "delivery.proctor_unlock", "delivery.sit",
                           "lti_gradebook.choose_column", "lti_gradebook.exam_gradebook",
                           "lti_gradebook.remove_column", "console.session_socket")},
    **{e: COURSE for e in ("answer_file", "archive_item", "assign_candidates", "bank", "confirm_archive",
                           "confirm_delete_sitting", "confirm_release", "create_item", "create_sitting",
                           "delete_sitting", "edit_item", "edit_sitting", "export_bank", "grade_attempt", "grade_item",
                           "grade_question", "grading", "import_bank", "import_form", "import_report", "new_item",
                           "paper", "preview_item", "release", "save_settings", "sessions", "set_draws", "set_fixed",
                           "update_item", "update_sitting")
       for e in [f"teaching.{e}"]},
    # tool administration
    **{e: ADMIN_PAGE for e in ("admin.platforms", "admin.add_platform", "admin.toggle_platform",
                               "admin.issue_registration_url", "admin.audit_log", "admin.accounts",
                               "admin.create_account", "admin.add_grant", "admin.remove_grant")},
    # the authority: its page lists only its sites' requests; another site's request is refused
    "admin.authcodes_page": _row({302}, {403}, authority=ALLOWED),
    "admin.approve_authcode": AUTHORITY_ACT,
    # the site console: another site, and everything under it
    **{e: SITE for e in (
        "show_site", "update_site", "add_room", "show_seats", "add_seat", "scan_seats", "export_seats",
        "display_seats", "import_seats", "edit_seat", "move_seat", "delete_seat", "show_envcheck", "start_envcheck",
        "save_requirements", "envcheck_report", "show_sessions", "place_session", "build_data", "export_data",
        "load_data", "seating_chart", "seating_chart_pdf", "authorize_session", "export_authorization",
        "import_authorization", "verify_session", "show_sealing", "run_sealing", "show_monitor", "show_stations",
        "new_station_code", "revoke_station", "site_info", "site_file", "show_upkeep", "download_backup",
        "init_site", "registrations", "approve_registrations", "show_registration", "reject_registration",
        "registration_photo", "confirm_registration", "verify_ticket", "show_collection", "import_results")
       for e in [f"site.{e}"]},
    # the site console's own pages (no site in the address)
    "site.list_sites": _row({401}, {403}, site_admin=ALLOWED),  # lists only their sites
    "site.create_site": _row({401}, {403}),  # the admin creates sites
    "site.restore_backup": _row({401}, {403}, site_admin=ALLOWED),  # their own site's backup (test below)
    "site.password": _row({401}, {403}, proctor=ALLOWED, site_admin=ALLOWED, authority=ALLOWED),
    # the proctor console: another room's sitting
    **{e: ROOM for e in (
        "show", "enter", "board_json", "allow_login", "allow_start", "request_code", "violations", "violations_csv",
        "cancel_violation", "extra_time", "absent", "end", "resume", "lock_screen", "candidate_log",
        "candidate_log_csv", "import_pack", "room_record", "room_record_pdf", "verification", "results_export",
        "violations_xlsx", "backup", "upload_step", "remote", "audit_trail", "audit_csv", "re_exam", "collect", "mock",
        "resume_log_csv", "cancel_request", "socket") for e in [f"console.{e}"]},
    "console.home": _row({401}, {403}, proctor=ALLOWED, site_admin=ALLOWED),  # lists only their rooms
    "console.violation_codes": _row({401}, {403}, proctor=ALLOWED, site_admin=ALLOWED),  # reading; changing: admin
    # registration: the public doors, and a person's own registration (nobody is sent to sign in)
    **{e: OPEN for e in ("registration.home", "registration.sign_up", "registration.verify", "registration.sign_in",
                         "registration.sign_out", "registration.reset_request", "registration.reset",
                         "registration.resend", "registration.payment_notify", "registration.payment_return",
                         "delivery.admission_sign_in")},
    **{e: _row({302}, ANY, ANY) for e in ("registration.period", "registration.agree", "registration.details",
                                          "registration.subjects", "registration.submit",
                                          "registration.photo", "registration.photo_file",
                                          "registration.ask_review", "registration.pay",
                                          "registration.refresh_payment", "registration.registration_form",
                                          "registration.registration_form_pdf", "registration.admission_ticket",
                                          "registration.admission_ticket_pdf")},
    **{e: ADMIN_PAGE for e in ("admin.registration_periods", "admin.create_period", "admin.add_period_site",
                               "admin.add_offer", "admin.payment_reconciliation")},
}
# where one method of a route differs from the row above, or the admin meets another refusal
BY_METHOD = {
    ("console.violation_codes", "POST"): _row({401}, {403}),
    ("console.mock", "POST"): _row({401}, {403}, {403}),  # site B is a formal site: no mock acts, not even the admin's
    ("delivery.sit", "GET"): _row({401}, {403, 404}, {403, 404}),  # only the exam's candidates sit it
    # the course's LMS is not reachable from this test: the admin is told so (502), nobody else gets that far
    ("lti_gradebook.choose_column", "POST"): _row({401}, {403, 404}, {502}),
    ("lti_gradebook.remove_column", "POST"): _row({401}, {403, 404}, {502}),
}


# --- the world: two sites, two courses ------------------------------------------------------
@pytest.fixture
def two_sites(app, db_session):
    from bridge.services.delivery import attempts
    from bridge.services.exams import papers, exam_sessions
    from bridge.services.people import accounts, staff
    from bridge.services.proctoring import authcodes
    from bridge.services.registration import periods
    from bridge.services.venue import exam_data, seats, venues
    from tests.exams import factories as f

    s, secret = db_session, app.config["SECRET_KEY"]
    site_a = venues.create_site(s, code="A01", name="Site A", actor="test")
    site_b = venues.create_site(s, code="B01", name="Site B", actor="test")
    room_a, _ = venues.add_room(s, site_a.id, code="RA", name="Room A", capacity=30, secret_key=secret, actor="test")
    room_b, _ = venues.add_room(s, site_b.id, code="RB", name="Room B", capacity=30, secret_key=secret, actor="test")
    seat_b = seats.add_seat(s, room_b.id, address="10.0.2.11", hostname="PCB1", actor="test")
    course_a, course_b = f.course(s), f.course(s)
    teacher = f.member(s, course_a, "teacher", "Tess")
    other_teacher = f.member(s, course_b, "teacher", "Otto")
    candidate = f.member(s, course_a, name="Cara")
    other_candidate = f.member(s, course_b, name="Olga")
    qa, qb = f.questions(s, course_a), f.questions(s, course_b)
    exam_a, exam_b = f.exam(s, course_a), f.exam(s, course_b)
    papers.set_fixed_items(s, exam_a, [(qa["single"].id, 2.0)], actor_id=teacher.id)
    papers.set_fixed_items(s, exam_b, [(qb["single"].id, 2.0)], actor_id=other_teacher.id)
    start = f.now() + dt.timedelta(minutes=2)
    sess_a = exam_sessions.create_session(s, exam_a, name="A1", starts_at=start, remote=False, actor_id=teacher.id)
    sess_b = exam_sessions.create_session(s, exam_b, name="B1", starts_at=start, remote=False, actor_id=other_teacher.id)
    exam_sessions.assign(s, sess_a, [candidate.id], actor_id=teacher.id)
    exam_sessions.assign(s, sess_b, [other_candidate.id], actor_id=other_teacher.id)
    sitting_a = exam_data.place(s, site_a.id, sess_a.id, room_a.id, actor="test")
    sitting_b = exam_data.place(s, site_b.id, sess_b.id, room_b.id, actor="test")
    attempts.log_in(s, exam_a, candidate.id)
    other_attempt = attempts.log_in(s, exam_b, other_candidate.id)
    request_b = authcodes.request(s, room_id=room_b.id, session_id=sess_b.id, subject=exam_b.id, action="extra_time",
                                  candidates=[], parameter=300, actor="user:0")
    request_a = authcodes.request(s, room_id=room_a.id, session_id=sess_a.id, subject=exam_a.id, action="extra_time",
                                  candidates=[], parameter=300, actor="user:0")
    admin = accounts.create_admin(s, username="root", password=PASSWORD, actor="test")
    period = periods.create_period(s, name="Spring", opens_at=f.now() - dt.timedelta(days=1),
                                   closes_at=f.now() + dt.timedelta(days=9), actor="test")
    periods.add_site(s, period, "B01", reviews=True, actor="test")
    people = {"nobody": None, "candidate": candidate.id, "teacher": teacher.id, "admin": admin.id}
    for role, place in (("proctor", {"room": "RA"}), ("site_admin", {"site": "A01"}), ("authority", {"site": "A01"})):
        people[role] = staff.create_staff(s, username=role, password=PASSWORD, role=role,
                                          actor=admin_actor(s, admin), **place).id
    s.commit()
    grant = s.scalars(select(StaffGrant).where(StaffGrant.user_id == people["proctor"])).one()
    other = {"site_id": site_b.id, "room_id": room_b.id, "sitting_id": sitting_b.id, "session_id": sess_b.id,
             "course_id": course_b.id, "exam_id": exam_b.id, "attempt_id": other_attempt.id,
             "question_id": qb["single"].id, "seat_id": seat_b.id, "request_id": request_b.id, "violation_id": 1,
             "user_id": people["proctor"], "grant_id": grant.id, "platform_id": 1, "report_id": 1, "file_id": 1,
             "fmt": "csv", "act": "login", "code": "en", "name": "fig.png", "filename": "app.css",
             "period_id": period.id, "token": "not-a-token", "registration_id": 1}
    mine = {"request_a": request_a, "request_b": request_b}
    clock.set_offset(0)
    yield other, people, mine
    clock.set_offset(0)


def admin_actor(s, admin):
    return access.actor_for(s, admin)


def _client(app, user_id):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_csrf"] = "t" * 32
        if user_id is not None:
            sess.update(user_id=user_id, signed_in_at=clock.timestamp(), locale="en")
    return client


def _call(client, app, rule, ids, method):
    path = app.url_map.bind("localhost").build(rule.endpoint, {k: ids[k] for k in rule.arguments}, method=method)
    if rule.endpoint == "console.socket":
        path += f"?sitting={ids['sitting_id']}"
    headers = {"X-CSRF-Token": "t" * 32}
    if method == "GET":
        return path, client.get(path, headers=headers)
    return path, client.post(path, headers=headers, data={"confirm_code": "B01", "understood": "1", "code": "123456",
                                                          "seconds": "300", "reason": "x", "site": "A01",
                                                          "role": "authority", "attempt_id": ids["attempt_id"],
                                                          "password": PASSWORD})


def _fits(expected, status: int) -> bool:
    if isinstance(expected, (set, frozenset)):
        return status in expected
    if status >= 500:
        return False
    if expected == ANY:
        return True
    if expected == ALLOWED:
        return status not in (401, 403)
    return status in expected


@pytest.mark.req("P16", "V5")
def test_every_route_answers_each_role_as_the_table_says(app, two_sites):
    other, people, _ = two_sites
    rules = [r for r in app.url_map.iter_rules()]
    missing = sorted({r.endpoint for r in rules} - set(ROUTES))
    assert not missing, f"routes without a row in ROUTES (say who may call them): {missing}"
    stale = sorted(set(ROUTES) - {r.endpoint for r in rules})
    assert not stale, f"rows for routes that are gone: {stale}"
    wrong: list[str] = []
    calls = 0
    for who in PEOPLE:
        for rule in sorted(rules, key=lambda r: (r.rule, r.endpoint)):
            for method in sorted(rule.methods & {"GET", "POST"}):
                expected = BY_METHOD.get((rule.endpoint, method), ROUTES[rule.endpoint])[who]
                client = _client(app, people[who])  # afresh: an earlier call may have signed out
                path, resp = _call(client, app, rule, other, method)
                calls += 1
                if not _fits(expected, resp.status_code):
                    wrong.append(f"{who} {method} {path} → {resp.status_code}, expected {expected}")
    assert not wrong, "\n".join(wrong)
    assert calls > 7 * 150


@pytest.mark.req("V5", "P1")
def test_lists_show_only_what_the_account_covers(app, two_sites):
    """The pages a scoped person may open show their own ground only."""
    _, people, mine = two_sites
    proctor = _client(app, people["proctor"])
    home = proctor.get("/console/").get_data(as_text=True)
    assert "RA" in home and "RB" not in home
    sites = _client(app, people["site_admin"]).get("/site/").get_data(as_text=True)
    assert "A01" in sites and "B01" not in sites
    codes = _client(app, people["authority"]).get("/admin/authcodes").get_data(as_text=True)
    assert mine["request_a"].request_code in codes and mine["request_b"].request_code not in codes
    admin_codes = _client(app, people["admin"]).get("/admin/authcodes").get_data(as_text=True)
    assert mine["request_b"].request_code in admin_codes
