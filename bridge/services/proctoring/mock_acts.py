"""The extras of a mock site (P14): log everyone in, answer the objective items, collect all."""
from __future__ import annotations


from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.errors import Forbidden, InvalidState
from bridge.i18n import N_
from bridge.models.attempts import AnswerEvent as AnswerEventSeq, Attempt
from bridge.models.sittings import Sitting
from bridge.services import audit
from bridge.services.exams.sitting_state import login_open
from bridge.services.proctoring.boards import board
from bridge.services.proctoring.basics import _session_exam, sitting_of


# --- mock exam extras (P14) ---------------------------------------------------------------
def _mock_only(session: Session, sitting: Sitting) -> None:
    from bridge.models.venues import Site

    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    if site is None or site.mode != "mock":
        raise Forbidden(N_("This is only for a mock exam site."))


def mock_login(session: Session, sitting_id: int, *, actor: str = "") -> int:
    """Log every candidate of the room in and past the rules (a mock exam's rehearsal)."""
    from bridge.services.delivery import attempts as attempts_

    sitting = sitting_of(session, sitting_id, actor)
    _mock_only(session, sitting)
    sess, exam, _paper = _session_exam(session, sitting)
    if not login_open(sitting, sess):
        raise InvalidState(N_("Allow the login first."))
    done = 0
    for s in board(session, sitting.id).seats:
        if s.status == "not_logged_in":
            attempt = attempts_.log_in(session, exam, s.user_id, mode="kiosk")
            attempts_.read_rules(session, attempt)
            done += 1
    audit.record(session, "console.mock_login", actor=actor, target=f"sitting:{sitting.id}", detail={"count": done})
    return done


def mock_answer(session: Session, sitting_id: int, *, seed: int = 0, actor: str = "") -> int:
    """Answer every objective item of every candidate in the exam at random (single, multiple,
    true/false), as the writer ``mock``: a rehearsal of collection and upload. Returns the
    number of answers stored."""
    import random

    from bridge.models.bank import Question
    from bridge.services.delivery import answers

    sitting = sitting_of(session, sitting_id, actor)
    _mock_only(session, sitting)
    rng = random.Random(seed)
    stored = 0
    for s in board(session, sitting.id).seats:
        if s.status != "in_exam":
            continue
        attempt = session.get(Attempt, s.attempt_id)
        seq = (session.scalar(select(func.max(AnswerEventSeq.seq)).where(AnswerEventSeq.attempt_id == attempt.id,
                                                                         AnswerEventSeq.writer == "mock")) or 0)
        for item in attempt.items:
            q = session.get(Question, item["question_id"])
            ids = [c["id"] for c in (q.choices or [])]
            if q.qtype == "single" and ids:
                response = {"choice": rng.choice(ids)}
            elif q.qtype == "multiple" and ids:
                response = {"choices": sorted(rng.sample(ids, rng.randint(1, len(ids))))}
            elif q.qtype == "truefalse":
                response = {"value": rng.random() < 0.5}
            else:
                continue
            seq += 1
            answers.append(session, attempt.id, writer="mock", seq=seq, question_id=q.id, response=response,
                           client_time=None, epoch=attempt.epoch)
            stored += 1
    audit.record(session, "console.mock_answer", actor=actor, target=f"sitting:{sitting.id}", detail={"answers": stored})
    return stored


def mock_collect(session: Session, sitting_id: int, *, actor: str = "") -> int:
    """统一收卷: submit every candidate still in the exam at once (mock exams only)."""
    from bridge.services.delivery import attempts as attempts_

    sitting = sitting_of(session, sitting_id, actor)
    _mock_only(session, sitting)
    done = 0
    for s in board(session, sitting.id).seats:
        if s.status in ("in_exam", "locked"):
            attempts_.submit(session, session.get(Attempt, s.attempt_id), reason="proctor", actor=actor)
            done += 1
    audit.record(session, "console.mock_collect", actor=actor, target=f"sitting:{sitting.id}", detail={"count": done})
    return done
