"""The environment check with a real kiosk agent process against a real bridge process
(V3): the site admin starts the check on the room's page, the hub carries the command,
the agent measures this PC and answers, and the bridge judges the answer against the
exam's requirements; a failed seat is re-tested alone."""
from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy.orm import Session

from tests.kiosk.agent_world import AgentProc, BridgeWorld, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(tmp_path):
    w = BridgeWorld(tmp_path)
    yield w
    w.close()


def page(world, path: str, data: dict | None = None) -> requests.Response:
    """The site admin's browser (a cookie jar, so the cookie survives the form's redirect)."""
    http = requests.Session()
    http.cookies.set(world.cookie_name, world.admin_cookie)
    if data is None:
        return http.get(world.bridge.url + path, timeout=30)
    return http.post(world.bridge.url + path, data={"csrf_token": world.admin_csrf, **data}, timeout=30)


@pytest.mark.req("V2", "V3", "K7")
def test_a_real_agent_answers_the_rooms_environment_check(world, tmp_path):
    from bridge.models.devices import Room
    from bridge.models.exams import Exam
    from bridge.services.venue import venues

    with Session(world.engine) as s, s.begin():
        site = venues.create_site(s, code="T01", name="测试考点", mode="mock", actor="test")
        room = s.query(Room).filter_by(code="R101").one()
        room.site_id = site.id
        room_id = room.id
        exam_id = s.query(Exam.id).first()[0]
    agent = AgentProc(world, tmp_path / "kiosk", code=world.code)
    try:
        kiosk_id = agent.wait_online()["kiosk_id"]
        base = f"/site/{site.id}/rooms/{room_id}"
        assert page(world, f"{base}/seats/scan", {"order": "address"}).status_code == 200
        wait_until(lambda: world.kiosk(kiosk_id).status == "seated", "kiosk seated")
        # the exam needs a program this PC does not have: the seat fails on that alone
        saved = page(world, f"{base}/envcheck/requirements", {
            "exam_id": exam_id, "min_cores": 1, "min_memory_mb": 256, "min_disk_mb": 1, "min_width": 800,
            "min_height": 600, "min_browser_major": 0, "max_latency_ms": 5000, "browser": "",
            "required_software": "sh\nno-such-exam-program"})
        assert saved.status_code == 200, saved.text
        assert page(world, f"{base}/envcheck", {"exam_id": exam_id, "scope": "all"}).status_code == 200

        def answered():
            text = page(world, f"{base}/envcheck").text
            return text if 'id="env-waiting">0<' in text else None
        text = wait_until(answered, "the agent's answer", 60)
        assert 'id="env-failed">1<' in text and 'data-state="failed"' in text
        assert "no-such-exam-program ✗" in text
        # the exam's list is fixed; the failed seat alone is checked again
        page(world, f"{base}/envcheck/requirements", {
            "exam_id": exam_id, "min_cores": 1, "min_memory_mb": 256, "min_disk_mb": 1, "min_width": 800,
            "min_height": 600, "min_browser_major": 0, "max_latency_ms": 5000, "browser": "", "required_software": "sh"})
        retest = page(world, f"{base}/envcheck", {"exam_id": exam_id, "scope": "failed"})
        assert retest.status_code == 200
        text = wait_until(answered, "the agent's answer to the re-test", 60)
        assert 'id="env-passed">1<' in text and 'id="env-failed">0<' in text
        report = page(world, f"{base}/envcheck/report.html").text
        assert re.search(r'data-seat="1" data-state="passed"', report)
        # the agent's own report too: a message of its own, which may land after the command's result
        wait_until(lambda: [x["found"] for x in world.kiosk(kiosk_id).env_check["software"]] == [True],
                   "the agent's report of the re-test", 60)
        # V2: the seat number shown on the PC, through the hub
        assert page(world, f"{base}/seats/display", {"action": "show"}).status_code == 200
        from bridge.models.devices import KioskCommand
        with Session(world.engine) as s:
            command_id = s.query(KioskCommand.id).filter_by(kiosk_id=kiosk_id, name="show_seat").one()[0]
        shown = world.wait_command(command_id)
        assert shown.status == "done" and shown.result == {"seat": 1}
    finally:
        agent.stop()
