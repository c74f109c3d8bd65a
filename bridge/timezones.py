"""The institution's time zone: times are stored naive UTC and entered and shown in it.

``EXAMBRIDGE_TIMEZONE`` names the zone (IANA, e.g. ``Asia/Shanghai``); unset, it is the
server's own zone (``TZ``, else ``/etc/localtime``, else ``/etc/timezone``), falling back to
UTC. ``resolve`` runs at start-up (bridge.config) so an unknown name stops the tool there.

Services take the zone as a value (``zone_name``); the helpers without one read the running
app's setting, so templates and views need not pass it.
"""
from __future__ import annotations

import datetime as _dt
import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from markupsafe import Markup

UTC = "UTC"
DISPLAY_FORMAT = "%Y-%m-%d %H:%M"
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">


_UTC_ALIASES = {"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu", "Etc/GMT", "GMT",
                "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "GMT+0", "GMT-0", "Etc/Greenwich", "Greenwich"}


class UnknownTimeZone(ValueError):
    pass


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimeZone(name) from None


def validate(name: str) -> str:
    """The IANA name itself, or UnknownTimeZone."""
    name = (name or "").strip()
    if not name or name.startswith("/") or ".." in name:
        raise UnknownTimeZone(name)
    _zone(name)
    return name


def server_zone_name(environ=None, localtime: Path = Path("/etc/localtime"),
                     timezone_file: Path = Path("/etc/timezone")) -> str:
    """The server's own zone as an IANA name; UTC when it cannot be told."""
    environ = os.environ if environ is None else environ
    candidates = []
    tz = (environ.get("TZ") or "").strip().lstrip(":")
    if tz:
        candidates.append(tz.split("zoneinfo/", 1)[1] if "zoneinfo/" in tz else tz)
    try:
        target = str(localtime.resolve()) if localtime.is_symlink() else ""
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    try:
        candidates.append(timezone_file.read_text().strip())
    except OSError:
        pass
    for name in candidates:
        try:
            name = validate(name)
        except UnknownTimeZone:
            continue
        return UTC if name in _UTC_ALIASES else name
    return UTC


def resolve(name: str | None) -> str:
    """The configured zone, checked, or the server's own when not configured."""
    if name is None or not str(name).strip():
        return server_zone_name()
    return validate(str(name))


def _no_app() -> str | None:
    return None


_zone_source = _no_app


def set_zone_source(source) -> None:
    """The app factory hands a function returning the running app's zone (None outside an
    app), so this module, which services import, never imports Flask."""
    global _zone_source
    _zone_source = source or _no_app


def current_zone_name() -> str:
    """The running app's zone (UTC outside an app)."""
    return _zone_source() or UTC


def to_local(value: _dt.datetime | None, zone_name: str | None = None) -> _dt.datetime | None:
    """A stored naive-UTC (or aware) datetime as an aware datetime in the zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_zone(zone_name or current_zone_name()))


def from_local(value: _dt.datetime | None, zone_name: str | None = None) -> _dt.datetime | None:
    """A wall-clock time typed in the zone (naive) as naive UTC, for storing."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone(zone_name or current_zone_name()))
    return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)


def parse_local_input(raw: str, zone_name: str | None = None) -> _dt.datetime:
    """``YYYY-MM-DDTHH:MM`` (or with a space) typed in the zone → naive UTC. ValueError if malformed."""
    text = (raw or "").strip().replace(" ", "T")
    return from_local(_dt.datetime.fromisoformat(text).replace(second=0, microsecond=0), zone_name)


def format_local(value: _dt.datetime | None, zone_name: str | None = None, with_zone: bool = True,
                 fmt: str = DISPLAY_FORMAT) -> str:
    """'2026-12-07 09:00 (Asia/Shanghai)'; '' for None."""
    if value is None:
        return ""
    name = zone_name or current_zone_name()
    text = to_local(value, name).strftime(fmt)
    return f"{text} ({name})" if with_zone else text


def input_value(value: _dt.datetime | None, zone_name: str | None = None) -> str:
    """The value of a datetime-local input showing a stored time in the zone."""
    return format_local(value, zone_name, with_zone=False, fmt=INPUT_FORMAT) if value else ""


def localtime_filter(value: _dt.datetime | None, plain: bool = False, zone: bool = True,
                     fmt: str = DISPLAY_FORMAT) -> Markup | str:
    """Jinja ``|localtime``: a ``<time>`` element with the zone named; static/localtime.js adds
    the browser's own time beside it where the browser's zone differs. ``plain=True`` gives
    text only (for attributes and titles); ``zone=False`` leaves the zone name off (a table
    names it in its heading); ``fmt`` is a strftime format (seconds, time of day only)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # an ISO time from a signed file (naive: UTC)
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    name = current_zone_name()
    text = format_local(value, name, with_zone=zone, fmt=fmt)
    if plain:
        return text
    utc = to_local(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time class="localtime" datetime="{}" data-tz="{}">{}</time>').format(utc, name, text)


def zone_names() -> list[str]:
    return sorted(available_timezones())


def init_app(app) -> None:
    app.jinja_env.filters["localtime"] = localtime_filter
    app.jinja_env.filters["localinput"] = lambda value: input_value(value)
    app.jinja_env.globals["institution_zone"] = current_zone_name


__all__ = ["UnknownTimeZone", "format_local", "from_local", "input_value", "parse_local_input",
           "resolve", "server_zone_name", "to_local", "validate"]
