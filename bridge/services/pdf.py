"""HTML to PDF with Debian's chromium (``chromium --headless --print-to-pdf``): the door
seating chart and other printouts, in Chinese with fonts-noto-cjk. The page is rendered
from a temporary file, offline (no network, no extensions)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bridge.errors import DomainError
from bridge.i18n import N_

TIMEOUT_S = 60


class PdfUnavailable(DomainError):
    http_status = 503
    code = "pdf_unavailable"


def chromium() -> str | None:
    configured = os.environ.get("EXAMBRIDGE_CHROMIUM")
    return configured or shutil.which("chromium") or shutil.which("chromium-browser")


def html_to_pdf(html: str) -> bytes:
    binary = chromium()
    if not binary:
        raise PdfUnavailable(N_("PDF needs chromium on the server (apt install chromium fonts-noto-cjk); "
                                "print the HTML page instead."))
    with tempfile.TemporaryDirectory(prefix="exambridge-pdf-") as tmp:
        page, out = Path(tmp) / "page.html", Path(tmp) / "page.pdf"
        page.write_text(html, encoding="utf-8")
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-extensions", "--no-first-run",
                   f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
                   f"--print-to-pdf={out}", page.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired):
            raise PdfUnavailable(N_("The PDF could not be made in time; print the HTML page instead."))
        if not out.exists() or out.stat().st_size == 0:
            raise PdfUnavailable(N_("The PDF could not be made; print the HTML page instead."))
        return out.read_bytes()
