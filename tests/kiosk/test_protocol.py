"""The envelope both sides share: round trip, and clear refusals for anything malformed."""
import json
import subprocess
import sys

import pytest

from kiosk_agent.protocol import Envelope, ProtocolError, decode


@pytest.mark.req("K2")
def test_round_trip():
    env = Envelope(type="heartbeat", payload={"seat": 7, "名": "座位"})
    again = decode(env.encode())
    assert again == env


@pytest.mark.req("K2")
@pytest.mark.parametrize("raw, fragment", [
    ("not json", "not JSON"),
    ("[1,2]", "not a JSON object"),
    (json.dumps({"v": 2, "type": "x", "id": "1", "ts": 1}), "version 2"),
    (json.dumps({"v": 1, "id": "1", "ts": 1}), "no type"),
    (json.dumps({"v": 1, "type": "x", "id": "", "ts": 1}), "id must be"),
    (json.dumps({"v": 1, "type": "x", "id": "1", "ts": "now"}), "ts must be"),
    (json.dumps({"v": 1, "type": "x", "id": "1", "ts": 1, "payload": []}), "payload must be"),
    (b"\xff\xfe", "not UTF-8"),
    ("x" * (1 << 20 + 1), "larger than"),
    # numbers and nesting that json accepts but Python cannot hold: refused, never a traceback
    ('{"v":1,"type":"x","id":"a","ts":1e400,"payload":{}}', "ts must be"),
    ('{"v":1,"type":"x","id":"a","ts":' + "9" * 400 + ',"payload":{}}', "ts must be"),
    ('{"v":1,"type":"x","id":"a","ts":1,"payload":{"n":' + "9" * 5000 + "}}", "out of range"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"v":1,"type":"x","id":"a","ts":1,"payload":{"d":NaN}}', "NaN"),
])
def test_malformed_messages_are_refused_with_a_reason(raw, fragment):
    with pytest.raises(ProtocolError) as exc:
        decode(raw)
    assert fragment in str(exc.value)


def test_entry_point_reports_versions():
    out = subprocess.run([sys.executable, "-m", "kiosk_agent.cli", "version"], capture_output=True, text=True,
                         check=True)
    assert "protocol v1" in out.stdout
