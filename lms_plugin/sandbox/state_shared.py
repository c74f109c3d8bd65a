"""The small pieces every part of the sandbox state uses: the clock, Moodle-style client
ids, the http(s) URL check and the allowed launch containers. They sit apart from state.py
so that the state's parts (gradebook.py, one_time_values.py) can use them without importing
the ``Sandbox`` class that is built from those parts.
"""
from __future__ import annotations

import secrets
import string
import time
from urllib.parse import urlsplit

CONTAINERS = ("window", "iframe")


def current_time() -> float:
    return time.time()


def new_client_id() -> str:
    """15 random letters and digits, like Moodle's ``random_string(15)``."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15))


def require_http_url(value: str, what: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http(s) URL, not {value!r}")
    return value
