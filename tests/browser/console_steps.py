"""Steps the console's browser tests share: signing in and entering the session."""
from __future__ import annotations

PASSWORD = "correct horse battery"


def make_admin(app) -> None:
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("#username", "site")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/platforms")


def enter_session(page, base: str, sitting_id: int) -> None:
    """Open the sitting's console in Chinese and say who runs the room."""
    page.goto(f"{base}/console/{sitting_id}")
    page.click("header button:text('中文')")
    page.wait_for_selector("h1:text('进入场次')")
    page.fill("#admin_name", "王管理")
    page.fill("#admin_phone", "13800000000")
    page.fill("#proctor_name0", "李监考")
    page.fill("#proctor_phone0", "13900000000")
    page.click("main button[type=submit]")
    page.wait_for_selector("#live-status.ok")
