"""``exambridge bench autosave`` as a real command: at small size under ``make test`` (no
timing assertions: the machine is shared), at full size under ``make bench``
(``EXAMBRIDGE_BENCH_SCALE=full``: 1,000 candidates × 1 save/s for 30 s, and a 2,000-candidate
submission burst), on SQLite and, where selected, PostgreSQL. Either way nothing
acknowledged may be lost or stored twice."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.fixtures.apps import BACKENDS, PG_ADMIN_URL
from tests.test_serve import EXAMBRIDGE

FULL = os.environ.get("EXAMBRIDGE_BENCH_SCALE") == "full"
SIZES = [(1000, 1, 30), (2000, 0.5, 10)] if FULL else [(20, 2, 3)]


@pytest.mark.req("C5", "C7")
@pytest.mark.timeout(0 if FULL else 300)
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("candidates, rate, seconds", SIZES)
def test_bench_autosave_loses_nothing(backend_name, candidates, rate, seconds):
    args = [*EXAMBRIDGE, "bench", "autosave", "--candidates", str(candidates), "--rate", str(rate),
            "--seconds", str(seconds)]
    if backend_name == "postgresql":
        args += ["--database-url", PG_ADMIN_URL]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMBRIDGE_")}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=None if FULL else 280)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    print(f"\n{backend_name}: {lines[0]}\n{done.stderr.strip()}")
    assert set(result) == {"candidates", "saves", "saves_per_s", "p50_ms", "p99_ms", "submit_burst_s",
                           "lost", "duplicated"}
    assert result["candidates"] == candidates
    assert result["saves"] == candidates * round(rate * seconds)
    assert result["lost"] == 0 and result["duplicated"] == 0
