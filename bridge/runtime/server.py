"""gevent WSGI server with TCP_NODELAY, for ``exambridge serve`` and the demo."""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 8192


def listen(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY: without it, gevent's server adds ~40 ms (Nagle +
    delayed ACK) to keep-alive responses. Port 0 picks a free port."""
    from gevent import socket as gsocket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    # A restarted bridge gets every kiosk's reconnect within a second or two: a short accept
    # queue drops their SYNs and TCP retries only after 1, 3, 7 s (the kernel caps this at
    # net.core.somaxconn; docs/operations.md).
    sock.listen(LISTEN_BACKLOG)
    return sock


MAX_HEADER_LINE = 65536  # http.client's limits, which gevent's own parser applies
MAX_HEADERS = 100


class RequestHeaders:
    """A request's headers as gevent's ``WSGIHandler`` reads them (``get``, ``del``,
    ``headers``, ``typeheader``, ``getheader``, ``status``), parsed without the ``email``
    package: at a thousand autosaves a second that parser was about a tenth of the loop's
    time. Lookups are case-insensitive and return the first value, as ``email`` does;
    ``status`` is non-empty for a request to refuse (gevent answers 400)."""

    __slots__ = ("_items", "_first", "status")

    def __init__(self, items: list[tuple[str, str]], status: str = ""):
        self._items = items
        self._first: dict[str, str] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)
        self.status = status

    def get(self, name: str, default=None):
        return self._first.get(name.lower(), default)

    getheader = get

    def __delitem__(self, name: str) -> None:
        lower = name.lower()
        if lower not in self._first:
            raise KeyError(name)
        del self._first[lower]
        self._items = [(n, v) for n, v in self._items if n.lower() != lower]

    @property
    def headers(self):
        for name, value in self._items:
            yield f"{name}: {value}\r\n"

    @property
    def typeheader(self):
        return self._first.get("content-type")


def read_headers(rfile) -> RequestHeaders:
    """The header block up to the empty line; a folded line continues the previous value."""
    items: list[tuple[str, str]] = []
    for _ in range(MAX_HEADERS + 1):
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            return RequestHeaders([], "Line too long")
        if line in (b"\r\n", b"\n", b""):
            return RequestHeaders(items)
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if not items:
                return RequestHeaders([], "Invalid header line")
            name, value = items[-1]
            items[-1] = (name, f"{value} {text.strip()}".strip())
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            return RequestHeaders([], "Invalid header line")
        items.append((name, value.strip()))
    return RequestHeaders([], "Too many headers")


# --- deadlines and caps for connections that have not shown who they are yet ------------
@dataclass(frozen=True)
class ConnectionPolicy:
    """How long a connection may take to say what it wants, and how many may be at it.

    gevent's server has no read timeout and no per-address cap (a ``Pool(size)`` caps every
    connection, kiosks included, and silently stops accepting), so these are ours
    (docs/architecture.md, "Connections that cannot be held hostage"). Deadlines are
    absolute: a trickled byte never extends them."""

    header_seconds: float = 10.0  # accept (or a keep-alive request's first byte) → end of its headers
    keepalive_seconds: float = 75.0  # an idle keep-alive connection waits this long for its next request
    handshake_seconds: float = 30.0  # a kiosk socket: the 101 → the kiosk's proven key (routes: 30 s at most)
    per_address: int = 64  # pending connections per client address (0: no cap)
    total: int = 4096  # pending connections in all (0: no cap)
    exempt: frozenset = frozenset({"127.0.0.1", "::1"})  # no per-address cap: a reverse proxy on this host
    behind_proxy: bool = False  # EXAMBRIDGE_PROXY_HOPS > 0: every socket's peer is the proxy (no cap by it)
    log_every: float = 60.0  # one log line per address and kind in this period

    @classmethod
    def from_config(cls, config) -> "ConnectionPolicy":
        config = config or {}
        default = cls()

        def get(name: str, fallback):
            value = config.get(f"EXAMBRIDGE_{name}")
            return fallback if value is None else value

        exempt = get("PENDING_EXEMPT_ADDRESSES", None)
        return cls(header_seconds=float(get("HEADER_TIMEOUT_SECONDS", default.header_seconds)),
                   keepalive_seconds=float(get("KEEPALIVE_TIMEOUT_SECONDS", default.keepalive_seconds)),
                   handshake_seconds=float(get("KIOSK_HANDSHAKE_SECONDS", default.handshake_seconds)),
                   per_address=int(get("PENDING_PER_ADDRESS", default.per_address)),
                   total=int(get("PENDING_MAX", default.total)),
                   exempt=default.exempt if exempt is None else parse_addresses(exempt),
                   behind_proxy=int(get("PROXY_HOPS", 0) or 0) > 0)


def parse_addresses(value) -> frozenset:
    """``"127.0.0.1 ::1"`` or ``"a,b"`` (or a TOML list) → the set of addresses."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(str(v).strip() for v in value if str(v).strip())
    return frozenset(part for part in str(value).replace(",", " ").split() if part)


