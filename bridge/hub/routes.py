"""``/ws/kiosk`` (docs/protocol.md) and ``POST /hub/commands``.

One handler per socket: challenge, then ``register`` or ``hello`` with the Ed25519 proof,
then ``welcome`` (with the answer heads and every unfinished command) and the message loop.
Each message is decoded and validated by ``kiosk_agent.protocol``; anything malformed or
refused gets an ``error`` ``{ref, code, message}`` and the socket carries on. No database
session lives across the socket: every read opens and closes its own, every write goes
through the group writer. Cleanup (presence, the local registry, the sender) is in
``finally``.
"""
from __future__ import annotations

import functools
import logging
import secrets
import time
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask_babel import gettext as _

from bridge import clock
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.hub import CHANNEL, get_hub
from bridge.hub.connection import Connection
from bridge.hub.presence import ALIVE_SECONDS, Holder
from bridge.hub.websocket import HandshakeError, check_upgrade, websocket_response
from bridge.services.delivery import answers
from bridge.services.kiosks import devices, kiosk_commands
from bridge.services.delivery import forwarding
from bridge.runtime.writer import get_writer
from kiosk_agent import protocol as P

log = logging.getLogger(__name__)

bp = Blueprint("hub", __name__)

HANDSHAKE_SECONDS = 30.0
#: Silence after which a welcomed socket is closed (three missed heartbeats).
IDLE_SECONDS = ALIVE_SECONDS
MAX_ERRORS_BEFORE_WELCOME = 10
#: The database hears ``last_seen_at`` at most this often while nothing else changes.
PERSIST_EVERY = devices.LAST_SEEN_EVERY.total_seconds()


