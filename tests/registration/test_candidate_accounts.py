"""A public candidate's account over real HTTP and real SMTP: sign up, the verification link
by mail, registration closed until the email is verified, sign in (slowed after failures),
and a password reset link that works once and names no account that does not exist."""
from __future__ import annotations

import pytest

from tests.fixtures.mail import Mailbox
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser

pytestmark = pytest.mark.req("R1")
PASSWORD = "a long enough secret"


def _sign_up(b, base, email="li.hua@example.com"):
    return b.post(f"{base}/register/account/new", data={"name": "Li Hua", "email": email,
                                                         "password": PASSWORD, "confirm": PASSWORD})


def test_sign_up_mails_a_verification_link_that_opens_registration(mail_app, mailbox):
    with serve_wsgi(mail_app) as srv:
        b = Browser()
        page = _sign_up(b, srv.url)
        assert page.status_code == 200 and "li.hua@example.com" in page.text
        assert _sign_up(Browser(), srv.url).status_code == 409                   # the same email again
        message = mailbox.wait_for("li.hua@example.com")
        assert message["From"] == "Exams <exams@example.org>"
        signed_in = b.post(f"{srv.url}/register/sign-in", data={"email": "li.hua@example.com", "password": PASSWORD})
        assert "Confirm your email first" in signed_in.text                       # not verified yet
        welcome = b.get(Mailbox.link(message, "/register/account/verify/"))
        assert welcome.status_code == 200 and "Your email is confirmed" in welcome.text
        assert "Confirm your email first" not in b.get(f"{srv.url}/register").text
        assert "not valid" in Browser().get(f"{srv.url}/register/account/verify/forged-token").text



def test_sign_up_refuses_what_it_cannot_use_with_the_reason(mail_app, mailbox):
    with serve_wsgi(mail_app) as srv:
        b = Browser()
        short = b.post(f"{srv.url}/register/account/new", data={"name": "Li", "email": "li@example.com",
                                                                 "password": "short", "confirm": "short"})
        assert short.status_code == 422 and "at least 10 characters" in short.text
        differ = b.post(f"{srv.url}/register/account/new", data={"name": "Li", "email": "li@example.com",
                                                                  "password": PASSWORD, "confirm": PASSWORD + "x"})
        assert differ.status_code == 422 and "differ" in differ.text
        bad = b.post(f"{srv.url}/register/account/new", data={"name": "Li", "email": "not-an-email",
                                                               "password": PASSWORD, "confirm": PASSWORD})
        assert bad.status_code == 422 and "name@example.com" in bad.text
    assert mailbox.messages == []


def test_sign_in_is_slowed_after_failures_and_a_reset_link_works_once(mail_app, mailbox):
    with serve_wsgi(mail_app) as srv:
        _sign_up(Browser(), srv.url)
        mailbox.wait_for("li.hua@example.com")
        b = Browser()
        wrong = [b.post(f"{srv.url}/register/sign-in", data={"email": "li.hua@example.com", "password": "nope"})
                 .status_code for _ in range(5)]
        assert wrong == [401] * 5
        slowed = b.post(f"{srv.url}/register/sign-in", data={"email": "li.hua@example.com", "password": PASSWORD})
        assert slowed.status_code == 429 and "Try again in" in slowed.text
        asked = b.post(f"{srv.url}/register/account/reset", data={"email": "li.hua@example.com"})
        nobody = b.post(f"{srv.url}/register/account/reset", data={"email": "nobody@example.com"})
        assert "If an account uses that email" in asked.text and "If an account uses that email" in nobody.text
        link = Mailbox.link(mailbox.wait_for("li.hua@example.com", count=2), "/register/account/reset/")
        changed = Browser().post(link, data={"password": "a brand new secret", "confirm": "a brand new secret"})
        assert "Your password is changed" in changed.text
        again = Browser().post(link, data={"password": "yet another secret", "confirm": "yet another secret"})
        assert again.status_code == 422 and "used already" in again.text
    assert mailbox.to("nobody@example.com") == []
