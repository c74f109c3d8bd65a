"""Turning an uploaded file into text, or refusing it with a message a teacher can act on.

Teachers' files come from Moodle (UTF-8), from Windows editors (UTF-16 with a BOM, or
UTF-8 with a BOM) and, for Chinese teachers, from tools that still save GBK. Anything
else, and anything binary, is refused rather than guessed at.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import re

from .errors import FormatError

MiB = 1024 * 1024
MAX_FILE_BYTES = 10 * MiB
MAX_MEDIA_BYTES = 5 * MiB

_SAVE_AS_UTF8 = "Open it in a text editor and save it as UTF-8."
# Magic numbers of files teachers upload by mistake, for a message that says what it is.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (a Word, Excel or .mbz file is one)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.doc/.xls)"),
)
# Control characters that never occur in a text file (tab, newlines and form feed do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\u2000-\u206f]")


def read_text(data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Decode an uploaded question file to text.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such. GB18030 (a superset
    of GBK and GB2312) is tried only when UTF-8 fails, and kept only when the result looks
    like Chinese text: a Latin-1 file decoded as GBK gives rare ideographs and symbols,
    which that check refuses rather than importing mojibake.
    """
    if len(data) > max_bytes:
        raise FormatError(
            f"the file is {_size(len(data))}, more than the limit of {_size(max_bytes)}. "
            "Split the question bank into smaller files (for example one per category) "
            "and import them one by one.")
    if data.startswith(codecs.BOM_UTF32_LE) or data.startswith(codecs.BOM_UTF32_BE):
        raise FormatError(f"the file is UTF-32 text, which is not supported. {_SAVE_AS_UTF8}")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise FormatError(
                f"the file is {what}, not a question file. Export the questions from Moodle "
                "as 'Moodle XML format' or write them as GIFT text.")
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        text = _decode(data, "utf-16", "UTF-16")
    elif b"\x00" in data:
        raise FormatError(
            "the file contains binary data (NUL bytes), so it is not a text file. "
            "If it is UTF-16 text without a byte-order mark, " + _SAVE_AS_UTF8)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = _chinese_or_refuse(data, exc)
    if _CONTROL.search(text):
        raise FormatError(
            "the file contains control characters that never occur in text, so it looks "
            "like a binary file. Export the questions again as Moodle XML or GIFT.")
    return text


def _decode(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"the file starts as {label} text but byte {exc.start} is not valid {label}. "
            + _SAVE_AS_UTF8) from None


def _chinese_or_refuse(data: bytes, utf8_error: UnicodeDecodeError) -> str:
    refusal = FormatError(
        f"the file is not UTF-8 text (byte {utf8_error.start} is not valid UTF-8) and not "
        f"Chinese GBK text either. {_SAVE_AS_UTF8}")
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise refusal from None
    wide = [ch for ch in text if ord(ch) > 0x7F]
    cjk = sum(1 for ch in wide if _CJK.match(ch))
    if not wide or cjk < 0.9 * len(wide):
        raise refusal
    return text


def _size(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


class MediaError(ValueError):
    """One embedded file is unusable; the question that holds it is skipped."""


def decode_media(name: str, payload: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> bytes:
    """Strict base64 of one embedded file (whitespace between lines allowed)."""
    compact = re.sub(r"\s+", "", payload)
    # Base64 grows by 4/3: refuse before decoding something far too big.
    if len(compact) * 3 // 4 > max_bytes + 3:
        raise MediaError(f"the embedded file {name!r} is larger than {_size(max_bytes)}; "
                         "use a smaller image")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(f"the embedded file {name!r} is not valid base64; "
                         "export the question from Moodle again") from None
    if len(data) > max_bytes:
        raise MediaError(f"the embedded file {name!r} is larger than {_size(max_bytes)}; "
                         "use a smaller image")
    return data


def media_name(name: str) -> str:
    """A relative file name that can't climb out of the question's file area."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise MediaError(f"the embedded file name {name!r} is not a plain file name")
    return name


# The raster images a question may carry, told by their first bytes (the WHATWG MIME
# Sniffing standard's image patterns), never by the file's name or declared type: an SVG or
# HTML file is active content and would run on the bridge's origin.
def sniff_image(data: bytes) -> str | None:
    """``image/png``, ``image/jpeg``, ``image/gif`` or ``image/webp`` by the bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:14] == b"WEBPVP":
        return "image/webp"
    return None


def image_mime(name: str, data: bytes) -> str:
    """The sniffed type of an embedded image; MediaError (the question is skipped, with this
    reason in the import report) for anything that is not a PNG, JPEG, GIF or WebP image."""
    mime = sniff_image(data)
    if mime is None:
        raise MediaError(f"the embedded file {name!r} is not a PNG, JPEG, GIF or WebP image (by its "
                         "content, whatever its name says); only those images can be imported. "
                         "Convert it to PNG and import the question again")
    return mime
