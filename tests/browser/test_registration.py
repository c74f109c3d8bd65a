"""A public candidate registers for a sitting in Debian's chromium, as seed 003 walks it: an
account whose verification link arrives over real SMTP; the agreement (declined once, then
accepted); the personal data with a wrong ID number refused and the right one accepted; a
fourth subject refused; every kind of wrong photo refused with its reason and a good one
accepted and previewed; "true and accurate" and the submission; the site's review (rejected
with a reason, fixed, approved in bulk); paying through the sandbox provider; the
registration form; the site's address, the session placed and the room's exam data built;
the admission ticket PDF (rendered to PNG, its QR code read back) and the staff's
verification page it opens (a forged code refused); then, at the start, the candidate signs
in with admission number and ID number (someone else's ID number refused) and sits the
exam to the end. The admin opened the period on its page first. Every page is watched (journey_checks.Watch): an unexpected error page,
an error in the server log or, in Chinese, English interface text fails the walk."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from stdnum.cn import ric

from tests.browser.journey_checks import Watch
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.mail import Mailbox
from tests.registration.photos import samples

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "correct horse battery"
TIMEOUT = 20_000
USER_TEXT = {"Spring 2027", "Site A", "A01", "Li Hua", "li.hua@example.com", "Subject 1", "Subject 2", "Subject 3",
             "Subject 4", "Course", "Exam"}
pytestmark = pytest.mark.timeout(240)

# what each refused photo's message says, in each language (a word of it)
PHOTO_REASONS = {
    "png": ("not a JPEG", "JPEG"), "10kb": ("20 KB to 200 KB", "20 KB"), "300kb": ("20 KB to 200 KB", "20 KB"),
    "greyscale": ("black-and-white", "黑白"), "small": ("192×144", "192×144"), "landscape": ("landscape", "横"),
    "sideways": ("sideways", "侧"), "upside_down": ("upside down", "倒"), "no_face": ("No face", "人脸"),
}


def ric_number(seq: str = "123") -> str:
    body = "110101" + "19900101" + seq
    return body + ric.calc_check_digit(body + "0")


def _admin_opens_the_period(page, base: str, lang: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("#username", "root")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{base}/admin/registration")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    page.fill("#name", "Spring 2027")
    page.fill("#opens_at", (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#closes_at", (now + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"))
    page.click("#new-period button[type=submit]")
    section = page.locator("section[id^=period-]").first
    section.locator("summary").first.click()
    section.locator("select[name=site]").first.select_option("A01")
    section.locator("input[name=reviews]").check()                          # the site reviews registrations
    section.locator("form").first.locator("button[type=submit]").click()
    page.wait_for_load_state()
    for i in range(4):
        section = page.locator("section[id^=period-]").first
        details = section.locator("details").nth(1)
        details.locator("summary").click()
        details.locator("select[name=exam]").select_option(label=f"Subject {i + 1}")
        details.locator("input[name=capacity]").fill("30")
        details.locator("button[type=submit]").click()
        page.wait_for_load_state()
    assert page.locator("section[id^=period-] .offers").inner_text().count("0 / 30") == 4
    page.screenshot(path=str(SHOTS / f"registration-admin-{lang}.png"), full_page=True)


@pytest.mark.req("R1", "R2", "R3", "R4", "R5", "R6")
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_public_candidate_registers_and_sits_from_account_to_submitted_exam(make_app, mailbox, chromium, lang, tmp_path):
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), PAYMENT_PROVIDER="sandbox")
    with app.app_context():
        from bridge.extensions import db
        world = _offer(db.session, app.config["SECRET_KEY"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    zh = lang == "zh_CN"
    watch = Watch(user_text=set(USER_TEXT))
    look = watch.look_for_english if zh else (lambda page, where: None)
    expected_refusals = []
    try:
        with serve_wsgi(app) as srv:
            base = srv.url
            admin = watch.watch(chromium(locale="zh-CN" if zh else "en-US")).new_page()
            _admin_opens_the_period(admin, base, lang)
            look(admin, "registration periods")

            page = watch.watch(chromium(locale="zh-CN" if zh else "en-US")).new_page()
            page.goto(f"{base}/register")
            look(page, "registration home")
            page.click("a[href$='/register/account/new']")
            page.fill("#name", "Li Hua")
            page.fill("#email", "li.hua@example.com")
            page.fill("#password", PASSWORD)
            page.fill("#confirm", PASSWORD)
            page.click("#sign-up button[type=submit]")
            page.wait_for_load_state()
            look(page, "check your mail")
            page.goto(Mailbox.link(mailbox.wait_for("li.hua@example.com"), "/register/account/verify/"))
            page.locator("#periods").wait_for(timeout=TIMEOUT)
            look(page, "verified")

            page.click("#periods a >> nth=0")
            page.click("#decline")                                        # declining stops
            page.wait_for_load_state()
            assert page.url.endswith("/register")
            page.click("#periods a >> nth=0")
            page.check("#agreed")
            look(page, "agreement")
            page.screenshot(path=str(SHOTS / f"registration-agreement-{lang}.png"), full_page=True)
            page.click("#agree")
            page.locator("#details").wait_for(timeout=TIMEOUT)

            right = ric_number()
            page.check("input[name=gender][value=male]")
            page.fill("#birth_date", "1990-01-01")
            page.fill("#phone", "13800138000")
            page.fill("#id_number", right[:-1] + ("0" if right[-1] != "0" else "1"))   # a wrong check digit
            page.click("#save-details")
            error = page.locator("#details-error")
            error.wait_for(timeout=TIMEOUT)
            assert ("校验" in error.inner_text()) if zh else ("check digit" in error.inner_text())
            expected_refusals.append("POST /details")
            look(page, "details refused")
            page.screenshot(path=str(SHOTS / f"registration-id-refused-{lang}.png"), full_page=True)
            page.fill("#id_number", right)
            page.click("#save-details")
            page.locator("#subjects, #site-form").first.wait_for(timeout=TIMEOUT)

            page.select_option("#site", label="A01 Site A")
            page.click("#show-subjects")
            for box in page.locator("#offers input[type=checkbox]").all():
                box.check()                                               # four subjects: one too many
            page.click("#save-subjects")
            page.locator("#subjects-error").wait_for(timeout=TIMEOUT)
            expected_refusals.append("POST /subjects")
            look(page, "subjects refused")
            page.locator("#offers input[type=checkbox]").nth(3).uncheck()
            page.click("#save-subjects")
            page.locator("#summary").wait_for(timeout=TIMEOUT)

            page.click("#photo-link")
            photos = samples()
            for name, (en_word, zh_word) in PHOTO_REASONS.items():
                path = tmp_path / f"{name}.jpg"                           # every file named .jpg
                path.write_bytes(photos[name])
                page.set_input_files("#photo", str(path))
                page.click("#upload-photo")
                reason = page.locator("#photo-error")
                reason.wait_for(timeout=TIMEOUT)
                text = reason.inner_text()
                assert (zh_word if zh else en_word) in text, f"{name}: {text}"
                expected_refusals.append(f"POST {name}")
            look(page, "photo refused")
            page.screenshot(path=str(SHOTS / f"registration-photo-refused-{lang}.png"), full_page=True)
            good = tmp_path / "me.jpg"
            good.write_bytes(photos["good"])
            page.set_input_files("#photo", str(good))
            page.click("#upload-photo")
            preview = page.locator("#photo-preview")
            preview.wait_for(timeout=TIMEOUT)
            page.wait_for_function("() => document.getElementById('photo-preview').naturalWidth === 330",
                                   timeout=TIMEOUT)                        # the photo itself, loaded
            look(page, "photo accepted")

            page.click("a[href$='/register/1']")
            page.check("#guarantee")
            page.click("#submit-registration")
            page.locator("#next-step").wait_for(timeout=TIMEOUT)
            state = page.locator("#reg-state").inner_text()
            assert state == ("报名已提交" if zh else "Registration submitted"), state
            summary = page.locator("#summary").inner_text()
            assert right not in summary and right[-4:] in summary              # the ID number masked
            look(page, "submitted")
            page.screenshot(path=str(SHOTS / f"registration-submitted-{lang}.png"), full_page=True)

            # the site's review: not approved with a reason, fixed, asked again, approved
            page.click("#ask-review-button")
            page.locator("#reg-state").wait_for(timeout=TIMEOUT)
            with app.app_context():
                from bridge.extensions import db
                from bridge.models.venues import Site
                site_id = db.session.query(Site.id).filter_by(code="A01").scalar()
                db.session.remove()
            admin.goto(f"{base}/site/{site_id}/registrations")
            admin.locator("#registrations tbody tr").first.wait_for(timeout=TIMEOUT)
            assert admin.locator("#registrations img").count() == 1              # the photo beside the data
            look(admin, "review queue")
            admin.screenshot(path=str(SHOTS / f"registration-review-queue-{lang}.png"), full_page=True)
            admin.click("#registrations a >> nth=0")
            admin.fill("#reason", "照片不是近期照片" if zh else "The photo is not recent")
            admin.click("#reject")
            admin.wait_for_load_state()
            page.reload()
            assert ("照片不是近期照片" if zh else "The photo is not recent") in page.locator("main").inner_text()
            look(page, "rejected")
            page.click("#photo-link")
            page.set_input_files("#photo", str(good))
            page.click("#upload-photo")
            page.locator("#photo-preview").wait_for(timeout=TIMEOUT)
            page.click("a[href$='/register/1']")
            page.check("#guarantee")
            page.click("#submit-registration")
            page.click("#ask-review-button")
            page.locator("#reg-state").wait_for(timeout=TIMEOUT)
            admin.goto(f"{base}/site/{site_id}/registrations")
            admin.locator("#registrations input[name=registration]").first.check()
            admin.click("#approve-selected")                                  # bulk approval
            admin.wait_for_load_state()
            page.reload()
            assert page.locator("#reg-state").inner_text() == ("审核通过：请在规定时间内缴费" if zh else
                                                                "Approved: pay within the window")
            assert page.locator("a[href$='/details']").count() == 0             # the data is locked now
            look(page, "approved")
            page.screenshot(path=str(SHOTS / f"registration-approved-{lang}.png"), full_page=True)

            # payment: the sandbox provider's cashier (Alipay's protocol), then back, paid
            page.click("#pay")
            page.locator("#sandbox-pay").wait_for(timeout=TIMEOUT)
            assert page.locator("#amount").inner_text() == "240.00"           # three subjects × 80
            page.click("#sandbox-pay")
            page.locator("#reg-state").wait_for(timeout=TIMEOUT)
            assert page.locator("#reg-state").inner_text() == ("已缴费" if zh else "Paid")
            assert page.locator("#pay").count() == 0
            look(page, "paid")
            page.screenshot(path=str(SHOTS / f"registration-paid-{lang}.png"), full_page=True)
            with page.expect_download() as download:                          # the registration form, PDF
                page.click("#form-pdf")
            assert download.value.path().read_bytes().startswith(b"%PDF-")
            download.value.save_as(str(SHOTS / f"registration-form-{lang}.pdf"))
            page.click("#form-print")
            page.locator("#form-facts").wait_for(timeout=TIMEOUT)
            look(page, "registration form")
            page.screenshot(path=str(SHOTS / f"registration-form-{lang}.png"), full_page=True)
            page.go_back()
            note = page.locator("#ticket-note")
            assert ("考务数据" if zh else "exam data") in note.inner_text()     # no ticket before the exam data

            _site_builds_the_exam_data(admin, base, site_id, lang, look)
            page.reload()
            with page.expect_download() as download:                          # the admission ticket, PDF
                page.click("#ticket-pdf")
            ticket = SHOTS / f"registration-ticket-{lang}.pdf"
            download.value.save_as(str(ticket))
            png, scanned = _render_and_scan(ticket, SHOTS / f"registration-ticket-{lang}.png")
            assert scanned.startswith(f"{base}/site/{site_id}/verify/"), scanned
            page.click("#ticket-print")
            page.locator(".ticket-facts").first.wait_for(timeout=TIMEOUT)
            number = page.locator(".ticket-facts .number").first.inner_text().strip()
            look(page, "admission ticket")
            assert right not in page.content() and number.startswith(str(world["year"]) + "A01R01")

            admin.goto(scanned)                                               # the staff scan the QR code
            admin.locator("#verified").wait_for(timeout=TIMEOUT)
            admin.wait_for_function("() => document.getElementById('review-photo').naturalWidth > 0",
                                    timeout=TIMEOUT)
            assert number in admin.locator(".admission-number").first.inner_text()
            look(admin, "ticket verified")
            admin.screenshot(path=str(SHOTS / f"registration-verified-{lang}.png"), full_page=True)
            admin.goto(scanned[:-4] + "xxxx")                                  # a forged code
            assert admin.locator("#verified").count() == 0
            expected_refusals.append("404 forged code")

            _the_room_opens(app, world)
            exam = watch.watch(chromium(locale="zh-CN" if zh else "en-US")).new_page()
            exam.goto(f"{base}/exam/sign-in")
            exam.fill("#admission_number", number)
            exam.fill("#id_number", ric_number("457"))                        # someone else's ID number
            exam.click("#admission-submit")
            exam.locator("#sign-in-error").wait_for(timeout=TIMEOUT)
            expected_refusals.append("404 sign-in")
            look(exam, "sign-in refused")
            exam.fill("#id_number", right)
            exam.click("#admission-submit")
            exam.get_by_role("checkbox").check()
            look(exam, "rules")
            exam.locator("#confirm-rules").click()
            exam.locator("#exam").wait_for(timeout=TIMEOUT)
            exam.locator(".item").nth(0).get_by_label("B. 4").check()
            exam.locator(".item >> nth=0 >> .save-state[data-state='saved']").wait_for(timeout=TIMEOUT)
            look(exam, "exam")
            exam.screenshot(path=str(SHOTS / f"registration-sits-{lang}.png"), full_page=True)
            exam.locator("#submit-open").click()
            exam.locator("#submit-confirm").click()
            exam.locator("#submitted").wait_for(timeout=TIMEOUT)
            exam.goto(f"{base}/register/1")            # the admission sign-in opens the exam, not the account
            assert exam.url.endswith("/register/sign-in")
        # the refusals the walk asked for are not failures: 422 pages, one per wrong input
        refused = [d for d in watch.bad_documents if d.startswith(("422 POST", "404 "))]
        assert len(refused) == len(expected_refusals), (refused, expected_refusals)
        watch.bad_documents = [d for d in watch.bad_documents if d not in refused]
        watch.assert_clean()
    finally:
        watch.stop()
        from bridge import clock
        clock.set_offset(0)


def _site_builds_the_exam_data(admin, base: str, site_id: str, lang: str, look) -> None:
    """On the site's pages: its address (printed on tickets), the subject's session placed in
    room R01, and the room's exam data built: the paid registration gets its admission number."""
    admin.goto(f"{base}/site/{site_id}")
    admin.fill("#site_address", "北京市海淀区学院路 1 号")
    with admin.expect_navigation():  # the save's redirect lands before the next page is asked for
        admin.locator("#site_address").evaluate("el => el.form.requestSubmit()")
    admin.goto(f"{base}/site/{site_id}/sessions")
    admin.select_option("#session_id", index=0)
    admin.select_option("#room_id", label="R01 一号考场")
    with admin.expect_navigation():
        admin.locator("#session_id").evaluate("el => el.form.requestSubmit()")
    admin.locator("form[action$='/build']").first.locator("xpath=..").locator("summary").click()
    with admin.expect_navigation():
        admin.locator("form[action$='/build'] button[type=submit]").first.click()
    look(admin, "exam data built")
    admin.screenshot(path=str(SHOTS / f"registration-exam-data-{lang}.png"), full_page=True)


