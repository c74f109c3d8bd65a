"""The platform key cache: TTL, one refetch on an unknown kid, refetches rate-limited."""
import pytest

from lms_plugin.core.jwks import JwksCache
from lms_plugin.errors import LaunchRejected
from tests.lti.launch_kit import new_key


def _set(*keys):
    return {"keys": [k.as_dict(private=False) | {"kid": k.kid} for k in keys]}


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.mark.req("L1")
def test_cache_ttl_and_refetch_on_unknown_kid():
    a, b = new_key("a"), new_key("b")
    served = {"set": _set(a)}
    calls = []

    def fetch(url):
        calls.append(url)
        return served["set"]

    clock = Clock()
    cache = JwksCache(fetch, ttl=300, clock=clock, min_refetch=10)
    assert cache.key("u", "a").kid == "a" and len(calls) == 1
    assert cache.key("u", "a").kid == "a" and len(calls) == 1          # cached
    served["set"] = _set(a, b)
    clock.t += 5
    with pytest.raises(LaunchRejected) as exc:                          # inside the refetch limit
        cache.key("u", "b")
    assert exc.value.reason == "unknown_kid" and len(calls) == 1
    clock.t += 10
    assert cache.key("u", "b").kid == "b" and len(calls) == 2           # one refetch found it
    clock.t += 301
    cache.key("u", "a")
    assert len(calls) == 3                                              # TTL expired


@pytest.mark.req("L1")
def test_unreachable_jwks_is_a_clear_refusal():
    def fetch(url):
        raise ConnectionError("refused")

    with pytest.raises(LaunchRejected) as exc:
        JwksCache(fetch).key("https://lms.example/certs", "k")
    assert exc.value.reason == "jwks_unavailable"


@pytest.mark.req("L1")
def test_garbage_jwks_is_a_clear_refusal():
    with pytest.raises(LaunchRejected) as exc:
        JwksCache(lambda url: {"keys": [{"kty": "nonsense"}]}).key("u", "k")
    assert exc.value.reason == "jwks_unavailable"