class OncePerPeriod:
    """A log line per key at most once per ``seconds``; what was held back is counted and
    named in the next line."""

    def __init__(self, seconds: float, max_keys: int = 10_000) -> None:
        self.seconds, self.max_keys = seconds, max_keys
        self._last: dict = {}  # key → [logged at, held back since]

    def __call__(self, key, now: float | None = None) -> int | None:
        """None: stay quiet; else the number held back since the last line (log now)."""
        now = time.monotonic() if now is None else now
        entry = self._last.get(key)
        if entry is not None and now - entry[0] < self.seconds:
            entry[1] += 1
            return None
        if entry is None and len(self._last) >= self.max_keys:
            self._last = {k: e for k, e in self._last.items() if now - e[0] < self.seconds}
            if len(self._last) >= self.max_keys:
                self._last.clear()  # a flood of addresses: start over rather than grow
        held = entry[1] if entry is not None else 0
        self._last[key] = [now, 0]
        return held


class Slot:
    """One pending connection's place; ``release()`` is idempotent."""

    __slots__ = ("_owner", "address")

    def __init__(self, owner: "PendingConnections", address: str) -> None:
        self._owner, self.address = owner, address

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._release(self.address)


#: Why a connection was refused: too many from its address, or too many in all.
BY_ADDRESS, IN_ALL = "address", "total"


class PendingConnections:
    """The connections that have not yet shown who they are: an HTTP connection until its
    first request's headers are in, a kiosk socket until its key is proven. ``admit`` gives a
    ``Slot`` or refuses (``BY_ADDRESS`` / ``IN_ALL``), and logs refusals once per address
    and period. One per server; gevent runs it on one thread, so no lock."""

    def __init__(self, policy: ConnectionPolicy | None = None) -> None:
        self.policy = policy or ConnectionPolicy()
        self.count = 0
        self.by_address: dict[str, int] = {}
        self.refused = {BY_ADDRESS: 0, IN_ALL: 0}
        self.expired = 0
        self._quiet = OncePerPeriod(self.policy.log_every)

    def admit(self, address: str, what: str = "connection", *, by_address: bool = True) -> Slot | str:
        """``by_address=False``: the total cap only (a socket whose peer is the proxy)."""
        policy = self.policy
        held = self.by_address.get(address, 0)
        if by_address and policy.per_address and held >= policy.per_address and address not in policy.exempt:
            return self._refuse(address, BY_ADDRESS, what)
        if policy.total and self.count >= policy.total:
            return self._refuse(address, IN_ALL, what)
        self.count += 1
        self.by_address[address] = held + 1
        return Slot(self, address)

    def _release(self, address: str) -> None:
        self.count -= 1
        left = self.by_address.get(address, 1) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)

    def _refuse(self, address: str, why: str, what: str) -> str:
        self.refused[why] += 1
        held = self._quiet(("refused", address))
        if held is not None:
            policy = self.policy
            reason = (f"{self.by_address.get(address, 0)} from this address are still opening "
                      f"(EXAMBRIDGE_PENDING_PER_ADDRESS={policy.per_address})" if why == BY_ADDRESS else
                      f"{self.count} in all are still opening (EXAMBRIDGE_PENDING_MAX={policy.total})")
            log.warning("refused a %s from %s: %s; %d more refused since the last line, next line at most "
                        "in %g s", what, address, reason, held, policy.log_every)
        return why

    def note_expired(self, address: str, what: str, seconds: float) -> None:
        """A deadline closed a connection (logged once per address and period)."""
        self.expired += 1
        held = self._quiet(("expired", address))
        if held is not None:
            log.info("closed a connection from %s: %s not complete within %g s; %d more since the last line",
                     address, what, seconds, held)


def refusal_response(why: str, text: str) -> bytes:
    body = (text + "\n").encode("utf-8")
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Retry-After: 5\r\nConnection: close\r\nX-ExamBridge-Refused: " + why.encode("ascii")
            + b"\r\nContent-Length: " + str(len(body)).encode("ascii") + b"\r\n\r\n" + body)


#: A header deadline that passed: nothing more is read from this connection.
REQUEST_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def refusal_texts(app) -> dict[str, bytes]:
    """The 503 answers, in the bridge's default language (no request to choose one from)."""
    from bridge.i18n import N_

    texts = {BY_ADDRESS: N_("Too many connections from your address are still opening: "
                            "try again in a few seconds."),
             IN_ALL: N_("The server has too many connections that are still opening: "
                        "try again in a few seconds.")}
    try:
        from flask_babel import force_locale, gettext

        with app.app_context(), force_locale(app.config.get("BABEL_DEFAULT_LOCALE") or "en"):
            texts = {why: gettext(text) for why, text in texts.items()}
    except Exception:  # an app without Flask-Babel (the sandbox LMS, tests): English
        pass
    return {why: refusal_response(why, text) for why, text in texts.items()}


