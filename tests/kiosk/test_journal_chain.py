"""The agent chains answers exactly as the bridge does (K4): the same canonical form,
payload hash and event hash, so a kiosk can prove what it holds and continue the chain
offline. The agent keeps its own copy (it never imports the bridge); this test ties them."""
from __future__ import annotations

import pytest

from bridge.services.delivery import answers
from kiosk_agent.answer_pack import model
from kiosk_agent.journal import Journal

pytestmark = pytest.mark.req("K4")

SAMPLES = [
    (101, {"choice": "b"}),
    (102, {"choices": ["a", "c"], "flagged": True}),
    (103, {"value": False}),
    (104, {"blanks": ["巴黎", None]}),
    (105, {"text": "<p>Ünïcödé — 水的沸点 \"quoted\" \\ back</p>", "format": "html"}),
    (106, {"sha256": "0" * 64, "name": "作业.pdf"}),
    (107, {"text": "", "format": "plain", "n": 1.5, "big": 2**40}),
]


@pytest.mark.parametrize("question_id, response", SAMPLES)
def test_canonical_form_and_payload_hash_agree(question_id, response):
    assert model.canonical(response) == answers.canonical(response)
    assert model.payload_hash(question_id, response) == answers.payload_hash(question_id, response)


def test_event_hashes_agree_along_a_chain():
    prev_agent = prev_bridge = None
    for seq, (question_id, response) in enumerate(SAMPLES, start=1):
        digest = model.payload_hash(question_id, response)
        prev_agent = model.event_hash(prev_agent, 41, "kiosk-7:tab-1", seq, 2, digest)
        prev_bridge = answers.event_hash(prev_bridge, 41, "kiosk-7:tab-1", seq, 2, digest)
        assert prev_agent == prev_bridge


def test_the_journal_heads_are_the_bridge_hashes(tmp_path):
    journal = Journal(tmp_path)
    events = [{"writer": "w", "seq": seq, "question_id": q, "response": r, "client_time": None, "epoch": 1}
              for seq, (q, r) in enumerate(SAMPLES, start=1)]
    journal.append(41, events[:3])
    journal.append(41, events[3:])
    prev = None
    for event in events:
        prev = answers.event_hash(prev, 41, "w", event["seq"], 1,
                                  answers.payload_hash(event["question_id"], event["response"]))
    assert journal.heads(41) == {"w": {"seq": len(SAMPLES), "head": prev}}
