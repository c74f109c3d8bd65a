"""The local endpoint for the exam page (docs/protocol.md, "The local endpoint").

A ``ThreadingHTTPServer`` on 127.0.0.1 only. It answers only requests whose ``Origin`` is
the bridge's origin (CORS for that origin, ``Access-Control-Allow-Private-Network`` on
preflight); other origins get 403 without CORS headers. Every request but ``GET /v1/hello``
carries the per-start token in ``X-Kiosk-Token``.

An ``Origin`` header binds nothing for a local program that is not a browser: it can send
any. So with ``clients="started"`` (the default of the lockdown backends that start the
browser) every connection must also come from the candidate client the agent started or one
of its child processes, as the kernel reports the socket's owner (``kiosk_agent.peers``,
Linux); any other local process gets 403 ``peer`` and never sees the token. With
``clients="any"`` (the ``monitor`` backend, which enforces nothing) the Origin and Host
checks are all. The work itself is the agent's (``core``):

- ``core.local_hello() -> dict``
- ``core.local_events(body: dict) -> dict`` (journals with fsync before returning)
- ``core.local_attempt(attempt_id: int) -> dict``
- ``core.local_client_pid() -> int | None`` (the candidate client's pid, for ``clients="started"``)

They raise ``LocalError(status, code, message)`` for anything the page must fix.
"""
from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kiosk_agent import peers
from kiosk_agent.errors import AgentError

log = logging.getLogger(__name__)
MAX_BODY = 2 << 20
_ATTEMPT_RE = re.compile(r"^/v1/attempts/(\d{1,18})$")


class LocalError(AgentError):
    """A request the page must fix (or a state it must show): HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    server_version = "exambridge-kiosk"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # --- plumbing --------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # quiet: one line per request at debug level
        log.debug("local %s - " + fmt, self.address_string(), *args)

    @property
    def endpoint(self) -> "LocalEndpoint":
        return self.server.endpoint  # type: ignore[attr-defined]

    def _origin_ok(self) -> bool:
        # the Host check keeps a DNS-rebound name from reaching the agent as a "same-origin" page
        host = self.headers.get("Host", "")
        return self.headers.get("Origin") == self.endpoint.origin and host in self.endpoint.hosts

    def _peer_ok(self) -> bool:
        """With clients="started": this connection belongs to the candidate client the agent
        started (checked once per connection)."""
        if self.endpoint.clients != "started":
            return True
        if getattr(self, "_peer_verdict", None) is None:
            pid = self.endpoint.core.local_client_pid()
            self._peer_verdict = peers.connection_in_tree(self.client_address[1], self.endpoint.port, pid)
            if not self._peer_verdict:
                log.warning("local endpoint: refused a connection from a process that is not the candidate client "
                            "(client pid %s)", pid)
        return self._peer_verdict

    def _allowed(self) -> bool:
        if not self._origin_ok():
            self._error(403, "origin", "Only the exam pages of this kiosk's bridge may use the kiosk agent.",
                        cors=False)
            return False
        if not self._peer_ok():
            self._error(403, "peer", "Only the exam browser this kiosk agent started may use it.", cors=False)
            return False
        return True

    def _send(self, status: int, body: dict | None, *, cors: bool = True, extra: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        if cors:
            self.send_header("Access-Control-Allow-Origin", self.endpoint.origin)
            self.send_header("Vary", "Origin")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, *, cors: bool = True) -> None:
        self._send(status, {"error": code, "message": message}, cors=cors)

    def _guard(self, *, token: bool) -> bool:
        if not self._allowed():
            return False
        if token and not hmac.compare_digest(self.headers.get("X-Kiosk-Token", ""), self.endpoint.token):
            self._error(401, "token", "Missing or stale X-Kiosk-Token: call GET /v1/hello again and use its token.")
            return False
        return True

    def _run(self, fn, *args) -> None:
        try:
            self._send(200, fn(*args))
        except LocalError as exc:
            self._error(exc.status, exc.code, exc.message)
        except Exception:  # never a traceback to the page
            log.exception("local endpoint: %s %s failed", self.command, self.path)
            self._error(500, "agent_error", "The kiosk agent failed on this request; it has logged why. Try again.")

    # --- methods ---------------------------------------------------------------------------
    def do_OPTIONS(self):  # noqa: N802 - http.server's naming
        if not self._allowed():
            return
        self._send(204, None, extra={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, X-Kiosk-Token",
            "Access-Control-Allow-Private-Network": "true",
            "Access-Control-Max-Age": "600"})

    def do_GET(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/v1/hello":
            if self._guard(token=False):
                self._run(lambda: {**self.endpoint.core.local_hello(), "token": self.endpoint.token})
            return
        match = _ATTEMPT_RE.match(path)
        if match:
            if self._guard(token=True):
                self._run(self.endpoint.core.local_attempt, int(match.group(1)))
            return
        self._error(404, "not_found", f"No such kiosk agent path: {path}", cors=self._origin_ok())

    def do_POST(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path != "/v1/events":
            self._error(404, "not_found", f"No such kiosk agent path: {path}", cors=self._origin_ok())
            return
        if not self._guard(token=True):
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._error(413 if length > MAX_BODY else 400, "body",
                        "Send a JSON body of at most 2 MiB with Content-Length.")
            return
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._error(400, "json", "The body is not JSON.")
            return
        if not isinstance(body, dict):
            self._error(400, "json", "The body must be a JSON object {attempt_id, token, events}.")
            return
        self._run(self.endpoint.core.local_events, body)


class LocalEndpoint:
    """Serves on 127.0.0.1:``port`` (0: any free port) in a daemon thread. ``clients``:
    ``"any"`` (Origin and Host checks only) or ``"started"`` (also the connection's process
    must be the candidate client the agent started, or a child of it; Linux only)."""

    def __init__(self, core, origin: str, port: int, clients: str = "any"):
        if clients not in ("any", "started"):
            raise ValueError(f"clients must be 'any' or 'started', not {clients!r}")
        if clients == "started" and not peers.supported():
            raise AgentError("--local-clients started needs Linux (/proc/net/tcp) to see which process connects")
        self.core, self.origin, self.clients = core, origin, clients
        self.token = secrets.token_urlsafe(24)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.endpoint = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="local-endpoint", daemon=True)

    def start(self) -> "LocalEndpoint":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
