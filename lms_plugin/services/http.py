"""Outbound HTTP to LMS platforms: one place for timeouts, size limits and the user agent."""
from __future__ import annotations

import requests
from flask import current_app

USER_AGENT = "ExamBridge/0.1 (+LTI 1.3 tool)"
MAX_JSON_BYTES = 5 * 1024 * 1024


def timeout() -> float:
    try:
        return float(current_app.config["EXAMBRIDGE_HTTP_TIMEOUT_SECONDS"])
    except (RuntimeError, KeyError):
        return 10.0


def get_json(url: str, *, headers: dict | None = None) -> dict | list:
    """GET a JSON document; raises requests/ValueError errors for the caller to translate."""
    h = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    h.update(headers or {})
    with requests.get(url, headers=h, timeout=timeout(), stream=True, allow_redirects=False) as resp:
        resp.raise_for_status()
        body = resp.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        if len(body) > MAX_JSON_BYTES:
            raise ValueError(f"response from {url} is larger than {MAX_JSON_BYTES} bytes")
        import json

        return json.loads(body)
