"""``exambridge bench kiosks`` as a real command at small size (no timing assertions: the
machine is shared): a real bridge process, simulated kiosks on real WebSockets from a load
process of their own, a broadcast command, a SIGKILL and restart of the bridge. Every kiosk
connects, and no answer event made on a kiosk is missing from the database at the end.
Full size (5,000 kiosks, docs/performance.md) under ``EXAMBRIDGE_BENCH_SCALE=full``."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.test_serve import EXAMBRIDGE

FULL = os.environ.get("EXAMBRIDGE_BENCH_SCALE") == "full"
SIZES = [(5000, 30)] if FULL else [(20, 3)]


@pytest.mark.req("K2", "K4", "K6")
@pytest.mark.timeout(0 if FULL else 300)
@pytest.mark.parametrize("count, seconds", SIZES)
def test_bench_kiosks_connects_all_and_loses_nothing(count, seconds):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMBRIDGE_")}
    done = subprocess.run([*EXAMBRIDGE, "bench", "kiosks", "--count", str(count), "--seconds", str(seconds)],
                          capture_output=True, text=True, env=env, timeout=None if FULL else 280)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    print(f"\n{lines[0]}\n{done.stderr.strip()}")
    assert set(result) == {"kiosks", "connected", "rss_mb_bridge", "kb_per_kiosk", "cpu_pct_bridge",
                           "heartbeat_p99_ms", "broadcast_p99_ms", "broadcast_read_p99_ms", "reconnect_all_s",
                           "events_lost"}
    assert result["kiosks"] == count
    assert result["connected"] == count
    assert result["events_lost"] == 0
    assert result["reconnect_all_s"] is not None  # every kiosk came back after the restart
