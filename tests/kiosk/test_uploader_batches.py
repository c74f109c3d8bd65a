"""The agent's ``events`` messages stay under the bridge's message limit whatever the
answers' size (review H4: 100 autosaves of a long essay made 1 MiB, the bridge closed the
socket and the same batch came back after every reconnect)."""
from __future__ import annotations

import pytest

from kiosk_agent import protocol as P
from kiosk_agent.uploader import MAX_BATCH, take_batch

pytestmark = pytest.mark.req("K4")


def essay(seq: int, chars: int) -> dict:
    return {"writer": "tab-1", "seq": seq, "question_id": 7, "response": {"text": "中" * chars, "format": "plain"},
            "client_time": 1.0, "epoch": 1}


def test_large_answers_are_split_by_size_in_seq_order():
    pending = [essay(seq, 3_500) for seq in range(1, 101)]
    sent = []
    while pending:
        batch, pending = take_batch(pending)
        message = P.message(P.EVENTS, {"attempt_id": 1, "token": "t" * 64, "events": batch}).encode().encode()
        assert len(message) < P.MAX_MESSAGE_BYTES and len(batch) >= 1
        sent.extend(e["seq"] for e in batch)
    assert sent == list(range(1, 101))


def test_small_answers_still_go_a_hundred_at_a_time_and_a_huge_one_alone():
    small = [essay(seq, 1) for seq in range(1, 251)]
    batch, rest = take_batch(small)
    assert len(batch) == MAX_BATCH and rest[0]["seq"] == MAX_BATCH + 1
    huge = [essay(1, 21_000), essay(2, 21_000)]  # ~63 KiB each in UTF-8
    first, rest = take_batch(huge)
    assert [e["seq"] for e in first] == [1, 2] and rest == []  # 2 × ~63 KiB fit in one message
    assert take_batch([essay(1, 200_000)])[0][0]["seq"] == 1  # one event always goes, even oversize
