"""Lockdown backends (K3): the Chromium policy and command line, the Edge policy file and
its honest refusal off Windows, and the forbidden-process watcher against a real process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from kiosk_agent.config import AgentConfig
from kiosk_agent.errors import LockdownError
from kiosk_agent.lockdown import linux_chromium, make_lockdown
from kiosk_agent.lockdown.base import Lockdown, wait_for_exit
from kiosk_agent.lockdown.procwatch import ProcessWatcher
from kiosk_agent.lockdown.windows_edge import reg_file


def config(tmp_path, **options):
    options.setdefault("local_port", 47610)
    return AgentConfig.build(bridge="https://exams.example.edu", room="R101", data_dir=tmp_path, **options)


@pytest.mark.req("K3")
def test_chromium_policy_blocks_devtools_downloads_printing_and_other_sites(tmp_path):
    lockdown = make_lockdown(config(tmp_path, lockdown="linux-chromium", lms_origins=("https://moodle.example.edu",)))
    policy = lockdown.policy()
    assert policy["DeveloperToolsAvailability"] == 2
    assert policy["DownloadRestrictions"] == 3
    assert policy["PrintingEnabled"] is False
    assert policy["URLBlocklist"] == ["*"]
    assert policy["URLAllowlist"] == ["https://exams.example.edu", "https://moodle.example.edu",
                                      "http://127.0.0.1:47610"]
    assert policy["LocalNetworkAccessAllowedForUrls"] == ["https://exams.example.edu"]
    assert policy["IncognitoModeAvailability"] == 1


@pytest.mark.req("K3")
def test_chromium_policy_is_installed_where_writable_and_failure_is_reported(tmp_path, monkeypatch):
    writable = tmp_path / "etc" / "chromium" / "policies" / "managed"
    blocked = tmp_path / "ro"
    blocked.mkdir()
    (blocked / "x").write_text("a file where a directory should be")
    monkeypatch.setattr(linux_chromium, "POLICY_DIRS", (writable, blocked / "x" / "managed"))
    lockdown = make_lockdown(config(tmp_path / "data", lockdown="linux-chromium"))
    (tmp_path / "data").mkdir()
    failures = lockdown.prepare()
    installed = json.loads((writable / "exambridge-kiosk.json").read_text())
    assert installed == lockdown.policy()
    assert json.loads((tmp_path / "data" / "exambridge-kiosk.json").read_text()) == installed
    assert len(failures) == 1 and "NOT blocked" in failures[0]["message"]


@pytest.mark.req("K3")
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_chromium_command_line_is_kiosk_mode_with_a_dedicated_profile(tmp_path):
    lockdown = make_lockdown(config(tmp_path, lockdown="linux-chromium"))
    argv = lockdown.client_argv("https://exams.example.edu/exam/1")
    assert argv[0] == shutil.which("chromium")
    assert "--kiosk" in argv and f"--user-data-dir={tmp_path / 'chromium-profile'}" in argv
    assert "--no-first-run" in argv and argv[-1] == "https://exams.example.edu/exam/1"
    assert lockdown.browser_version().startswith("Chromium")


@pytest.mark.req("K3")
def test_cage_wraps_chromium_or_says_it_is_missing(tmp_path):
    lockdown = make_lockdown(config(tmp_path, lockdown="linux-chromium", use_cage=True, browser=sys.executable))
    if shutil.which("cage"):
        argv = lockdown.client_argv("https://exams.example.edu/")
        assert argv[:3] == [shutil.which("cage"), "-d", "--"]
    else:
        with pytest.raises(LockdownError, match="cage is not installed"):
            lockdown.client_argv("https://exams.example.edu/")


@pytest.mark.req("K3")
def test_missing_browser_is_a_clear_error(tmp_path):
    lockdown = make_lockdown(config(tmp_path, lockdown="linux-chromium", browser="/nonexistent/chromium"))
    with pytest.raises(LockdownError, match="not installed"):
        lockdown.start_client("https://exams.example.edu/")


@pytest.mark.req("K3")
def test_windows_edge_is_honest_off_windows(tmp_path):
    lockdown = make_lockdown(config(tmp_path, lockdown="windows-edge"))
    argv = lockdown.client_argv("https://exams.example.edu/")
    assert "--kiosk" in argv and "--edge-kiosk-type=fullscreen" in argv and "https://exams.example.edu/" in argv
    if sys.platform != "win32":
        failures = lockdown.prepare()
        assert failures and "runs only on Windows" in failures[0]["message"]
        with pytest.raises(LockdownError, match="only on Windows"):
            lockdown.start_client("https://exams.example.edu/")
    text = (tmp_path / "edge-policy.reg").read_text(encoding="utf-16")
    assert r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Edge]" in text
    assert '"DeveloperToolsAvailability"=dword:00000002' in text
    assert '"PrintingEnabled"=dword:00000000' in text
    assert '"1"="*"' in text.split("URLBlocklist]")[1]


@pytest.mark.req("K3")
def test_reg_file_lists_become_numbered_values():
    text = reg_file({"URLAllowlist": ["https://a", "https://b"], "DownloadRestrictions": 3})
    assert '"DownloadRestrictions"=dword:00000003' in text
    assert '"1"="https://a"\r\n"2"="https://b"' in text


def _wait_exec(pid: int, comm: str) -> None:
    """Until the child has exec'd (before that, /proc shows the parent's name)."""
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if open(f"/proc/{pid}/comm").read().strip() == comm:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never became {comm}")


@pytest.fixture
def forbidden_process(tmp_path):
    """A real process whose name is on the forbidden list (a copy of sleep named anydesk)."""
    exe = tmp_path / "AnyDesk"
    shutil.copy(shutil.which("sleep"), exe)
    proc = subprocess.Popen([str(exe), "60"])
    _wait_exec(proc.pid, "AnyDesk")
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.req("K3")
def test_the_watcher_reports_a_forbidden_process_once(forbidden_process):
    watcher = ProcessWatcher(["anydesk.exe", "teamviewer"])
    found = watcher.scan()
    assert [(f["name"], f["pid"]) for f in found] == [("anydesk", forbidden_process.pid)]
    assert watcher.scan() == []  # the same process is not reported twice
    forbidden_process.kill()
    forbidden_process.wait()
    assert watcher.scan() == []


@pytest.mark.req("K3")
def test_monitor_poll_turns_it_into_a_report(tmp_path, forbidden_process):
    lockdown = make_lockdown(config(tmp_path, forbidden=("anydesk",)))
    reports = lockdown.poll()
    assert ("forbidden_process", forbidden_process.pid) in [(k, d["pid"]) for k, d in reports]


@pytest.mark.req("K3")
def test_long_names_are_matched_past_the_15_character_comm(tmp_path):
    exe = tmp_path / "screenrecorderpro"
    shutil.copy(shutil.which("sleep"), exe)
    proc = subprocess.Popen([str(exe), "60"])
    _wait_exec(proc.pid, "screenrecorderpro"[:15])
    try:
        found = ProcessWatcher(["screenrecorderpro"]).scan()
        assert [f["pid"] for f in found] == [proc.pid]
    finally:
        proc.kill()
        proc.wait()


class _Focus(Lockdown):
    """Focus tracking is pure logic over focused_pid(); the real sources (xprop, Win32) are
    not available in this container."""
    name = "focus-test"
    focused = None

    def focused_pid(self):
        return self.focused


@pytest.mark.req("K3")
def test_focus_loss_is_reported_once_per_loss(tmp_path):
    lockdown = _Focus(config(tmp_path, client_cmd=(sys.executable, "-c", "import time; time.sleep(60)"),
                             forbidden=()))
    pid = lockdown.start_client("https://exams.example.edu/")["pid"]
    try:
        lockdown.focused = pid
        assert lockdown.poll() == [] and lockdown.focus() is True
        lockdown.focused = os.getpid()
        assert [k for k, _ in lockdown.poll()] == ["focus_lost"]
        assert lockdown.poll() == []
        lockdown.focused = pid
        assert lockdown.poll() == []
    finally:
        lockdown.close_client()
    assert wait_for_exit(pid, 5)
    assert lockdown.focus() is None  # no client: focus is not judged


@pytest.mark.req("K3")
def test_a_client_that_exits_by_itself_is_reported(tmp_path):
    lockdown = make_lockdown(config(tmp_path, client_cmd=(sys.executable, "-c", "raise SystemExit(3)"), forbidden=()))
    lockdown.start_client("https://exams.example.edu/")
    lockdown._client.wait(10)
    (report,) = lockdown.poll()
    assert report[0] == "lockdown_failed" and report[1]["returncode"] == 3 and report[1]["step"] == "client_exited"
    assert lockdown.poll() == [] and not lockdown.client_running()
    # closing on purpose is not reported
    lockdown = make_lockdown(config(tmp_path, client_cmd=(sys.executable, "-c", "import time; time.sleep(60)"),
                                    forbidden=()))
    lockdown.start_client("https://exams.example.edu/")
    lockdown.close_client()
    assert lockdown.poll() == []


@pytest.mark.req("K3")
def test_the_page_origin_rules_when_the_agent_reaches_the_bridge_elsewhere(tmp_path):
    cfg = AgentConfig.build(bridge="https://10.0.0.5:8443", room="R101", data_dir=tmp_path,
                            page_origin="https://exams.example.edu/exam/1", lockdown="linux-chromium")
    assert cfg.origin == "https://exams.example.edu" and cfg.ws_url == "wss://10.0.0.5:8443/ws/kiosk"
    policy = make_lockdown(cfg).policy()
    assert policy["LocalNetworkAccessAllowedForUrls"] == ["https://exams.example.edu"]
    assert policy["URLAllowlist"][0] == "https://exams.example.edu"
