"""``make run`` (``exambridge demo``) starts a simulated room: real agent processes that
register to the DEMO room and show up live, and stop with the demo."""
from __future__ import annotations

import os
import re
import signal
import sqlite3

import pytest

from tests.kiosk.agent_world import wait_until
from tests.test_serve import EXAMBRIDGE, Proc, clean_env

pytestmark = pytest.mark.timeout(120)


def _agents(instance) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry.name}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"kiosk_agent" in cmdline and str(instance).encode() in b" ".join(cmdline):
            pids.append(int(entry.name))
    return pids


@pytest.mark.req("K1", "K2")
def test_the_demo_runs_a_room_of_real_kiosk_agents(tmp_path):
    instance = tmp_path / "instance"
    demo = Proc([*EXAMBRIDGE, "demo", "--port", "0", "--lms-port", "0"], clean_env(instance), tmp_path, "demo")
    try:
        demo.wait_for(lambda: "Press Ctrl-C to stop." in demo.stdout, "the demo's addresses")
        line = re.search(r"Simulated room DEMO: +(\d+) kiosk agents .*enrolment code (\S+);", demo.stdout)
        assert line and int(line.group(1)) >= 2

        def online():
            with sqlite3.connect(instance / "exambridge.db") as db:
                rows = db.execute("SELECT k.status, k.last_seen_at FROM kiosks k JOIN rooms r ON r.id = k.room_id "
                                  "WHERE r.code = 'DEMO'").fetchall()
            return len(rows) == int(line.group(1)) and all(seen and status == "seated" for status, seen in rows) \
                and rows
        # the demo's auto-scan seats them in the demo site's room (no kiosk stays pending)
        wait_until(online, "the demo kiosks registered and seated", 60, every=0.5)
        assert len(_agents(instance)) == int(line.group(1))
        assert demo.stop(signal.SIGINT) == 0, demo.stderr
        wait_until(lambda: not _agents(instance), "the agents stopped with the demo", 20)
    finally:
        demo.close()
        for pid in _agents(instance):
            os.kill(pid, signal.SIGKILL)
    assert "Traceback" not in demo.stderr
