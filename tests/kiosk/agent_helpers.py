"""Helpers for the agent's unit tests: a configured agent (not connected) on a temp dir, and
plain HTTP calls to its local endpoint."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from kiosk_agent.agent import Agent
from kiosk_agent.config import AgentConfig
from kiosk_agent.identity import load_or_create
from kiosk_agent.journal import Journal
from kiosk_agent.local_endpoint import LocalEndpoint
from kiosk_agent.lockdown import make_lockdown

BRIDGE = "http://127.0.0.1:8090"
ORIGIN = "http://127.0.0.1:8090"
SLEEPER = (sys.executable, "-c", "import sys, time; time.sleep(600)", "{url}")


def make_agent(tmp_path: Path, journal: Journal | None = None, **options) -> Agent:
    options.setdefault("local_port", 0)
    config = AgentConfig.build(bridge=BRIDGE, room="R101", data_dir=tmp_path / "data", **options)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    identity = load_or_create(config.data_dir)
    return Agent(config, identity, journal or Journal(config.data_dir / "journal"), make_lockdown(config))


def call(url: str, method: str = "GET", body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, dict(exc.headers), (json.loads(raw) if raw else None)


class Local:
    """The agent's local endpoint, served for real on 127.0.0.1:0."""

    def __init__(self, agent: Agent, clients: str = "any"):
        self.agent = agent
        self.endpoint = LocalEndpoint(agent, agent.config.origin, 0, clients).start()
        self.url = f"http://127.0.0.1:{self.endpoint.port}"

    def get(self, path, origin=ORIGIN, token=True):
        headers = {"Origin": origin} if origin else {}
        if token:
            headers["X-Kiosk-Token"] = self.endpoint.token
        return call(self.url + path, headers=headers)

    def post(self, path, body, origin=ORIGIN, token=True):
        headers = {"Origin": origin} if origin else {}
        if token:
            headers["X-Kiosk-Token"] = self.endpoint.token
        return call(self.url + path, "POST", body, headers)

    def close(self):
        self.endpoint.stop()


def event(seq, question_id=1, writer="tab-a", value="A"):
    return {"writer": writer, "seq": seq, "question_id": question_id, "response": {"choice": value},
            "client_time": 1795305963.0 + seq, "epoch": 1}
