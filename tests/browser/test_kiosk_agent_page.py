"""The exam page with the kiosk agent, in Debian's chromium (issue 4, items 3 and 4): the page
finds the agent on 127.0.0.1, every answer is journaled on the PC ("saved on this PC") and
reaches the server through the agent ("saved"); with the agent's network cut the page keeps
working and says so, and catches up when it is back; the console's show_seat and lock reach
the page; submit still works. The agent is a real process, between it and the live bridge a
TCP proxy the test cuts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from tests.browser.test_sit_exam import _prepare
from tests.fixtures.world import STUDENT1
from tests.kiosk.agent_world import Proxy, wait_until

pytestmark = pytest.mark.timeout(240)
TIMEOUT = 45_000


@pytest.fixture
def kiosk(lms_world, tmp_path):
    """A room, and a registered agent reaching the bridge through a proxy."""
    from bridge.extensions import transaction
    from bridge.services.kiosks import devices

    app = lms_world.app
    with app.app_context(), transaction() as s:
        _, code = devices.create_room(s, code="R101", name="Room 101", secret_key=app.config["SECRET_KEY"])
    proxy = Proxy(int(lms_world.bridge.rsplit(":", 1)[1]))
    data = tmp_path / "kiosk"
    log = open(tmp_path / "agent.log", "ab")
    env = dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID="browser-machine")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk_agent", "run", "--bridge", proxy.url,
                             "--page-origin", lms_world.bridge, "--room", "R101", "--data-dir", str(data),
                             "--local-port", "0", "--code", code, "--max-backoff", "1"],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)

    def state():
        try:
            return json.loads((data / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}
    wait_until(lambda: state().get("online") and state().get("local_port"), "agent online", 30)
    app.config["KIOSK_AGENT_URL"] = f"http://127.0.0.1:{state()['local_port']}"
    yield {"proxy": proxy, "state": state, "data": data, "proc": proc}
    proc.terminate()
    proc.wait(15)
    log.close()
    proxy.close()
    app.config.pop("KIOSK_AGENT_URL", None)


@pytest.mark.req("K4", "K6", "C5")
def test_the_exam_page_saves_through_the_agent_and_survives_a_network_cut(lms_world, chromium, kiosk):
    from bridge.hub import issue_commands
    from bridge.models.attempts import AnswerEvent
    from kiosk_agent.journal import Journal

    activity, exam_id = _prepare(lms_world)
    page = chromium().new_page()
    page.goto(lms_world.lms.state.launch_url(STUDENT1, activity.id))
    page.get_by_text("Hello, Sam Student").wait_for(timeout=TIMEOUT)
    page.goto(f"{lms_world.bridge}/exam/{exam_id}/sit")
    page.get_by_role("checkbox").check()
    page.locator("#confirm-rules").click()
    page.locator("#exam").wait_for(timeout=TIMEOUT)                        # started already: the page goes in
    attempt_id = int(page.locator("#exam").get_attribute("data-attempt"))
    items = page.locator(".item")

    items.nth(0).get_by_label("B. 4").check()
    items.nth(0).locator(".save-state[data-state='saved']").wait_for(timeout=TIMEOUT)
    journal = Journal(kiosk["data"] / "journal")
    (writer, seq), = journal.high_water(attempt_id).items()
    assert writer.startswith("tab-") and seq >= 1              # the answer went through the agent's journal

    kiosk["proxy"].cut()                                        # the PC loses the network
    wait_until(lambda: not kiosk["state"]().get("online"), "agent offline")
    items.nth(2).get_by_label("True").check()
    items.nth(2).locator(".save-state[data-state='local']").wait_for(timeout=TIMEOUT)
    page.locator("#kiosk-offline").wait_for(state="visible", timeout=TIMEOUT)
    items.nth(4).locator(".essay").fill("Written while the network was down.")
    items.nth(4).locator(".save-state[data-state='local']").wait_for(timeout=TIMEOUT)

    kiosk["proxy"].restore()                                    # back: the agent uploads what the server lacks
    items.nth(2).locator(".save-state[data-state='saved']").wait_for(timeout=30_000)
    items.nth(4).locator(".save-state[data-state='saved']").wait_for(timeout=TIMEOUT)
    page.locator("#kiosk-offline").wait_for(state="hidden", timeout=TIMEOUT)
    with lms_world.app.app_context():
        from bridge.extensions import db
        db.session.rollback()
        rows = db.session.execute(select(AnswerEvent.writer, AnswerEvent.seq)
                                  .where(AnswerEvent.attempt_id == attempt_id)).all()
        db.session.remove()
    top = Journal(kiosk["data"] / "journal").high_water(attempt_id)[writer]  # a fresh reader: no cache
    assert top >= 3 and sorted(r.seq for r in rows if r.writer == writer) == list(range(1, top + 1))

    kiosk_id = kiosk["state"]()["kiosk_id"]
    issue_commands(lms_world.app, [kiosk_id], "show_seat", {"seat": 7}, issued_by="test")
    page.locator("#kiosk-seat").get_by_text("Seat 7").wait_for(timeout=TIMEOUT)
    issue_commands(lms_world.app, [kiosk_id], "lock", {"message": "Raise your hand"}, issued_by="test")
    page.locator("#kiosk-lock").get_by_text("Raise your hand").wait_for(timeout=TIMEOUT)
    issue_commands(lms_world.app, [kiosk_id], "unlock", {}, issued_by="test")
    page.locator("#kiosk-lock").wait_for(state="hidden", timeout=TIMEOUT)

    page.locator("#submit-open").click()
    page.locator("#submit-confirm").click()
    page.locator("#submitted").wait_for(timeout=TIMEOUT)
