"""L1: every check of the IMS security framework, over real HTTP, each refusal a clear 4xx
page with a reason code and an audit line (never a 500)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bridge.models.audit import AuditEntry
from lms_plugin.core import claims as C
from tests.lti.launch_kit import (SigningPlatform, error_code, hs256_with_public_key, new_key,
                                  start_login, unsigned_token)


@pytest.fixture
def env(lti_env):
    return lti_env


def launch(env, token: str, state: str, **kw):
    return env.http.post(f"{env.bridge}/lti/launch", data={"id_token": token, "state": state},
                         allow_redirects=False, **kw)


def audit_reasons(app) -> list[str]:
    from bridge.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused")
                                  .order_by(AuditEntry.id)).all()
        return [r.detail.get("reason") for r in rows]


@pytest.mark.req("L1")
def test_good_launch_signs_in_and_lands_on_the_course(env):
    login = start_login(env.http, env.bridge, env.platform)
    assert login.redirect_uri == f"{env.bridge}/lti/launch"
    assert login.auth_params["scope"] == "openid" and login.auth_params["response_mode"] == "form_post"
    assert login.auth_params["prompt"] == "none" and login.auth_params["lti_message_hint"] == "hint-1"
    token = env.platform.sign(env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch"))
    resp = launch(env, token, login.state)
    assert resp.status_code == 303, resp.text
    assert "/course/" in resp.headers["Location"]
    page = env.http.get(env.bridge + resp.headers["Location"])
    assert page.status_code == 200 and "Tess Teacher" in page.text
    session_cookie = next(h for h in resp.raw.headers.getlist("Set-Cookie") if h.startswith("exambridge_session="))
    for attr in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attr in session_cookie, session_cookie


def _bad(env, mutate=None, *, token_fn=None, state_fn=None, cookies_cleared=False):
    login = start_login(env.http, env.bridge, env.platform)
    claims = env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch")
    if mutate:
        mutate(claims)
    token = token_fn(claims) if token_fn else env.platform.sign(claims)
    if cookies_cleared:
        env.http.cookies.clear()
    state = state_fn(login.state) if state_fn else login.state
    return launch(env, token, state)


CASES = {
    "wrong_iss": dict(mutate=lambda c: c.update(iss="https://evil.example")),
    "wrong_aud": dict(mutate=lambda c: c.update(aud="someone-else")),
    "wrong_azp": dict(mutate=lambda c: c.update(aud=["tool-client-1", "other"], azp="other")),
    "expired": dict(mutate=lambda c: c.update(iat=int(time.time()) - 200, exp=int(time.time()) - 121)),
    "iat_in_future": dict(mutate=lambda c: c.update(iat=int(time.time()) + 600, exp=int(time.time()) + 660)),
    "unknown_deployment": dict(mutate=lambda c: c.update({C.DEPLOYMENT_ID: "99"})),
    "nonce_mismatch": dict(mutate=lambda c: c.update(nonce="not-the-nonce")),
    "wrong_version": dict(mutate=lambda c: c.update({C.VERSION: "1.1"})),
    "unsupported_message_type": dict(mutate=lambda c: c.update({C.MESSAGE_TYPE: "LtiSubmissionReviewRequest"})),
    "missing_claim": dict(mutate=lambda c: c.pop(C.ROLES)),
}


@pytest.mark.req("L1")
@pytest.mark.parametrize("reason", sorted(CASES))
def test_claim_checks_refuse_with_reason_and_audit(env, reason):
    resp = _bad(env, **CASES[reason])
    assert 400 <= resp.status_code < 500, resp.text
    assert error_code(resp.text) == reason
    assert audit_reasons(env.app)[-1] == reason


@pytest.mark.req("L1")
@pytest.mark.parametrize("missing", ["sub", C.RESOURCE_LINK, "exp", "iat", C.DEPLOYMENT_ID])
def test_each_required_claim_is_required(env, missing):
    resp = _bad(env, mutate=lambda c: c.pop(missing))
    assert resp.status_code in (400, 401)
    assert error_code(resp.text) == "missing_claim"


@pytest.mark.req("L1")
def test_bad_signature(env):
    other = new_key(env.platform.key.kid)  # same kid, different key: the signature cannot verify
    resp = _bad(env, token_fn=lambda c: env.platform.sign(c, key=other))
    assert resp.status_code == 401 and error_code(resp.text) == "bad_signature"
    assert audit_reasons(env.app)[-1] == "bad_signature"


@pytest.mark.req("L1")
def test_tampered_payload_fails_signature(env):
    def tamper(c):
        token = env.platform.sign(c)
        head, payload, sig = token.split(".")
        from tests.lti.launch_kit import b64
        import json
        import base64
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        body["sub"] = "1"
        return ".".join([head, b64(json.dumps(body).encode()), sig])
    resp = _bad(env, token_fn=tamper)
    assert error_code(resp.text) == "bad_signature"


@pytest.mark.req("L1")
def test_unknown_kid_after_refetch(env):
    stranger = new_key("not-published")
    hits = env.platform.jwks_hits
    resp = _bad(env, token_fn=lambda c: env.platform.sign(c, key=stranger))
    assert resp.status_code == 401 and error_code(resp.text) == "unknown_kid"
    assert env.platform.jwks_hits > hits  # it did look the key set up before refusing
    assert audit_reasons(env.app)[-1] == "unknown_kid"


@pytest.mark.req("L1")
def test_rotated_platform_key_is_picked_up_by_refetch(env):
    from lms_plugin.services.launches import jwks_cache

    resp = _bad(env)  # a good launch warms the cache with the first key
    assert resp.status_code == 303
    rotated = new_key()
    env.platform.published.append(rotated)
    with env.app.app_context():
        jwks_cache()._min_refetch = 0  # the rate limit on refetches is a separate unit test
    resp = _bad(env, token_fn=lambda c: env.platform.sign(c, key=rotated))
    assert resp.status_code == 303, resp.text


@pytest.mark.req("L1")
def test_alg_none_is_refused(env):
    resp = _bad(env, token_fn=unsigned_token)
    assert 400 <= resp.status_code < 500 and error_code(resp.text) == "alg_not_allowed"


@pytest.mark.req("L1")
def test_hs256_keyed_with_public_key_is_refused(env):
    resp = _bad(env, token_fn=lambda c: hs256_with_public_key(c, env.platform))
    assert 400 <= resp.status_code < 500 and error_code(resp.text) == "alg_not_allowed"


@pytest.mark.req("L1")
def test_replayed_launch_is_refused(env):
    login = start_login(env.http, env.bridge, env.platform)
    token = env.platform.sign(env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch"))
    assert launch(env, token, login.state).status_code == 303
    again = launch(env, token, login.state)
    assert again.status_code == 401 and error_code(again.text) == "state_replayed"


@pytest.mark.req("L1")
def test_replayed_nonce_under_a_new_state_is_refused(env):
    """The same id_token (same nonce) brought back with another login's state."""
    first = start_login(env.http, env.bridge, env.platform)
    token = env.platform.sign(env.platform.claims(nonce=first.nonce, target=f"{env.bridge}/lti/launch"))
    assert launch(env, token, first.state).status_code == 303
    # An attacker with DB-level knowledge would need the state's nonce to match; the state
    # binds the nonce, so a reused token fails either as a nonce mismatch or as a replay.
    second = start_login(env.http, env.bridge, env.platform)
    resp = launch(env, token, second.state)
    assert error_code(resp.text) in ("nonce_mismatch", "nonce_replayed")


