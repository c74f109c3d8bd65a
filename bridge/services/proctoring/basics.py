"""What every act on a room's sitting needs: the sitting, once the actor is seen to cover it
(``sitting_of``); a candidate's attempt in that room (``_attempt_here``); the console's timings
and the candidate states it counts."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.models.devices import Kiosk
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, Paper, SessionCandidate
from bridge.models.sittings import Sitting
from bridge.services.people import access


START_OPENS = dt.timedelta(minutes=15)      # "allow start" from a quarter of an hour before the start
START_GRACE = dt.timedelta(minutes=5)       # ... and without a delay code until five minutes after it
FREE_EXTRA_SECONDS = 600                    # extra time per candidate without a code (seed 001 §2.8)
OFFLINE_AFTER = dt.timedelta(seconds=150)


#: the national rules' list (《国家教育考试违规处理办法》第五条), editable in the catalogue
DEFAULT_VIOLATIONS = (
    ("A101", "携带通讯工具、规定以外的电子用品或与考试内容相关的资料进入座位，经提醒仍不改正的"),
    ("A102", "未在规定的座位参加考试的"),
    ("A103", "考试开始信号发出前答题或者考试结束信号发出后继续答题的"),
    ("A104", "在考试过程中旁窥、交头接耳、互打暗号或者手势的"),
    ("A105", "在考场或者教育考试机构禁止的范围内，喧哗、吸烟或者实施其他影响考场秩序的行为的"),
    ("A106", "未经考试工作人员同意在考试过程中擅自离开考场的"),
    ("A107", "将试卷、答卷、草稿纸等考试用纸带出考场的"),
    ("A108", "用规定以外的笔或者纸答题或者在试卷规定以外的地方书写姓名、考号或者以其他方式在答卷上标记信息的"),
    ("A109", "其他违反考场规则但尚未构成作弊的行为"),
)
LOGGED_IN = ("logged_in", "rules_read", "in_exam", "locked", "submitted")
DONE = ("submitted", "absent")


# --- the sitting and its state ------------------------------------------------------------
def sitting_of(session: Session, sitting_id: int, actor: str = "") -> Sitting:
    """The sitting, once ``actor`` is seen to cover it (``bridge.services.people.access``)."""
    row = session.get(Sitting, sitting_id) if type(sitting_id) is int else None
    if row is None:
        raise NotFound(N_("That sitting does not exist."))
    access.check_sitting(session, actor, row)
    return row


def _session_exam(session: Session, sitting: Sitting) -> tuple[ExamSession, Exam, Paper]:
    sess = session.get(ExamSession, sitting.session_id)
    exam = session.get(Exam, sess.exam_id)
    paper = session.scalar(select(Paper).where(Paper.exam_id == exam.id))
    return sess, exam, paper


def _clean(value: Any, limit: int) -> str:
    return str(value or "").strip()[:limit]


def _attempt_here(session: Session, sitting: Sitting, attempt_id: int, *, lock: bool = False) -> Attempt:
    """The attempt, if it is of a candidate of this room (``lock``: the row locked for the
    act that changes it; PostgreSQL: two proctors never add on a stale value)."""
    attempt = (session.get(Attempt, attempt_id, with_for_update=lock, populate_existing=lock)
               if type(attempt_id) is int else None)
    if attempt is None or attempt.session_id != sitting.session_id or session.scalar(
            select(SessionCandidate.room_id).where(SessionCandidate.session_id == sitting.session_id,
                                                   SessionCandidate.user_id == attempt.user_id)) != sitting.room_id:
        raise NotFound(N_("That candidate is not in this room."))
    return attempt


def json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _kiosks_of(session: Session, attempt_ids: list[int]) -> dict[int, int]:
    return {attempt: kiosk for kiosk, attempt in session.execute(
        select(Kiosk.id, Kiosk.attempt_id).where(Kiosk.attempt_id.in_(attempt_ids), Kiosk.status != "retired"))}
