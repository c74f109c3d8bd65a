"""The agent's handling of messages from the bridge, one ``_on_<type>`` method each: the
challenge (hello or register), welcome (resync uploads, flush reports), refusals of the
handshake (re-enrol, new key, reconnect), acks and commands. A mixin of ``agent.Agent``,
kept apart from the connection loop and the worker that call it; it runs on the worker
thread only.
"""
from __future__ import annotations

import logging
import platform
import socket
import threading
import time

from kiosk_agent import __version__
from kiosk_agent import protocol as P
from kiosk_agent.commands import SLOW
from kiosk_agent.errors import AgentError, EnrolmentError

log = logging.getLogger("kiosk_agent")


class BridgeMessages:
    """What the agent does with each message type the bridge sends (docs/protocol.md)."""

    def _on_message(self, raw: str | bytes) -> None:
        try:
            env = P.decode(raw)
            payload = P.validate(env)
        except P.ProtocolError as exc:
            log.warning("refused a message from the bridge: %s", exc)
            return
        handler = getattr(self, f"_on_{env.type}", None)
        if handler is None:
            log.debug("ignored %s from the bridge", env.type)
            return
        handler(payload)

    def _on_challenge(self, payload: dict) -> None:
        nonce = payload["nonce"]
        identity = self.identity
        self._welcomed = False
        if identity.kiosk_id:
            self._send(P.HELLO, {"kiosk_id": identity.kiosk_id, "agent_version": __version__,
                                 "signature": identity.sign(nonce, str(identity.kiosk_id))}, remember="hello")
            return
        code = identity.code
        if not code:
            self._fatal(EnrolmentError(f"this kiosk is not registered and has no enrolment code for room "
                                       f"{self.config.room}: run `exambridge-kiosk run ... --code CODE` (or set "
                                       f"EXAMBRIDGE_KIOSK_CODE)"))
            return
        self._send(P.REGISTER, {
            "room": self.config.room, "code": code, "public_key": identity.public_key, "machine": identity.machine,
            "hostname": socket.gethostname()[:255], "agent_version": __version__,
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}"[:100],
            "signature": identity.sign(nonce, identity.public_key)}, remember="register")

    def _on_welcome(self, payload: dict) -> None:
        if self._requests.pop(str(payload.get("ref")), None) not in ("hello", "register"):
            log.warning("welcome for an unknown request; ignored")
            return
        kiosk_id = payload.get("kiosk_id")
        if isinstance(kiosk_id, int) and kiosk_id != self.identity.kiosk_id:
            self.identity.kiosk_id = kiosk_id
            self.identity.room = payload.get("room") or self.config.room
            self.identity.bridge = self.config.bridge
            self.identity.save()
            log.info("registered as kiosk %s in room %s (status %s: a proctor seats new kiosks)",
                     kiosk_id, self.identity.room, payload.get("status"))
        hb = payload.get("heartbeat_seconds")
        if isinstance(hb, (int, float)) and 0.2 <= hb <= 600:
            self._heartbeat_seconds = float(hb)
        self._welcomed = True
        self._welcomed_once.set()
        self._connect_failures = 0
        self._last_error = None
        self.update_state(kiosk_id=self.identity.kiosk_id, status=payload.get("status"), seat=payload.get("seat"),
                          pack_key=payload.get("pack_key") or self.state.get("pack_key"))
        log.info("welcome: kiosk %s, status %s, seat %s", self.identity.kiosk_id, payload.get("status"),
                 payload.get("seat"))
        self.uploads.resync(payload.get("heads") or {}, payload.get("server_time"))
        for result in self.commands.recovered:  # power commands the PC went down with: done, not again
            self._send_command_result(result)
        self.commands.recovered = []
        self._next_heartbeat = 0.0
        self._flush_reports()
        self._pump()

    def _on_error(self, payload: dict) -> None:
        what = self._requests.pop(str(payload.get("ref")), None)
        code, message = payload["code"], payload.get("message") or ""
        if what in ("register", "hello"):
            self._handshake_refused(what, code, message)
            return
        if what == "events":
            self.uploads.on_error(str(payload.get("ref")), code, message)
        log.warning("the bridge refused %s: %s %s", what or "a message", code, message)

    def _handshake_refused(self, what: str, code: str, message: str) -> None:
        identity = self.identity
        if code == "bad_enrolment_code":
            identity.code = None
            identity.save()
            asked = self.ask_code(f"The bridge refused the enrolment code for room {self.config.room} ({message}). "
                                  f"Enrolment code: ") if self.ask_code else None
            if asked:
                identity.code = asked.strip()
                identity.save()
                self._reconnect()
                return
            self._fatal(EnrolmentError(f"the bridge refused the enrolment code for room {self.config.room}: "
                                       f"{message or code}. Ask the site admin for the room's kiosk enrolment code "
                                       f"and start again with --code CODE"))
        elif code == "unknown_kiosk":
            log.warning("the bridge does not know kiosk %s (%s); registering again", identity.kiosk_id, message)
            identity.forget_registration()
            self._reconnect()
        elif code == "key_in_use":
            log.warning("this device key belongs to another kiosk (%s); making a new key and registering again",
                        message)
            identity.rotate_key()
            self._reconnect()
        elif code == "duplicate_connection":
            log.error("the bridge sees this kiosk connected from another address (%s): is a copy of this PC's data "
                      "directory running elsewhere? Retrying.", message)
            self._reconnect()
        else:
            log.warning("the bridge refused %s: %s %s; retrying", what, code, message)
            self._reconnect()

    def _reconnect(self) -> None:
        app = self._app
        self._welcomed = False
        if app is not None:
            app.close()

    def _fatal(self, error: AgentError) -> None:
        self.fatal = error
        self.stop()

    def _on_heartbeat_ack(self, payload: dict) -> None:
        sent = self._sent_ping_at.pop(str(payload.get("ref")), None)
        self._requests.pop(str(payload.get("ref")), None)
        if sent is not None:
            self.rtt_ms = round((time.monotonic() - sent) * 1000, 1)

    def _on_report_ack(self, payload: dict) -> None:
        self._requests.pop(str(payload.get("ref")), None)

    def _on_command_result_ack(self, payload: dict) -> None:
        self._requests.pop(str(payload.get("ref")), None)

    def _on_acks(self, payload: dict) -> None:
        ref = str(payload.get("ref"))
        self._requests.pop(ref, None)
        if self.uploads.on_acks(ref, payload.get("acks")):
            self._pump()

    # ------------------------------------------------------------------ commands
    def _on_command(self, payload: dict) -> None:
        command_id, name, args = payload["command_id"], payload["name"], payload["args"]
        stored = self.commands.stored(command_id)
        if stored is not None:
            self._send_command_result(stored)
            return
        if name in SLOW:
            def work():
                self.queue.put(("command_done", self.commands.run(command_id, name, args)))
            threading.Thread(target=work, name=f"command-{command_id}", daemon=True).start()
            return
        self._send_command_result(self.commands.run(command_id, name, args))

    def _send_command_result(self, result: dict) -> None:
        self._send(P.COMMAND_RESULT, {"command_id": result["command_id"], "outcome": result["outcome"],
                                      "detail": result["detail"]}, remember="command_result")
