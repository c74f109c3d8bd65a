"""Translations: extract messages, update the catalogues, compile them.

    .venv/bin/python scripts/i18n.py update    # after changing user-visible text
    .venv/bin/python scripts/i18n.py compile   # .po -> .mo (done by `make translations`)
    .venv/bin/python scripts/i18n.py check     # exit 1 if a message lacks a zh_CN translation

The Chinese catalogue lives in ``translations/zh_Hans_CN``: Babel expands the locale
``zh_CN`` to ``zh_Hans_CN`` before gettext looks for the folder.

Service errors are extracted through the error constructors (``Invalid("…")`` and the
LTI errors) and ``N_("…")``; templates translate them when they render. Pieces of
f-strings are extracted too; give them their own text as translation (they never show
alone), so that ``check`` stays a plain "everything is translated".
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "bridge" / "translations"
POT = ROOT / "build" / "messages.pot"
KEYWORDS = ["_", "gettext", "ngettext:1,2", "lazy_gettext", "N_", "_reject:2", "LaunchRejected:1",
            "LoginRejected:1", "LtiError:1", "RegistrationError:1", "ServiceError:1", "Invalid:1",
            "Forbidden:1", "Conflict:1", "NotFound:1", "Unauthorized:1", "InvalidState:1"]
LOCALES = ["zh_Hans_CN"]  # English is the source language


def pybabel(*args: str) -> None:
    exe = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(exe), "-q", *args], check=True, cwd=ROOT)


def extract() -> None:
    POT.parent.mkdir(exist_ok=True)
    args = ["extract", "-F", "babel.cfg", "--no-location", "--sort-output", "--no-wrap", "-o", str(POT)]
    for k in KEYWORDS:
        args += ["-k", k]
    pybabel(*args, ".")


def update() -> None:
    extract()
    for loc in LOCALES:
        po = TRANSLATIONS / loc / "LC_MESSAGES" / "messages.po"
        if po.exists():
            pybabel("update", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", loc, "--no-fuzzy-matching",
                    "--no-wrap")  # the catalogue keeps one line per message: small diffs
        else:
            pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", loc)


def compile_() -> None:
    pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")


def missing(locale: str = "zh_Hans_CN") -> list[str]:
    from babel.messages.pofile import read_po

    extract()
    with open(POT, "rb") as fh:
        template = read_po(fh)
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh)
    out = []
    for msg in template:
        if not msg.id:
            continue
        found = catalog.get(msg.id)
        if found is None or not found.string or found.fuzzy:
            out.append(msg.id)
    return out


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    if cmd == "update":
        update()
    elif cmd == "compile":
        compile_()
    elif cmd == "check":
        gaps = missing()
        for m in gaps:
            print(f"missing zh_CN: {m!r}")
        sys.exit(1 if gaps else 0)
    else:
        sys.exit(__doc__)
