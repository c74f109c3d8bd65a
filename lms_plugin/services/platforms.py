"""Platform registrations: add (CLI, admin page, dynamic registration), list, enable/disable."""
from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bridge.errors import Conflict, Invalid, NotFound
from bridge.services import audit
from lms_plugin.models import Deployment, Platform


def _check_url(name: str, value: str, errors: dict[str, str]) -> None:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors[name] = f"{name.replace('_', ' ')} must be an http(s) URL, e.g. https://lms.example.edu/…"


def add_platform(session: Session, *, issuer: str, client_id: str, deployment_ids: list[str],
                 auth_login_url: str, auth_token_url: str, jwks_url: str, name: str = "",
                 registered_by: str = "cli", actor: str = "", product: str = "") -> Platform:
    """Register a platform, or add deployments to an existing (issuer, client_id)."""
    issuer, client_id = (issuer or "").strip(), (client_id or "").strip()
    errors: dict[str, str] = {}
    _check_url("issuer", issuer, errors)
    if not client_id:
        errors["client_id"] = "client id is required (the LMS shows it after you add the tool)."
    deployment_ids = [d.strip() for d in deployment_ids if d and d.strip()]
    if not deployment_ids:
        errors["deployment_ids"] = "at least one deployment id is required (Moodle shows it in the tool's details)."
    for field, value in (("auth_login_url", auth_login_url), ("auth_token_url", auth_token_url),
                         ("jwks_url", jwks_url)):
        _check_url(field, value, errors)
    if errors:
        message = "; ".join(errors.values())
        exc = Invalid(message)
        exc.fields = errors  # type: ignore[attr-defined]
        raise exc
    platform = session.scalars(select(Platform).where(
        Platform.issuer == issuer, Platform.client_id == client_id)).first()
    created = platform is None
    if created:
        platform = Platform(issuer=issuer, client_id=client_id, name=name.strip(),
                            auth_login_url=auth_login_url.strip(), auth_token_url=auth_token_url.strip(),
                            jwks_url=jwks_url.strip(), registered_by=registered_by, product=product)
        session.add(platform)
        session.flush()
    else:
        endpoints = (platform.auth_login_url, platform.auth_token_url, platform.jwks_url)
        if endpoints != (auth_login_url.strip(), auth_token_url.strip(), jwks_url.strip()):
            message = (f"{issuer} with client id {client_id} is already registered with other "
                       "endpoints; disable it first or use another client id.")
            raise Conflict(message)
    known = {d.deployment_id for d in platform.deployments}
    added = [d for d in deployment_ids if d not in known]
    for dep in added:
        platform.deployments.append(Deployment(deployment_id=dep))
    if not created and not added:
        message = f"{issuer} with client id {client_id} and these deployments is already registered."
        raise Conflict(message)
    session.flush()
    audit.record(session, "platform.add" if created else "platform.add_deployment", actor=actor,
                 target=f"platform:{platform.id}",
                 detail={"issuer": issuer, "client_id": client_id, "deployments": added,
                         "by": registered_by})
    return platform


def list_platforms(session: Session) -> list[Platform]:
    return list(session.scalars(select(Platform).options(selectinload(Platform.deployments))
                                .order_by(Platform.id)))


def set_active(session: Session, platform_id: int, *, active: bool, actor: str) -> Platform:
    platform = session.get(Platform, platform_id)
    if platform is None:
        raise NotFound("That platform is not registered.")
    platform.active = active
    audit.record(session, "platform.enable" if active else "platform.disable", actor=actor,
                 target=f"platform:{platform.id}")
    return platform


def find(session: Session, issuer: str, client_id: str | None = None) -> list[Platform]:
    stmt = select(Platform).where(Platform.issuer == issuer)
    if client_id:
        stmt = stmt.where(Platform.client_id == client_id)
    return list(session.scalars(stmt))


def tool_urls(public_url: str) -> list[tuple[str, str]]:
    """The addresses an LMS admin types into the LMS (docs/admin-lti.md)."""
    base = public_url.rstrip("/")
    return [
        ("Tool URL", f"{base}/lti/launch"),
        ("Initiate login URL", f"{base}/lti/login"),
        ("Redirection URI(s)", f"{base}/lti/launch\n{base}/lti/deeplink"),
        ("Public keyset URL", f"{base}/lti/jwks"),
        ("Deep linking URL", f"{base}/lti/deeplink"),
        ("Dynamic registration URL", f"{base}/lti/register"),
    ]