@pytest.mark.req("L1")
def test_used_nonce_table_refuses_a_second_use(app):
    from bridge.extensions import transaction
    from lms_plugin.errors import LaunchRejected
    from lms_plugin.models import Platform
    from lms_plugin.services.launches import _use_nonce

    with app.app_context():
        with transaction() as s:
            p = Platform(issuer="https://x.example", client_id="c", auth_login_url="https://x.example/a",
                         auth_token_url="https://x.example/t", jwks_url="https://x.example/k")
            s.add(p)
            s.flush()
            _use_nonce(s, p, "n-1")
        with pytest.raises(LaunchRejected) as exc, transaction() as s:
            _use_nonce(s, s.get(Platform, p.id), "n-1")
        assert exc.value.reason == "nonce_replayed"


@pytest.mark.req("L1", "L6")
def test_state_not_bound_to_this_browser(env):
    resp = _bad(env, cookies_cleared=True)
    assert resp.status_code == 401 and error_code(resp.text) == "state_not_bound"
    assert audit_reasons(env.app)[-1] == "state_not_bound"


@pytest.mark.req("L1")
def test_unknown_state(env):
    resp = _bad(env, state_fn=lambda s: s[::-1])
    assert error_code(resp.text) == "unknown_state"


@pytest.mark.req("L1")
def test_expired_state(env):
    from bridge import clock

    login = start_login(env.http, env.bridge, env.platform)
    token = env.platform.sign(env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch"))
    clock.set_offset(400)
    try:
        resp = launch(env, token, login.state)
    finally:
        clock.set_offset(0)
    assert error_code(resp.text) == "state_expired"


@pytest.mark.req("L1")
def test_failed_launch_consumes_the_state(env):
    login = start_login(env.http, env.bridge, env.platform)
    good = env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch")
    bad = dict(good, aud="nope")
    assert error_code(launch(env, env.platform.sign(bad), login.state).text) == "wrong_aud"
    assert error_code(launch(env, env.platform.sign(good), login.state).text) == "state_replayed"


@pytest.mark.req("L1")
def test_malformed_tokens_are_4xx(env):
    for token in ["", "abc", "a.b", "a.b.c", "###.###.###"]:
        login = start_login(env.http, env.bridge, env.platform)
        resp = launch(env, token, login.state)
        assert 400 <= resp.status_code < 500, (token, resp.status_code)
        assert error_code(resp.text) in ("malformed_token", "alg_not_allowed")


@pytest.mark.req("L1")
def test_login_refusals(env):
    base = {"iss": env.platform.issuer, "login_hint": "3", "target_link_uri": f"{env.bridge}/lti/launch",
            "client_id": env.platform.client_id}
    cases = {
        "unknown_issuer": dict(base, iss="https://unknown.example"),
        "missing_login_parameter": {k: v for k, v in base.items() if k != "login_hint"},
        "foreign_target_link_uri": dict(base, target_link_uri="https://elsewhere.example/launch"),
        "unknown_deployment": dict(base, lti_deployment_id="42"),
    }
    for reason, params in cases.items():
        resp = env.http.get(f"{env.bridge}/lti/login", params=params, allow_redirects=False)
        assert resp.status_code == 400, (reason, resp.status_code)
        assert error_code(resp.text) == reason
        assert audit_reasons(env.app)[-1] == reason


@pytest.mark.req("L1")
def test_get_on_launch_is_a_clear_4xx(env):
    resp = env.http.get(f"{env.bridge}/lti/launch")
    assert resp.status_code == 400 and error_code(resp.text) == "launch_not_post"


@pytest.mark.req("L1", "L6")
def test_cookies_are_cross_site_capable(env):
    resp = env.http.get(f"{env.bridge}/lti/login", params={
        "iss": env.platform.issuer, "login_hint": "3", "target_link_uri": f"{env.bridge}/lti/launch",
        "client_id": env.platform.client_id}, allow_redirects=False)
    set_cookie = resp.headers["Set-Cookie"]
    for attr in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attr in set_cookie, set_cookie


@pytest.mark.req("L1")
def test_old_login_states_and_nonces_are_purged(env):
    import datetime as dt

    from bridge import clock
    from bridge.extensions import transaction
    from lms_plugin.models import LoginState, UsedNonce

    old = clock.utcnow_naive() - dt.timedelta(days=2)
    with env.app.app_context(), transaction() as s:
        pid = s.scalars(select(LoginState.platform_id)).first() or 1
        s.add(LoginState(state="old-state", nonce="n", platform_id=pid, target_link_uri="x",
                         binding_hash="h", created_at=old))
        s.add(UsedNonce(platform_id=pid, nonce="old-nonce", used_at=old))
    start_login(env.http, env.bridge, env.platform)
    with env.app.app_context():
        from bridge.extensions import db
        assert db.session.get(LoginState, "old-state") is None
        assert db.session.scalars(select(UsedNonce).where(UsedNonce.nonce == "old-nonce")).first() is None


@pytest.mark.req("L1")
def test_the_same_launch_posted_twice_at_once_succeeds_once(env):
    import threading

    login = start_login(env.http, env.bridge, env.platform)
    token = env.platform.sign(env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch"))
    barrier, results = threading.Barrier(2), []

    def post():
        barrier.wait()
        results.append(launch(env, token, login.state).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [303, 401], results


@pytest.mark.req("L1")
@pytest.mark.parametrize("target", ["http://127.0.0.1:abc/lti/launch", "http://127.0.0.1:99999/lti/launch",
                                    "http://[::1/lti/launch", "javascript:alert(1)", "x" * 3000])
def test_malformed_login_parameters_are_a_clear_400(env, target):
    resp = env.http.get(f"{env.bridge}/lti/login", allow_redirects=False, params={
        "iss": env.platform.issuer, "login_hint": "3", "target_link_uri": target, "client_id": env.platform.client_id})
    assert resp.status_code == 400
    assert error_code(resp.text) in ("bad_target_link_uri", "bad_login_parameter", "foreign_target_link_uri")


@pytest.mark.req("L1", "L6")
def test_the_new_window_ticket_keeps_only_the_login_parameters(env):
    from bridge.extensions import db
    from lms_plugin.models import LaunchTicket

    resp = env.http.post(f"{env.bridge}/lti/login", headers={"Sec-Fetch-Dest": "iframe"}, data={
        "iss": env.platform.issuer, "login_hint": "3", "target_link_uri": f"{env.bridge}/lti/launch",
        "client_id": env.platform.client_id, "junk": "x" * 100_000})
    assert resp.status_code == 200 and 'id="continue"' in resp.text
    with env.app.app_context():
        (ticket,) = db.session.scalars(select(LaunchTicket)).all()
        assert set(ticket.params) == {"iss", "login_hint", "target_link_uri", "client_id"}


@pytest.mark.req("L1")
@pytest.mark.parametrize("mutate, reason", [
    (lambda c: c.pop(C.TARGET_LINK_URI), "missing_claim"),
    (lambda c: c.update(sub="9" * 300), "claim_too_long"),
    (lambda c: c.update({C.RESOURCE_LINK: {"id": "r" * 256}}), "claim_too_long"),
])
def test_more_claim_checks(env, mutate, reason):
    resp = _bad(env, mutate=mutate)
    assert 400 <= resp.status_code < 500 and error_code(resp.text) == reason
