"""Mail to people outside the institution's staff (a candidate's account links), through the
SMTP server the operator configures (``EXAMBRIDGE_SMTP_*``), or, with no server set, written
as ``.eml`` files to ``EXAMBRIDGE_MAIL_DIR`` (``<instance>/mail``; the demo prints where),
which any mail program opens. Python's own ``smtplib`` and ``email`` do the protocol and
the format."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger(__name__)


class MailError(Exception):
    """The mail could not be handed over: the caller tells the person to try again later."""


def mail_dir(config: Mapping[str, Any]) -> Path:
    return Path(config.get("EXAMBRIDGE_MAIL_DIR") or Path(config["EXAMBRIDGE_INSTANCE_PATH"]) / "mail")


def send(config: Mapping[str, Any], *, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = config["EXAMBRIDGE_MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="exambridge")
    message.set_content(body)
    host = config.get("EXAMBRIDGE_SMTP_HOST")
    if not host:
        folder = mail_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
        (folder / name).write_bytes(bytes(message))
        log.info("mail to %s written to %s", to, folder / name)
        return
    try:
        with smtplib.SMTP(host, int(config["EXAMBRIDGE_SMTP_PORT"]), timeout=20) as smtp:
            if config.get("EXAMBRIDGE_SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("EXAMBRIDGE_SMTP_USER"):
                smtp.login(config["EXAMBRIDGE_SMTP_USER"], config.get("EXAMBRIDGE_SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to %s not sent: %s", to, exc)
        raise MailError(str(exc)) from exc

