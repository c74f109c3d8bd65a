"""HTML to PDF with Debian's chromium (``chromium --headless --print-to-pdf``): the door
seating chart and other printouts, in Chinese with fonts-noto-cjk. The page is rendered
from a temporary file with the network blocked (``OFFLINE``) and no extensions, so nothing a
template names (an image, a style sheet, a font, a frame, a script's fetch) is ever fetched."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bridge.errors import DomainError
from bridge.i18n import N_

TIMEOUT_S = 60
# No request leaves the renderer: every host name resolves to nothing, and every request,
# loopback included (Chromium lets loopback bypass a proxy unless told not to), goes to a
# proxy whose own name does not resolve; neither WebRTC nor QUIC may send UDP around it.
# (Scripts stay on: headless --print-to-pdf writes nothing without them.)
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://proxy.invalid:1",
           "--proxy-bypass-list=<-loopback>", "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
           "--disable-quic", "--dns-prefetch-disable")


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
                   "--disable-component-update", "--disable-extensions", "--no-first-run", *OFFLINE,
                   f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
                   f"--print-to-pdf={out}", page.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired):
            raise PdfUnavailable(N_("The PDF could not be made in time; print the HTML page instead."))
        if not out.exists() or out.stat().st_size == 0:
            raise PdfUnavailable(N_("The PDF could not be made; print the HTML page instead."))
        return out.read_bytes()