class Refused(Exception):
    def __init__(self, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.close = code, message, close


class KioskSocket:
    """The state of one socket while its handler runs."""

    __slots__ = ("app", "hub", "writer", "secret", "conn", "ws", "nonce", "kiosk", "errors")

    def __init__(self, ws, app, address: str) -> None:
        self.app = app
        self.hub = get_hub(app).start()
        self.writer = get_writer(app)
        self.secret = app.config["SECRET_KEY"]
        self.conn = Connection(ws, address, self.hub.worker)
        self.ws = ws
        self.nonce = P.b64url(secrets.token_bytes(32))
        self.kiosk: devices.KioskInfo | None = None
        self.errors = 0

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> None:
        conn = self.conn
        try:
            conn.send(P.message(P.CHALLENGE, {"nonce": self.nonce, "server_time": clock.timestamp()}), direct=True)
            started = time.monotonic()
            while not conn.closing:
                timeout = IDLE_SECONDS if self.kiosk else max(0.1, HANDSHAKE_SECONDS - (time.monotonic() - started))
                raw = self.ws.receive(timeout=timeout)
                if raw is None:
                    if conn.closing or not self.ws.connected:
                        break
                    conn.error(None, "timeout", _("Nothing heard from this kiosk in time: closing."), direct=True)
                    conn.close("timeout")
                    break
                self.handle(raw)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        conn = self.conn
        kiosk_id = conn.kiosk_id
        if kiosk_id is not None:
            if self.hub.local.get(kiosk_id) is conn:
                self.hub.local.pop(kiosk_id, None)
            try:
                self.hub.presence.release(kiosk_id, conn.id)
            except Exception:
                log.exception("releasing kiosk %s's presence failed", kiosk_id)
        conn.close("closed")
        conn.stop()

    def handle(self, raw: Any) -> None:
        ref = None
        try:
            envelope = P.decode(raw)
            ref = envelope.id
            payload = P.validate(envelope)
            if envelope.type not in P.AGENT_TYPES:
                raise Refused("unexpected", _("A kiosk does not send %(type)s messages.", type=envelope.type))
            if self.kiosk is None:
                if envelope.type not in (P.REGISTER, P.HELLO):
                    raise Refused("not_welcomed", _("Send register or hello first."))
                self.identify(envelope, payload)
                return
            if envelope.type in (P.REGISTER, P.HELLO):
                raise Refused("unexpected", _("This socket is already welcomed."))
            getattr(self, "on_" + envelope.type)(envelope, payload)
        except P.ProtocolError as exc:
            self._refuse(ref, "bad_message", str(exc))
        except Refused as exc:
            self._refuse(ref, exc.code, exc.message, close=exc.close)
        except DomainError as exc:
            self._refuse(ref, exc.code, _(exc.message))
        except Exception:
            log.exception("kiosk %s: handling a message failed", self.conn.kiosk_id)
            self._refuse(ref, "unavailable", _("The bridge could not handle this message: send it again."))

    def _refuse(self, ref, code: str, message: str, *, close: bool = False) -> None:
        self.conn.error(ref, code, message, direct=True)
        if self.kiosk is None:
            self.errors += 1
            if self.errors >= MAX_ERRORS_BEFORE_WELCOME:
                close = True
        if close:
            self.conn.close(code)

    def read(self, fn, *args, **kwargs):
        """Run a read-only service call on a connection of its own (Core statements only: a
        plain connection costs less than an ORM session, thousands of times after a restart)."""
        with db.engine.connect() as connection:
            return fn(connection, *args, **kwargs)

    # --- identity -----------------------------------------------------------------------
    def identify(self, envelope: P.Envelope, p: dict) -> None:
        address = self.conn.address
        if envelope.type == P.REGISTER:
            if not P.verify_signature(p["public_key"], self.nonce, p["public_key"], p["signature"]):
                raise Refused("bad_signature", _("The device key's signature does not match the challenge."))
            if self.hub.enrolment_failures.blocked(address):
                raise Refused("too_many_attempts", _("Too many wrong enrolment codes from this address: wait a few "
                                                     "minutes, then enter the room's code again."), close=True)
            try:  # a wrong code is answered from a read: it never reaches the writer
                self.read(devices.check_enrolment, p["room"], p["code"], self.secret)
            except devices.BadEnrolmentCode:
                self.hub.enrolment_failures.failed(address)
                raise
            job = functools.partial(devices.register_kiosk, room_code=p["room"], code=p["code"],
                                    public_key=p["public_key"], machine=p["machine"], hostname=p["hostname"],
                                    agent_version=p["agent_version"], platform=p["platform"], address=address,
                                    secret_key=self.secret)
            info = self.writer.submit(job)
        else:
            info = self.read(devices.kiosk, p["kiosk_id"])
            if not P.verify_signature(info.public_key, self.nonce, info.id, p["signature"]):
                raise Refused("bad_signature", _("The device key's signature does not match the challenge."))
        self.claim(info)
        self.kiosk = info
        self.conn.kiosk_id = info.id
        if envelope.type == P.HELLO and (info.last_address != address
                                         or (p["agent_version"] and p["agent_version"] != info.agent_version)):
            self.hub.presence_writes.add((info.id, {"address": address,
                                                    "agent_version": p["agent_version"] or None}))
        self.conn.persisted = (info.agent_status, info.candidate, info.attempt_id)
        self.conn.persisted_at = time.time() - secrets.randbelow(int(PERSIST_EVERY))  # spread the writes
        self.welcome(envelope.id, info)

    def _welcome_reads(self, session, info: devices.KioskInfo):
        heads = forwarding.welcome_heads(session, [info.attempt_id] if info.attempt_id else [])
        if self.hub.none_unfinished(session):
            return heads, []
        return heads, kiosk_commands.unfinished(session, info.id)

    def claim(self, info: devices.KioskInfo) -> None:
        """Presence: refuse a live socket of the same kiosk elsewhere, fence it here."""
        hub, conn = self.hub, self.conn
        previous = hub.presence.get(info.id)
        if previous is not None and previous.conn_id != conn.id and previous.alive:
            if previous.address != conn.address:
                raise Refused("duplicate_connection",
                              _("This kiosk is connected from another address (%(address)s): one key, one PC.",
                                address=previous.address), close=True)
            message = _("A newer connection of this kiosk took over.")
            old = hub.local.get(info.id)
            if old is not None and old.id == previous.conn_id:
                old.fence(message)
            else:
                try:
                    hub.bus.publish(CHANNEL, {"kind": "fence", "kiosk": info.id, "conn": previous.conn_id,
                                              "message": message})
                except Exception as exc:
                    log.warning("could not publish a fence for kiosk %s: %s", info.id, exc)
        holder = Holder(conn.id, conn.address, conn.worker, time.time())
        conn.holder = holder
        hub.presence.claim(info.id, holder)
        old = hub.local.get(info.id)
        if old is not None and old is not conn:
            old.fence(_("A newer connection of this kiosk took over."))
        hub.local[info.id] = conn

    def welcome(self, ref: str, info: devices.KioskInfo) -> None:
        # read after claim(): a command issued from here on is either read now or delivered
        # through the bus to this (already registered) socket
        heads, pending = self.read(self._welcome_reads, info)
        self.conn.send(P.message(P.WELCOME, {
            "kiosk_id": info.id, "room": info.room_code, "status": info.status, "seat": info.seat,
            "server_time": clock.timestamp(), "heartbeat_seconds": P.HEARTBEAT_SECONDS,
            "pack_key": self.hub.pack_key(), "heads": heads}, ref=ref),
            direct=True)
        if pending:
            self.hub.deliver_commands([dict(c.message_payload(), kiosk_id=info.id) for c in pending])

    # --- messages after welcome ---------------------------------------------------------
    def on_heartbeat(self, envelope: P.Envelope, p: dict) -> None:
        conn = self.conn
        self.hub.presence.touch(conn.kiosk_id, conn.holder)
        conn.send(P.message(P.HEARTBEAT_ACK, {"server_time": clock.timestamp()}, ref=envelope.id), direct=True)
        state = (p["status"], p["candidate"], p["attempt_id"])
        now = time.time()
        if state != conn.persisted or now - conn.persisted_at >= PERSIST_EVERY:
            changed = state != conn.persisted
            conn.persisted, conn.persisted_at = state, now
            fields = {"agent_status": p["status"], "candidate": p["candidate"],
                      "attempt_id": p["attempt_id"]} if changed else {}
            self.hub.presence_writes.add((conn.kiosk_id, fields))

    def on_events(self, envelope: P.Envelope, p: dict) -> None:
        attempt_id, kiosk_id = p["attempt_id"], self.conn.kiosk_id
        self.hub.presence.touch(kiosk_id, self.conn.holder)
        grant = forwarding.read_forward_token(self.secret, attempt_id, p["token"])
        if grant is None:
            raise Refused("bad_token", _("The forward token does not belong to this attempt: reload the exam page."))
        if grant.expired(clock.timestamp()):
            raise Refused("bad_token", _("The forward token has expired: reload the exam page."))
        # the first kiosk that forwards for (attempt, epoch) carries it; cached per process,
        # so only the first message of a binding costs a write
        bound = forwarding.known_binding(db.engine, attempt_id, grant.epoch)
        if bound is None:
            bound = self.writer.submit(forwarding.bind_forward, attempt_id, grant.epoch, kiosk_id)
            forwarding.remember_binding(db.engine, attempt_id, grant.epoch, bound)
        if bound != kiosk_id:
            raise Refused("wrong_kiosk", _("Another kiosk carries this attempt: the candidate's answers are "
                                           "saved from that PC (a proctor moves the candidate by a resume)."))
        # the autosaves' grouped path: a whole batch of events (from pages and kiosks) in one call;
        # every event is stamped with the token's epoch (an older one is fenced), never its own
        carrier = answers.Carrier(epoch=grant.epoch)
        results = self.writer.submit_grouped(answers.append_many,
                                             [(attempt_id, event, carrier) for event in p["events"]])
        acks = [answers.outcome(event, result) for event, result in zip(p["events"], results)]
        self.conn.send(P.message(P.ACKS, {"acks": acks}, ref=envelope.id), direct=True)

    def on_report(self, envelope: P.Envelope, p: dict) -> None:
        self.writer.submit(devices.record_report, self.conn.kiosk_id, p["kind"], p["detail"])
        self.conn.send(P.message(P.REPORT_ACK, {}, ref=envelope.id), direct=True)

    def on_command_result(self, envelope: P.Envelope, p: dict) -> None:
        info = self.hub.results.add((self.conn.kiosk_id, p["command_id"], p["outcome"], p["detail"])).get()
        self.conn.send(P.message(P.COMMAND_RESULT_ACK, {"command_id": info.id, "status": info.status},
                                 ref=envelope.id), direct=True)


@bp.route("/ws/kiosk", websocket=True)
def kiosk_socket():
    app = current_app._get_current_object()
    environ = request.environ
    address = request.remote_addr or ""
    try:
        check_upgrade(environ)
    except HandshakeError as exc:
        return Response(str(exc) + "\n", status=exc.status, mimetype="text/plain",
                        headers={"Sec-WebSocket-Version": "13"} if exc.status == 426 else {})
    if "exambridge.socket" in environ:
        # gevent's HTTP reader keeps an 8 KiB buffer per connection unless it is closed
        # (pywsgi then ends the connection when the socket handler returns)
        stream = environ.get("wsgi.input")
        if hasattr(stream, "close"):
            stream.close()
    return websocket_response(environ, lambda ws: KioskSocket(ws, app, address).run(),
                              max_message_size=P.MAX_MESSAGE_BYTES)