def _render_and_scan(pdf: Path, png: Path) -> tuple[Path, str]:
    """The ticket's first page as PNG (kept as an artifact) and the text its QR code reads, as
    a phone would: OpenCV's detectors at a few resolutions (one of them may miss a given code
    at a given size, as a camera may at one distance)."""
    import cv2
    import numpy as np
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    try:
        images = {scale: document[0].render(scale=scale).to_pil().convert("RGB") for scale in (3, 4, 2)}
    finally:
        document.close()
    images[3].save(png)
    detectors = [cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()] if hasattr(cv2, "QRCodeDetectorAruco") \
        else [cv2.QRCodeDetector()]
    for image in images.values():
        pixels = cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)
        for detector in detectors:
            text = detector.detectAndDecode(pixels)[0]
            if text:
                return png, text
    raise AssertionError("no QR code could be read from the ticket")


def _the_room_opens(app, world) -> None:
    """What the site and the proctor do next (their own walks test the pages): the data
    loaded, the session authorized, the start allowed; the clock at the start."""
    from bridge import clock
    from bridge.extensions import transaction
    from bridge.models.sittings import Sitting
    from bridge.services.proctoring import console
    from bridge.services.venue import authorization, exam_data

    with app.app_context(), transaction() as s:
        sitting = s.query(Sitting).filter_by(session_id=world["session"]).one()
        exam_data.load(s, sitting.id, secret_key=app.config["SECRET_KEY"])
        authorization.authorize(s, world["session"], site_id=sitting.site_id)
        sitting_id = sitting.id

    def at(moment: dt.datetime) -> None:
        clock.set_offset(clock.offset() + (moment - clock.utcnow_naive()).total_seconds())

    at(world["starts_at"] - dt.timedelta(minutes=10))
    with app.app_context(), transaction() as s:
        console.allow_start(s, sitting_id, secret_key=app.config["SECRET_KEY"])
    at(world["starts_at"])


