"""The proctor's one-time unlock code is guessable in a million; five wrong tries void it, as
five wrong authorization codes lock a request, and the tries are counted where a failed
unlock cannot take them back."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bridge import clock
from tests.web.test_sitting import _api, _attempt_id, _setup


def _locked_with_code(lti_env):
    _teacher, student, ids = _setup(lti_env)
    lti_env.get(f"/exam/{ids['exam']}/sit", http=student)
    attempt_id = _attempt_id(lti_env)
    lti_env.post(f"/attempt/{attempt_id}/rules", http=student, data={"confirm": "1"})
    clock.set_offset(6 * 60)
    lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    _api(lti_env, student, f"/attempt/{attempt_id}/lock", {"why": "blur"})
    shown = lti_env.post(f"/exam/{ids['exam']}/proctor/{attempt_id}/code")
    code = re.search(r"Unlock code for Sam Student: (\d{6})", shown.text).group(1)
    return student, ids, attempt_id, code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def _status(lti_env, attempt_id):
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt
        return db.session.get(Attempt, attempt_id).status


@pytest.mark.req("C6")
def test_the_fifth_wrong_unlock_code_voids_it(lti_env):
    student, ids, attempt_id, code = _locked_with_code(lti_env)
    answers = [_api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": _wrong(code)}) for _ in range(5)]
    assert [a.status_code for a in answers] == [403] * 5
    assert "Too many wrong unlock codes" not in answers[3].text
    assert "Too many wrong unlock codes" in answers[4].json()["message"]
    right = _api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": code})
    assert right.status_code == 403 and _status(lti_env, attempt_id) == "locked"
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import AttemptLog
        actions = db.session.scalars(select(AttemptLog.action).where(AttemptLog.attempt_id == attempt_id)).all()
    assert actions.count("unlock_code_voided") == 1 and actions.count("unlock_refused") == 6

    # a new code from the proctor works at once
    shown = lti_env.post(f"/exam/{ids['exam']}/proctor/{attempt_id}/code")
    fresh = re.search(r"Unlock code for Sam Student: (\d{6})", shown.text).group(1)
    assert _api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": fresh}).json() == {"status": "in_exam"}


@pytest.mark.req("C6")
def test_the_count_outlives_a_void_that_was_undone(lti_env):
    """Even were the voiding lost with a failed unit of work (the code's hash back in place),
    the tries were committed on their own: the right code stays refused."""
    from bridge.extensions import transaction
    from bridge.models.attempts import Attempt
    from bridge.services.delivery import attempts

    student, _ids, attempt_id, code = _locked_with_code(lti_env)
    with lti_env.app.app_context():
        from bridge.extensions import db
        saved = db.session.get(Attempt, attempt_id).unlock_code_hash, db.session.get(Attempt, attempt_id).unlock_code_expires_at
    for _ in range(5):
        _api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": _wrong(code)})
    with lti_env.app.app_context(), transaction() as s:
        a = s.get(Attempt, attempt_id)
        a.unlock_code_hash, a.unlock_code_expires_at = saved
        assert a.unlock_code_hash == attempts._hash_code(a, code)
    right = _api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": code})
    assert right.status_code == 403 and _status(lti_env, attempt_id) == "locked"
