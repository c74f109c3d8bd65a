"""The slow-client scene at full size (``make bench``, ``EXAMBRIDGE_BENCH_SCALE=full``): a
thousand half-open and trickling connections from twenty loopback addresses against a real
``exambridge serve``, while twenty candidates autosave and a kiosk agent stays connected.
Prints the figures (refusals, how long after their deadline the slow connections were
closed, the candidates' save latencies). The small size runs in ``make test``
(tests/test_slow_clients.py)."""
from __future__ import annotations

import json
import os

import pytest

from tests.test_slow_clients import FULL as FULL_SIZE
from tests.test_slow_clients import run

FULL = os.environ.get("EXAMBRIDGE_BENCH_SCALE") == "full"


@pytest.mark.req("C5", "K2")
@pytest.mark.timeout(0 if FULL else 120)
@pytest.mark.skipif(not FULL, reason="full size under `make bench`; the small size is tests/test_slow_clients.py")
def test_bench_slow_clients_full(tmp_path):
    figures = run(tmp_path, FULL_SIZE)
    print(f"\nslow clients (full): {json.dumps(figures)}")
    assert figures["slow_connections"] == FULL_SIZE.addresses * FULL_SIZE.per_address
