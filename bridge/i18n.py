"""Languages without Flask (services import this): ``N_`` marks a message for extraction where
it is not translated on the spot (service errors are translated when rendered: templates call
``_(message)``); ``translate`` uses the translator the app sets; the locales we serve, and
numbers as people read them."""
from __future__ import annotations

from typing import Any

LOCALES = ("zh_CN", "en")


def N_(message: str) -> str:
    return message


def _untranslated(message: str, **params) -> str:
    return message % params if params else message


_translate = _untranslated


def set_translator(gettext) -> None:
    """The app factory hands Flask-Babel's ``gettext`` here, so errors raised by services
    (which never import Flask) are shown in the request's language."""
    global _translate
    _translate = gettext or _untranslated


def translate(message: str, **params) -> str:
    """``message`` in the current language (as is, outside an app), its parameters filled in."""
    return _translate(message, **params)


def normalize_locale(value: str | None) -> str | None:
    """Map an LMS locale ('en', 'en_US', 'zh-CN', 'zh_cn') to one we serve, or None."""
    if not value:
        return None
    lower = value.replace("-", "_").lower()
    if lower.startswith("zh"):
        return "zh_CN"
    if lower.startswith("en"):
        return "en"
    return None


def plural_count(value: Any) -> int:
    """The count that picks a plural form for a number people read: gettext's plural rules
    take whole numbers, and 1.5 points is plural in English (as '1.5' reads, not as 1)."""
    try:
        number = float(format_number(value))
    except ValueError:
        return 2
    return int(number) if number.is_integer() else 2


def format_number(value: Any) -> str:
    """A number as people read it: at most two decimals, no trailing zeros ('94.44', '7.5', '10')."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    if value is None or value == "":
        return ""
    try:
        rounded = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
