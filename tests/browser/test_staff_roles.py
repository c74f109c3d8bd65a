"""Staff accounts walked in Debian's chromium, in English and in Chinese: the admin makes a
proctor for room A and a site admin for site A on the Staff accounts page; the proctor signs
in, lands on the console, sees room A's sitting and not room B's, and meets a "not allowed"
page (not a crash, not room B's data) when they type room B's address; the site admin sees
site A only; the admin removes the proctor's role and the proctor's next click is refused.

Every context is watched (journey_checks.Watch): an unexpected error document, an error in
the server's log or, in Chinese, English interface text fails the walk. The refusals the walk
asks for are taken off the list of error documents by name."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bridge import clock
from tests.browser.journey_checks import Watch
from tests.fixtures.servers import serve_wsgi

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "correct horse battery"
TIMEOUT = 20_000
USER_TEXT = {"Site A", "Site B", "Room A", "Room B", "A01", "B01", "RA", "RB", "Final", "A1", "B1", "Li Proctor",
             "Wang Site", "Zhao Authority", "Course",
             "exambridge authcode REQUEST"}  # a command, typed as it is
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def two_sites(app, db_session):
    from bridge.services.exams import papers, exam_sessions
    from bridge.services.people import accounts
    from bridge.services.venue import exam_data, venues
    from tests.exams import factories as f

    s, secret = db_session, app.config["SECRET_KEY"]
    placed = {}
    for key in ("A", "B"):
        site = venues.create_site(s, code=f"{key}01", name=f"Site {key}", actor="test")
        room, _ = venues.add_room(s, site.id, code=f"R{key}", name=f"Room {key}", capacity=10, secret_key=secret,
                                  actor="test")
        c = f.course(s)
        teacher = f.member(s, c, "teacher")
        exam = f.exam(s, c)
        papers.set_fixed_items(s, exam, [(f.questions(s, c)["single"].id, 1.0)], actor_id=teacher.id)
        sess = exam_sessions.create_session(s, exam, name=f"{key}1", starts_at=f.now() + dt.timedelta(hours=3),
                                       remote=False, actor_id=teacher.id)
        placed[key] = (site, exam_data.place(s, site.id, sess.id, room.id, actor="test"))
    accounts.create_admin(s, username="root", password=PASSWORD, actor="test")
    s.commit()
    yield placed
    clock.set_offset(0)


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.req("V5", "P1")
@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_staff_see_their_own_site_and_room_only(app, two_sites, chromium, locale):
    SHOTS.mkdir(parents=True, exist_ok=True)
    (site_a, sitting_a), (site_b, sitting_b) = two_sites["A"], two_sites["B"]
    watch = Watch(user_text=set(USER_TEXT))
    look = watch.look_for_english if locale == "zh_CN" else (lambda page, where: None)
    browser_locale = "zh-CN" if locale == "zh_CN" else "en-US"
    try:
        with serve_wsgi(app) as srv:
            base = srv.url
            # the admin makes the two accounts
            admin = watch.watch(chromium(locale=browser_locale)).new_page()
            _sign_in(admin, base, "root")
            admin.goto(f"{base}/admin/accounts")
            for username, name, role, field, value in (("li", "Li Proctor", "proctor", "#room", "RA"),
                                                        ("wang", "Wang Site", "site_admin", "#site", "A01")):
                admin.fill("#username", username)
                admin.fill("#name", name)
                admin.fill("#password", PASSWORD)
                admin.select_option("#role", role)
                admin.select_option(field, value)
                admin.click("#new-account button[type=submit]")
                admin.locator(f"#staff tr[data-user={username}]").wait_for(timeout=TIMEOUT)
            assert "RA" in admin.locator("#staff tr[data-user=li]").inner_text()
            look(admin, "staff accounts")
            admin.screenshot(path=str(SHOTS / f"staff-accounts-{locale}.png"), full_page=True)

            # the proctor: the console, room A's sitting only, a refusal page for room B's
            proctor = watch.watch(chromium(locale=browser_locale)).new_page()
            _sign_in(proctor, base, "li")
            proctor.wait_for_url("**/console/")
            rows = proctor.locator("#sittings tbody tr")
            assert rows.count() == 1 and "RA" in rows.inner_text()
            nav = proctor.locator("nav.staff-nav").inner_text()
            assert ("Exam sites" not in nav and "LMS" not in nav) if locale == "en" else "考点" not in nav
            look(proctor, "proctor console")
            proctor.screenshot(path=str(SHOTS / f"staff-proctor-console-{locale}.png"), full_page=True)
            refused = proctor.goto(f"{base}/console/{sitting_b.id}")
            assert refused.status == 403 and "RB" not in proctor.locator("main").inner_text()
            look(proctor, "proctor refused")
            proctor.screenshot(path=str(SHOTS / f"staff-proctor-refused-{locale}.png"), full_page=True)
            proctor.click("#start-page")  # the refusal page leads back to their own start page
            proctor.wait_for_url("**/console/")
            assert proctor.goto(f"{base}/site/").status == 403

            # the site admin: site A only
            site_admin = watch.watch(chromium(locale=browser_locale)).new_page()
            _sign_in(site_admin, base, "wang")
            site_admin.wait_for_url("**/site/")
            listed = site_admin.locator("main").inner_text()
            assert "A01" in listed and "B01" not in listed
            look(site_admin, "site list")
            site_admin.screenshot(path=str(SHOTS / f"staff-site-admin-{locale}.png"), full_page=True)
            assert site_admin.goto(f"{base}/site/{site_b.id}").status == 403
            assert site_admin.goto(f"{base}/site/{site_a.id}").status == 200
            site_admin.click("#sign-out")
            site_admin.wait_for_load_state()
            assert site_admin.goto(f"{base}/site/").status == 401

            # the proctor asks for an extra-time code; the authority of site A reads it out or approves it
            from bridge.extensions import transaction
            from bridge.models.users import User
            from bridge.services.people import access, staff
            from bridge.services.proctoring import authcodes
            from sqlalchemy import select

            with transaction() as tx:
                root = access.actor_for(tx, tx.scalars(select(User).where(User.username == "root")).one())
                staff.create_staff(tx, username="zhao", password=PASSWORD, name="Zhao Authority", role="authority",
                                   site="A01", actor=root)
                li = access.actor_for(tx, tx.scalars(select(User).where(User.username == "li")).one())
                asked = authcodes.request(tx, room_id=sitting_a.room_id, session_id=sitting_a.session_id, subject=1,
                                          action="extra_time", candidates=[], parameter=300, actor=li)
                other = authcodes.request(tx, room_id=sitting_b.room_id, session_id=sitting_b.session_id, subject=1,
                                          action="extra_time", candidates=[], parameter=300, actor="test")
            authority = watch.watch(chromium(locale=browser_locale)).new_page()
            _sign_in(authority, base, "zhao")
            authority.wait_for_url("**/admin/authcodes")
            rows = authority.locator("#auth-requests tbody tr")
            assert rows.count() == 1 and authority.locator(f"tr[data-request='{asked.request_code}']").count() == 1
            assert other.request_code not in authority.locator("main").inner_text()
            authority.locator(f"tr[data-request='{asked.request_code}'] summary").click()
            assert authority.locator(f"tr[data-request='{asked.request_code}'] .code").inner_text().strip().isdigit()
            look(authority, "authorization codes")
            authority.screenshot(path=str(SHOTS / f"staff-authority-{locale}.png"), full_page=True)
            authority.locator(f"tr[data-request='{asked.request_code}'] button[type=submit]").click()
            authority.wait_for_load_state()
            assert authority.locator(".flash").count() == 1

            # the admin removes the proctor's role (confirmed); the proctor's next click is refused
            admin.goto(f"{base}/admin/accounts")
            admin.once("dialog", lambda dialog: dialog.accept())
            admin.locator("#staff tr[data-user=li] .grant button").click()
            admin.locator("#staff tr[data-user=li] .grant").wait_for(state="detached", timeout=TIMEOUT)
            assert proctor.goto(f"{base}/console/{sitting_a.id}").status == 403
    finally:
        watch.stop()
    expected = {f"403 GET {base}/console/{sitting_b.id}", f"403 GET {base}/site/",
                f"403 GET {base}/site/{site_b.id}", f"403 GET {base}/console/{sitting_a.id}",
                f"401 GET {base}/site/"}
    watch.bad_documents = [d for d in watch.bad_documents if d not in expected]
    watch.assert_clean()
