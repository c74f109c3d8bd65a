"""Dynamic registration (L2) against an LMS, and one-time registration URLs for admins."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import socket

import requests
from sqlalchemy import update
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden
from bridge.i18n import N_
from bridge.services import audit
from lms_plugin.core import registration as core
from lms_plugin.errors import RegistrationError
from lms_plugin.models import Platform, RegistrationTicket
from lms_plugin.services import http, platforms


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_ticket_url(session: Session, public_url: str | None, *, hours: int = 24, actor: str = "cli") -> str:
    if not public_url:
        raise RegistrationError("Set EXAMBRIDGE_PUBLIC_URL (the address the LMS reaches the tool at) first.",
                                reason="no_public_url")
    token = secrets.token_urlsafe(24)
    session.add(RegistrationTicket(token_hash=_hash(token),
                                   expires_at=clock.utcnow_naive() + dt.timedelta(hours=hours)))
    audit.record(session, "platform.registration_url", actor=actor, detail={"hours": hours})
    session.flush()
    return f"{public_url.rstrip('/')}/lti/register?ticket={token}"


def check_ticket(session: Session, mode: str, ticket: str | None) -> RegistrationTicket | None:
    """In 'ticket' mode a valid unused ticket is required; 'open' needs none; 'off' refuses."""
    if mode == "off":
        raise Forbidden("Dynamic registration is switched off on this server; register the LMS by hand.")
    if mode == "open" and not ticket:
        return None
    row = session.get(RegistrationTicket, _hash(ticket or ""))
    if row is None or row.used_at is not None or row.expires_at < clock.utcnow_naive():
        raise Forbidden("This registration URL is not valid (unknown, used or expired). Ask the ExamBridge "
                        "administrator for a new one-time registration URL.")
    return row


def check_target(url: str, policy: core.TargetPolicy) -> None:
    """Before the tool reaches ``url``: http(s) (https in production), and every address its
    host resolves to public or in a network the operator allowed. Requests never follow a
    redirect here (a redirect could lead anywhere), so the checked host is the one reached.
    (A name that resolves differently a moment later is the rest risk; docs/admin-lti.md.)"""
    host = core.check_target_url(url, policy)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RegistrationError(N_("The LMS address does not resolve."), reason="configuration_unavailable",
                                detail=f"{host}: {exc}") from None
    core.check_addresses(host, [info[4][0] for info in infos], policy)


def fetch_configuration(config_url: str, policy: core.TargetPolicy = core.TargetPolicy()) -> core.PlatformConfig:
    """The platform's OpenID configuration, fetched only after its address passed
    ``check_target``; the endpoints the tool will reach are checked the same way."""
    check_target(config_url, policy)
    try:
        doc = http.get_json(config_url)
    except (requests.RequestException, ValueError) as exc:
        raise RegistrationError("The LMS's OpenID configuration could not be fetched.",
                                reason="configuration_unavailable", detail=f"{config_url}: {exc}") from None
    cfg = core.read_openid_configuration(config_url, doc)
    for key in core.FETCHED_ENDPOINTS:
        check_target(getattr(cfg, key), policy)
    return cfg


def register(session: Session, *, config_url: str, registration_token: str | None, tool_base: str,
             ticket: RegistrationTicket | None, remote_addr: str = "",
             policy: core.TargetPolicy = core.TargetPolicy()) -> Platform:
    """Fetch the configuration, post the registration, store the platform. Call it only on
    the admin's explicit confirmation (a POST), after the ticket was checked."""
    cfg = fetch_configuration(config_url, policy)
    body = core.registration_request(cfg, tool_base)
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": http.USER_AGENT}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    try:
        resp = requests.post(cfg.registration_endpoint, data=json.dumps(body), headers=headers,
                             timeout=http.timeout(), allow_redirects=False)
    except requests.RequestException as exc:
        raise RegistrationError("The LMS's registration endpoint could not be reached.",
                                reason="registration_unreachable", detail=str(exc)) from None
    if 300 <= resp.status_code < 400:
        raise RegistrationError(N_("The LMS's registration endpoint answered with a redirect, which is not "
                                   "followed."), reason="registration_redirect",
                                detail=resp.headers.get("Location", "")[:500])
    if resp.status_code >= 300:
        raise RegistrationError(f"The LMS refused the registration (HTTP {resp.status_code}).",
                                reason="registration_refused", detail=resp.text[:500])
    try:
        registered = core.read_registration_response(resp.json())
    except ValueError:
        raise RegistrationError("The LMS's registration answer is not JSON.",
                                reason="bad_registration_response") from None
    if not registered.deployment_id:
        raise RegistrationError("The LMS did not say which deployment id it gave the tool; register by hand.",
                                reason="no_deployment_id")
    platform = platforms.add_platform(
        session, issuer=cfg.issuer, client_id=registered.client_id, deployment_ids=[registered.deployment_id],
        auth_login_url=cfg.authorization_endpoint, auth_token_url=cfg.token_endpoint, jwks_url=cfg.jwks_uri,
        name=f"{cfg.product or 'LMS'} {cfg.issuer}", registered_by="dynamic",
        actor=f"dynamic-registration@{remote_addr}", product=cfg.product)
    if ticket is not None:
        # Single use even against a concurrent registration with the same ticket.
        spent = session.execute(update(RegistrationTicket).where(
            RegistrationTicket.token_hash == ticket.token_hash, RegistrationTicket.used_at.is_(None))
            .values(used_at=clock.utcnow_naive(), platform_id=platform.id))
        if spent.rowcount != 1:
            raise Forbidden("This registration URL was used a moment ago. Ask the ExamBridge administrator "
                            "for a new one-time registration URL.")
    session.flush()
    return platform
