"""LTI Dynamic Registration 1.0 (tool side), framework-free: check the platform's OpenID
configuration, build the client registration request, read the platform's answer."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlsplit

from bridge.i18n import N_
from lms_plugin.core import claims as C
from lms_plugin.core.oidc import origin
from lms_plugin.errors import RegistrationError

REQUIRED_CONFIG = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")


# The platform's addresses the tool itself fetches from or posts to (the authorization
# endpoint is only where browsers are sent).
FETCHED_ENDPOINTS = ("registration_endpoint", "jwks_uri", "token_endpoint")


@dataclass(frozen=True)
class TargetPolicy:
    """Where a registration may reach: ``allowed_networks`` are private, loopback or
    link-local networks an operator allowed (a campus LMS, the demo's own sandbox);
    ``https_only`` in production."""

    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    https_only: bool = False

    @classmethod
    def from_settings(cls, networks: Iterable[str] | str, *, https_only: bool) -> "TargetPolicy":
        items = networks.split() if isinstance(networks, str) else list(networks)
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in items), https_only)


def check_target_url(url: str, policy: TargetPolicy) -> str:
    """The host of an address the tool is about to reach: http(s) only, https in production,
    no user name or password in it. Raises RegistrationError."""
    try:
        scheme, host, _port = origin(url)
    except ValueError:
        raise RegistrationError(N_("The LMS address is not a valid http(s) URL."), reason="bad_configuration",
                                detail=url[:200]) from None
    if policy.https_only and scheme != "https":
        raise RegistrationError(N_("This server registers an LMS only over https."), reason="https_required",
                                detail=url[:200])
    if urlsplit(url).username is not None:
        raise RegistrationError(N_("The LMS address must not carry a user name."), reason="bad_configuration",
                                detail=url[:200])
    return host


def check_addresses(host: str, addresses: Iterable[str], policy: TargetPolicy) -> None:
    """Every address ``host`` resolves to must be a public one, or in a network the operator
    allowed: a registration must not make the tool reach into its own machine or network
    (loopback, private, link-local such as cloud metadata, multicast, reserved)."""
    found = False
    for raw in addresses:
        found = True
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if any(ip in net for net in policy.allowed_networks if net.version == ip.version):
            continue
        if not ip.is_global or ip.is_multicast:
            raise RegistrationError(N_("The LMS address leads to a loopback, private or link-local network, "
                                       "which this server does not reach for a registration. An operator can "
                                       "allow that network in the server's settings."), reason="private_address",
                                    detail=f"{host} -> {ip}")
    if not found:
        raise RegistrationError(N_("The LMS address does not resolve."), reason="configuration_unavailable",
                                detail=host)


@dataclass(frozen=True)
class PlatformConfig:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    scopes_supported: tuple[str, ...]
    product: str
    version: str
    messages_supported: tuple[str, ...]


def read_openid_configuration(config_url: str, doc: Any) -> PlatformConfig:
    """The platform's configuration, checked: required endpoints present and http(s), the
    issuer on the host the document came from, and the registration endpoint (where the
    tool posts the LMS's bearer token) on the issuer's own origin."""
    if not isinstance(doc, dict):
        raise RegistrationError("The LMS's OpenID configuration is not a JSON object.", reason="bad_configuration")
    missing = [k for k in REQUIRED_CONFIG if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        message = f"The LMS's OpenID configuration lacks {', '.join(missing)}."
        raise RegistrationError(message, reason="bad_configuration", detail=config_url)
    try:
        issuer, fetched = origin(doc["issuer"]), origin(config_url)
        for key in REQUIRED_CONFIG[1:]:
            origin(doc[key])
    except ValueError as exc:
        raise RegistrationError("The LMS's OpenID configuration names an address that is not a valid "
                                "http(s) URL.", reason="bad_configuration", detail=str(exc)) from None
    if issuer[1] != fetched[1]:
        raise RegistrationError("The LMS's configuration names an issuer on another host than the one it was "
                                "fetched from; refusing to register.", reason="issuer_host_mismatch",
                                detail=f"{doc['issuer']} vs {config_url}")
    if origin(doc["registration_endpoint"]) != issuer:
        raise RegistrationError("The LMS's registration endpoint is not on the LMS's own address; refusing to "
                                "send it the registration token.", reason="foreign_registration_endpoint",
                                detail=doc["registration_endpoint"])
    platform = doc.get(C.PLATFORM_CONFIGURATION)
    platform = platform if isinstance(platform, dict) else {}
    supported = platform.get("messages_supported")
    supported = supported if isinstance(supported, list) else []
    messages = [m.get("type") if isinstance(m, dict) else m for m in supported]
    scopes = doc.get("scopes_supported") if isinstance(doc.get("scopes_supported"), list) else []
    return PlatformConfig(
        issuer=doc["issuer"], authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"], jwks_uri=doc["jwks_uri"],
        registration_endpoint=doc["registration_endpoint"],
        scopes_supported=tuple(s for s in scopes if isinstance(s, str)),
        product=str(platform.get("product_family_code", ""))[:100], version=str(platform.get("version", ""))[:50],
        messages_supported=tuple(m for m in messages if isinstance(m, str) and m),
    )


def registration_request(cfg: PlatformConfig, tool_base: str, *, client_name: str = "ExamBridge") -> dict:
    base = tool_base.rstrip("/")
    wanted = [s for s in C.TOOL_SCOPES if not cfg.scopes_supported or s in cfg.scopes_supported]
    messages = [{"type": C.RESOURCE_LINK_REQUEST, "target_link_uri": f"{base}/lti/launch",
                 "label": client_name}]
    if not cfg.messages_supported or C.DEEP_LINKING_REQUEST in cfg.messages_supported:
        messages.append({"type": C.DEEP_LINKING_REQUEST, "target_link_uri": f"{base}/lti/deeplink",
                         "label": "ExamBridge exam", "placements": ["ContentArea"]})
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": f"{base}/lti/login",
        "redirect_uris": [f"{base}/lti/launch", f"{base}/lti/deeplink"],
        "client_name": client_name,
        "jwks_uri": f"{base}/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(wanted),
        C.TOOL_CONFIGURATION: {
            "domain": urlsplit(base).netloc,
            "target_link_uri": f"{base}/lti/launch",
            "description": "Proctored computer-based exams: venues, kiosks and proctors for your course.",
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": messages,
            "custom_parameters": {},
        },
    }


@dataclass(frozen=True)
class Registered:
    client_id: str
    deployment_id: str | None


def read_registration_response(doc: Any) -> Registered:
    if not isinstance(doc, dict) or not isinstance(doc.get("client_id"), str) or not doc["client_id"]:
        raise RegistrationError("The LMS answered the registration without a client_id.",
                                reason="bad_registration_response")
    tool_conf = doc.get(C.TOOL_CONFIGURATION) if isinstance(doc.get(C.TOOL_CONFIGURATION), dict) else {}
    deployment = tool_conf.get("deployment_id") or doc.get("deployment_id")
    return Registered(client_id=doc["client_id"], deployment_id=str(deployment) if deployment else None)