class HeadersTooSlow(ValueError):
    """The request line and headers did not arrive within their deadline."""


def make_server(app: Callable, sock: socket.socket, policy: ConnectionPolicy | None = None):
    """gevent's WSGIServer with our handler: TCP_NODELAY, the fast header parser, absolute
    deadlines on a request's headers and an idle keep-alive connection, and the caps on
    connections that have not shown who they are (``PendingConnections``)."""
    import gevent
    from gevent.pywsgi import WSGIHandler, WSGIServer

    pending = PendingConnections(policy or ConnectionPolicy.from_config(getattr(app, "config", None)))
    refusals = refusal_texts(app)

    class NoDelayHandler(WSGIHandler):
        def __init__(self, sock_, address, server, rfile=None):
            try:
                sock_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            super().__init__(sock_, address, server, rfile)
            self._slot: Slot | None = None
            self._timer = None
            self._deadline = 0.0
            self._requests = 0

        def _address(self) -> str:
            address = self.client_address
            return str(address[0]) if isinstance(address, tuple) and address else ""

        def handle(self):
            address = self._address()
            slot = pending.admit(address, by_address=not pending.policy.behind_proxy)
            if not isinstance(slot, Slot):
                try:
                    self.socket.sendall(refusals[slot])
                    self.socket.shutdown(socket.SHUT_WR)
                    self.socket.settimeout(0.0)  # one look, no wait
                    self.socket.recv(65536)  # what it sent: closing on unread bytes would reset
                except OSError:
                    pass
                return  # the server closes the socket
            self._slot = slot
            self._deadline = time.monotonic() + pending.policy.header_seconds
            try:
                super().handle()
            finally:
                self._disarm()
                slot.release()

        # --- the header deadline ------------------------------------------------------
        def _arm(self, deadline: float) -> None:
            self._timer = gevent.Timeout(max(0.0, deadline - time.monotonic()))
            self._timer.start()

        def _disarm(self) -> None:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()

        def _expired(self, exc: BaseException) -> bool:
            if exc is not self._timer or exc is None:
                return False
            self._disarm()
            pending.note_expired(self._address(), "its request headers were",
                                 pending.policy.header_seconds)
            return True

        def read_requestline(self):
            policy = pending.policy
            again = self._requests > 0  # keep-alive: first wait for the next request to begin
            self._arm(time.monotonic() + policy.keepalive_seconds if again else self._deadline)
            try:
                head = self.rfile.peek(1)
            except gevent.Timeout as exc:
                if exc is not self._timer:
                    raise
                self._disarm()
                if not again:
                    pending.note_expired(self._address(), "its request headers were", policy.header_seconds)
                return ""  # said nothing (or idle too long): close quietly
            except OSError:
                return ""
            finally:
                self._disarm()
            if not head:
                return ""
            if b"\r\n\r\n" in head:
                return super().read_requestline()  # the whole head is in the buffer: no wait
            if again:
                self._deadline = time.monotonic() + policy.header_seconds
            self._arm(self._deadline)
            try:
                return super().read_requestline()
            except gevent.Timeout as exc:
                if not self._expired(exc):
                    raise
                return ""  # no whole request line: nobody to answer

        def read_request(self, raw_requestline):
            try:
                return super().read_request(raw_requestline)
            except gevent.Timeout as exc:
                if not self._expired(exc):
                    raise
                raise HeadersTooSlow("request headers not complete in time") from None
            finally:
                self._disarm()
                self._requests += 1
                if self._slot is not None:  # it said what it wants: no longer pending
                    self._slot.release()
                    self._slot = None

        def handle_one_request(self):
            try:
                return super().handle_one_request()
            finally:
                self._disarm()  # a request line refused before its headers were read (414)

        def _handle_client_error(self, ex):
            if isinstance(ex, HeadersTooSlow):
                return ("408", REQUEST_TIMEOUT_RESPONSE)
            return super()._handle_client_error(ex)

        def MessageClass(self, rfile, *_args):  # noqa: N802 (gevent's name)
            return read_headers(rfile)

        def get_environ(self):
            environ = super().get_environ()
            if self._connection_upgrade_requested():
                environ["exambridge.socket"] = self.socket  # bridge.hub.websocket reads it
                environ["exambridge.pending"] = pending  # the kiosk socket's own cap and deadline
            return environ

    server = WSGIServer(sock, app, handler_class=NoDelayHandler, log=None, error_log=log)
    server.pending = pending
    return server
