"""The environment check (K7, V3): every item with a value or null and a reason, pass/fail,
latency measured against a real HTTP server, and the CLI prints it as JSON."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kiosk_agent.envcheck import run_check


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def bridge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.req("K7")
def test_check_reports_every_item(tmp_path, bridge, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    result = run_check(data_dir=tmp_path, bridge=bridge, required=("sh", "no-such-program-xyz"))
    assert result["cpu"]["cores"] == os.cpu_count()
    assert result["memory"]["total_mb"] > 0
    assert result["disk"]["free_mb"] > 0
    assert result["screen"]["width"] is None and "DISPLAY" in result["screen"]["reason"]
    assert result["latency"]["median_ms"] is not None and len(result["latency"]["samples_ms"]) == 3
    assert result["software"] == [{"name": "sh", "found": True, "path": shutil.which("sh")},
                                  {"name": "no-such-program-xyz", "found": False, "path": None}]
    assert result["checks"]["software"] is False and "software" in result["failed"]
    assert "screen" in result["unknown"] and result["passed"] is False
    json.dumps(result)


@pytest.mark.req("K7")
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_browser_is_found_with_its_version(tmp_path):
    result = run_check(data_dir=tmp_path, lockdown="linux-chromium")
    assert result["browser"]["name"] == "chromium" and result["browser"]["version"].startswith("Chromium")


@pytest.mark.req("K7")
def test_unreachable_bridge_gives_null_latency_with_a_reason(tmp_path):
    result = run_check(data_dir=tmp_path, bridge="http://127.0.0.1:9")
    assert result["latency"]["median_ms"] is None and "unreachable" in result["latency"]["reason"]
    assert "latency" in result["unknown"]


@pytest.mark.req("K7")
def test_cli_check_prints_json(tmp_path, bridge):
    out = subprocess.run([sys.executable, "-m", "kiosk_agent", "check", "--bridge", bridge, "--data-dir",
                          str(tmp_path), "--require", "sh"], capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout)
    assert out.returncode == (0 if result["passed"] else 1)
    assert result["software"][0]["found"] is True and result["latency"]["median_ms"] is not None
