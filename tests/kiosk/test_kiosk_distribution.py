"""The kiosk agent installs on an exam PC without the server (K1): ``pip install
packaging/kiosk`` into an empty venv brings the ``kiosk_agent`` package, the
``exambridge-kiosk`` script, websocket-client and cryptography, and nothing of the bridge
(Flask, SQLAlchemy, gevent, psycopg, redis, the sandbox LMS). Runs pip as ``make setup``
does (its cache, the index); under CI=true it runs like any other test, it never skips."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KIOSK_DISTRIBUTION = REPO / "packaging" / "kiosk"

# Distributions of the server side that must never reach an exam PC.
SERVER_ONLY = {"exambridge", "flask", "flask-sqlalchemy", "flask-babel", "sqlalchemy", "alembic", "gevent",
               "psycopg", "psycopg-binary", "redis", "lti1p3platform", "gunicorn"}

# Imports every module of the installed agent (a module needing anything the venv lacks fails
# here), then names what it imported from outside the standard library and where kiosk_agent came from.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import kiosk_agent
names = [m.name for m in pkgutil.walk_packages(kiosk_agent.__path__, "kiosk_agent.")
         if not m.name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
outside = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
print(json.dumps({"modules": names, "outside": outside, "file": kiosk_agent.__file__}))
"""


def _run(args, cwd, timeout=240):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_NO_INPUT"] = "1"
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _ok(out):
    assert out.returncode == 0, f"{out.args} exited {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.req("K1")
@pytest.mark.timeout(300)
def test_the_agent_installs_alone_into_an_empty_venv(tmp_path):
    venv = tmp_path / "venv"
    # cwd is tmp_path throughout: nothing of the checkout is on sys.path by accident
    _ok(_run([sys.executable, "-m", "venv", venv], cwd=tmp_path, timeout=120))
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]

    _ok(_run([*pip, "install", "--no-compile", KIOSK_DISTRIBUTION], cwd=tmp_path))

    listed = json.loads(_ok(_run([*pip, "list", "--format=json"], cwd=tmp_path)).stdout)
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in listed}
    assert "exambridge-kiosk" in installed
    assert {"websocket-client", "cryptography"} <= set(installed)
    assert not SERVER_ONLY & set(installed), f"server packages on the exam PC: {sorted(SERVER_ONLY & set(installed))}"

    # the distribution's files: the kiosk_agent package, its metadata and the script, nothing else
    meta = json.loads(_ok(_run([python, "-c",
                                "import importlib.metadata as m, json; d = m.distribution('exambridge-kiosk'); "
                                "print(json.dumps({'files': [str(f) for f in d.files], 'requires': d.requires}))"],
                               cwd=tmp_path)).stdout)
    files = [f.replace("\\", "/") for f in meta["files"]]
    inside = {f.split("/")[0] for f in files if not f.startswith("../")}
    assert {t for t in inside if not t.endswith(".dist-info")} == {"kiosk_agent"}, inside
    assert [Path(f).stem for f in files if f.startswith("../")] == ["exambridge-kiosk"], files
    assert {"kiosk_agent/cli.py", "kiosk_agent/lockdown/__init__.py", "kiosk_agent/answer_pack/__init__.py"} <= set(files)
    assert sorted(re.match(r"[A-Za-z0-9._-]+", r).group().lower() for r in meta["requires"]) == \
        ["cryptography", "websocket-client"]

    # every module of the agent imports with only its two dependencies, from the venv, not the checkout
    imported = json.loads(_ok(_run([python, "-c", IMPORT_ALL], cwd=tmp_path)).stdout)
    assert "kiosk_agent.cli" in imported["modules"] and "kiosk_agent.agent" in imported["modules"]
    assert Path(imported["file"]).resolve().is_relative_to(venv.resolve())
    assert {"websocket", "cryptography"} <= set(imported["outside"])  # anything else missing failed the import
    assert _run([python, "-c", "import bridge"], cwd=tmp_path).returncode != 0

    script = bindir / ("exambridge-kiosk.exe" if os.name == "nt" else "exambridge-kiosk")
    out = _ok(_run([script, "--help"], cwd=tmp_path, timeout=60))
    assert out.stdout.startswith("usage: exambridge-kiosk")
    for command in ("run", "export-pack", "check", "status", "version"):
        assert command in out.stdout
    version = _ok(_run([script, "version"], cwd=tmp_path, timeout=60))
    assert version.stdout.startswith(f"exambridge-kiosk {installed['exambridge-kiosk']} ")
