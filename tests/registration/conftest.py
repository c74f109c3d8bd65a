"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and an app that
sends its mail there."""
from __future__ import annotations

import email
import re
import socket
import threading

import pytest


class Mailbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self):
        self.messages = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        with self.arrived:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, to: str, count: int = 1, timeout: float = 20.0):
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.to(to)) >= count, timeout)
        assert ok, f"no mail to {to} within {timeout} s (got {[m['To'] for m in self.messages]})"
        return self.to(to)[count - 1]

    def to(self, address: str):
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def link(message, path_part: str) -> str:
        body = message.get_payload(decode=True).decode()
        found = re.search(r"https?://\S*" + re.escape(path_part) + r"\S*", body)
        assert found, body
        return found.group(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()  # returns once the server answers
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def mail_app(make_app, mailbox):
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), MAIL_FROM="Exams <exams@example.org>")