def _offer(s, secret: str) -> dict:
    """Site A01 with room R01 (6 seats), four subjects; Subject 1 has a paper and a session
    starting in 20 minutes."""
    from bridge import clock
    from bridge.services.exams import exam_sessions, papers
    from bridge.services.people import accounts
    from bridge.services.venue import seats, venues
    from tests.exams import factories as f

    site = venues.create_site(s, code="A01", name="Site A", actor="test")
    room, _ = venues.add_room(s, site.id, code="R01", name="一号考场", capacity=6, secret_key=secret, actor="test")
    seats.import_csv(s, room.id, "".join(f"{n},10.0.0.{n},PC{n:02d},\n" for n in range(1, 7)).encode())
    c = f.course(s)
    teacher = f.member(s, c, "teacher", "Tess")
    exams = [f.exam(s, c) for i in range(4)]
    for i, e in enumerate(exams):
        e.title = f"Subject {i + 1}"
    qs = f.questions(s, c)
    papers.set_fixed_items(s, exams[0], [(qs["single"].id, 2.0)], actor_id=teacher.id)
    papers.update_settings(s, exams[0], actor_id=teacher.id, shuffle_options=False)
    starts_at = clock.utcnow_naive().replace(microsecond=0) + dt.timedelta(minutes=20)
    sess = exam_sessions.create_session(s, exams[0], name="第一场", starts_at=starts_at, remote=False,
                                        actor_id=teacher.id)
    accounts.create_admin(s, username="root", password=PASSWORD, actor="test")
    s.commit()
    return {"session": sess.id, "starts_at": starts_at, "year": starts_at.year}
