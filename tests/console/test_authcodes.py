"""Authorization codes (P15): challenge–response bound to the act; single use; five wrong
tries lock; expired, reused and foreign codes are refused; an online approval needs no code."""
from __future__ import annotations

import dataclasses

import pytest

from bridge import clock
from bridge.errors import InvalidState
from bridge.models.authcodes import AuthRequest
from bridge.services.proctoring import authcodes
from bridge.services.venue import venues
from tests.fixtures.cli import run_cli

CANDIDATES = ["20261450301R0101001"]


@pytest.fixture
def room(app, db_session):
    from tests.venue.readiness_world import make_world

    w = make_world(app, db_session)
    return w


def ask(w, action="extra_time", parameter=900, candidates=CANDIDATES):
    made = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id, action=action,
                             candidates=candidates, parameter=parameter, actor="user:7")
    w.s.commit()
    return made


def spend(w, made, code, *, parameter=900, candidates=CANDIDATES, action="extra_time"):
    row = authcodes.use(w.s, made.id, code, action=action, room_id=w.room.id, session_id=w.session_id,
                        candidates=candidates, parameter=parameter, secret_key=w.secret, actor="user:7")
    w.s.commit()
    return row


def authority_code(w, made) -> str:
    return authcodes.code_for(w.s, w.s.get(AuthRequest, made.id), secret_key=w.secret)


@pytest.mark.req("P15")
def test_the_authoritys_code_opens_the_act_once(room):
    made = ask(room)
    assert len(made.request_code) == 8 and made.request_code.isdigit()
    code = authority_code(room, made)
    assert len(code) == 8 and code.isdigit()
    assert spend(room, made, code).status == "used"
    with pytest.raises(authcodes.CodeRefused, match="used already"):
        spend(room, made, code)


@pytest.mark.req("P15")
def test_wrong_codes_count_and_five_lock_the_request(room):
    made = ask(room)
    code = authority_code(room, made)
    wrong = f"{(int(code) + 1) % 10 ** 8:08d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(authcodes.CodeRefused, match="tries left") as refused:
            spend(room, made, wrong)
        assert refused.value.params == {"left": left}
        room.s.rollback()  # the act failed; the count stays
    with pytest.raises(authcodes.CodeRefused, match="locked"):
        spend(room, made, wrong)
    room.s.rollback()
    with pytest.raises(authcodes.CodeRefused, match="locked"):
        spend(room, made, code)  # even the right one now
    assert room.s.get(AuthRequest, made.id).tries == 5


@pytest.mark.req("P15")
def test_expired_and_foreign_codes_are_refused(room, app, db_session):
    made = ask(room)
    row = room.s.get(AuthRequest, made.id)
    bound = dict(action=row.action, room_code=room.room.code, session_id=row.session_id, subject=row.subject,
                 candidates_hash_=row.candidates_hash, parameter=row.parameter, request_code=row.request_code,
                 valid_from=row.valid_from, valid_until=row.valid_until)
    other_site = venues.create_site(db_session, code="7770001", name="别处")
    db_session.commit()
    foreign = [authcodes.compute(room.secret, other_site.id, **bound),              # another site's key
               authcodes.compute(room.secret, row.site_id, **{**bound, "parameter": 1800}),  # more time than asked
               authcodes.compute(room.secret, row.site_id, **{**bound, "room_code": "R02"}),
               authcodes.compute("another authority", row.site_id, **bound)]
    for code in foreign:
        with pytest.raises(authcodes.CodeRefused, match="Wrong"):
            spend(room, made, code)
        room.s.rollback()
    with pytest.raises(InvalidState, match="another act"):  # the request was for 900 s, not 1800
        spend(room, made, authority_code(room, made), parameter=1800)
    room.s.rollback()
    fresh = ask(room, parameter=600)
    clock.set_offset(31 * 60)
    with pytest.raises(authcodes.CodeRefused, match="expired"):
        spend(room, fresh, authority_code(room, fresh), parameter=600)


@pytest.mark.req("P15")
def test_at_most_three_open_requests_and_an_online_approval(room):
    made = [ask(room, parameter=p) for p in (60, 120, 180)]
    with pytest.raises(InvalidState, match="open requests"):
        ask(room, parameter=240)
    room.s.rollback()
    assert ask(room, action="delay_start", parameter=0).action == "delay_start"  # another act has its own three
    authcodes.approve(room.s, made[0].id, actor="admin:1")
    room.s.commit()
    assert spend(room, made[0], None, parameter=60).approved_by == "admin:1"
    authcodes.cancel(room.s, made[1].id, actor="user:7")
    room.s.commit()
    with pytest.raises(authcodes.CodeRefused, match="expired"):
        spend(room, made[1], authority_code(room, made[1]), parameter=120)


@pytest.mark.req("P15")
def test_exambridge_authcode_prints_the_code_and_what_it_opens(room, app):
    made = ask(room, parameter=900)
    done = run_cli(app, "authcode", made.request_code)
    assert done.returncode == 0, done.stderr
    assert "extra_time" in done.stdout and "R01" in done.stdout and "900" in done.stdout
    code = done.stdout.strip().splitlines()[-1].split()[-1]
    # the CLI runs under its own secret (tests.fixtures.cli): its code is the one that secret gives
    assert code == authcodes.code_for(room.s, room.s.get(AuthRequest, made.id), secret_key="cli-test")
    unknown = run_cli(app, "authcode", "00000000")
    assert unknown.returncode != 0 and "no request" in unknown.stderr
    assert dataclasses.is_dataclass(made)


@pytest.mark.req("P15")
def test_two_acts_racing_for_one_code_never_both_pass(room, app):
    """The second act read the request while it was open; the first spent it meanwhile."""
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    made = ask(room)
    code = authority_code(room, made)
    stale = room.s.get(AuthRequest, made.id)
    assert stale.status == "open"
    with Session(room.s.get_bind()) as other, other.begin():  # the other console's act, committed first
        other.execute(update(AuthRequest).where(AuthRequest.id == made.id).values(status="used"))
    with pytest.raises(authcodes.CodeRefused, match="used already"):
        spend(room, made, code)
