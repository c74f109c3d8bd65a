"""Dynamic registration (L2), the tool side: the platform's OpenID configuration is checked
before anything is sent to it."""
from __future__ import annotations

import pytest

from lms_plugin.core import claims as C
from lms_plugin.core.registration import read_openid_configuration, registration_request
from lms_plugin.errors import RegistrationError

URL = "https://moodle.example.edu/mod/lti/openid-configuration.php"


def config(**over):
    base = "https://moodle.example.edu/mod/lti"
    doc = {"issuer": "https://moodle.example.edu", "authorization_endpoint": f"{base}/auth.php",
           "token_endpoint": f"{base}/token.php", "jwks_uri": f"{base}/certs.php",
           "registration_endpoint": f"{base}/openid-registration.php",
           "scopes_supported": [C.SCOPE_SCORE, C.SCOPE_NRPS, "openid"],
           C.PLATFORM_CONFIGURATION: {"product_family_code": "moodle", "version": "2024100706",
                                      "messages_supported": [{"type": "LtiResourceLinkRequest"},
                                                             {"type": "LtiDeepLinkingRequest"}]}}
    doc.update(over)
    return doc


@pytest.mark.req("L2")
def test_a_moodle_configuration_is_read():
    cfg = read_openid_configuration(URL, config())
    assert cfg.product == "moodle" and C.DEEP_LINKING_REQUEST in cfg.messages_supported
    body = registration_request(cfg, "https://exam.example.edu")
    assert body["scope"].split() == [C.SCOPE_SCORE, C.SCOPE_NRPS]          # only what is offered
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body[C.TOOL_CONFIGURATION]["domain"] == "exam.example.edu"


@pytest.mark.req("L2")
@pytest.mark.parametrize("over, reason", [
    ({"issuer": "https://evil.example"}, "issuer_host_mismatch"),
    ({"registration_endpoint": "https://collector.example/register"}, "foreign_registration_endpoint"),
    ({"registration_endpoint": "http://moodle.example.edu/mod/lti/openid-registration.php"},
     "foreign_registration_endpoint"),
    ({"jwks_uri": "ftp://moodle.example.edu/certs"}, "bad_configuration"),
    ({"issuer": "http://[::1"}, "bad_configuration"),
    ({"token_endpoint": None}, "bad_configuration"),
])
def test_a_doubtful_configuration_is_refused(over, reason):
    with pytest.raises(RegistrationError) as exc:
        read_openid_configuration(URL, config(**over))
    assert exc.value.reason == reason


@pytest.mark.req("L2")
@pytest.mark.parametrize("platform", [5, "x", {"messages_supported": 5}, {"messages_supported": ["A", 3, None]}])
def test_odd_platform_sections_do_not_break_reading(platform):
    cfg = read_openid_configuration(URL, config(**{C.PLATFORM_CONFIGURATION: platform}))
    assert all(isinstance(m, str) for m in cfg.messages_supported)


def test_not_an_object():
    with pytest.raises(RegistrationError):
        read_openid_configuration(URL, ["not", "an", "object"])
