"""bridge.timezones: times entered and shown in the institution's zone, stored naive UTC."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from bridge import config, timezones
from bridge.errors import ConfigError


def env(tmp_path, **values):
    return {"EXAMBRIDGE_INSTANCE_PATH": str(tmp_path), **{f"EXAMBRIDGE_{k}": v for k, v in values.items()}}


@pytest.mark.req("V4")
def test_setting_names_the_zone_and_an_unknown_name_stops_start_up(tmp_path):
    assert config.load(environ=env(tmp_path, TIMEZONE="Asia/Shanghai"))["TIMEZONE"] == "Asia/Shanghai"
    with pytest.raises(ConfigError, match="EXAMBRIDGE_TIMEZONE.*Mars/Olympus"):
        config.load(environ=env(tmp_path, TIMEZONE="Mars/Olympus"))


@pytest.mark.req("V4")
def test_default_is_the_servers_own_zone_else_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Paris")
    assert config.load(environ=env(tmp_path))["TIMEZONE"] == "Europe/Paris"
    none = tmp_path / "missing"
    assert timezones.server_zone_name({}, localtime=none, timezone_file=none) == "UTC"
    assert timezones.server_zone_name({"TZ": ":/usr/share/zoneinfo/Asia/Tokyo"}, localtime=none,
                                      timezone_file=none) == "Asia/Tokyo"
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/America/New_York")
    assert timezones.server_zone_name({}, localtime=link, timezone_file=none) == "America/New_York"
    assert timezones.server_zone_name({"TZ": "Etc/UTC"}, localtime=none, timezone_file=none) == "UTC"


@pytest.mark.req("V4")
def test_round_trip_and_display_with_the_zone_named():
    stored = dt.datetime(2026, 12, 7, 1, 0)  # naive UTC
    assert timezones.format_local(stored, "Asia/Shanghai") == "2026-12-07 09:00 (Asia/Shanghai)"
    assert timezones.from_local(dt.datetime(2026, 12, 7, 9, 0), "Asia/Shanghai") == stored
    assert timezones.parse_local_input("2026-12-07T09:00", "Asia/Shanghai") == stored
    assert timezones.input_value(stored, "Asia/Shanghai") == "2026-12-07T09:00"
    # summer time is the zone's business, not ours
    assert timezones.from_local(dt.datetime(2026, 7, 1, 12, 0), "Europe/Paris") == dt.datetime(2026, 7, 1, 10, 0)


@pytest.mark.req("V4")
def test_jinja_filter_shows_the_zone_and_the_utc_instant(app, monkeypatch):
    monkeypatch.setitem(app.config, "EXAMBRIDGE_TIMEZONE", "Asia/Shanghai")
    with app.app_context():
        html = app.jinja_env.from_string("{{ t|localtime }}|{{ t|localtime(plain=True) }}").render(
            t=dt.datetime(2026, 12, 7, 1, 0))
    assert 'datetime="2026-12-07T01:00:00Z"' in html and 'data-tz="Asia/Shanghai"' in html
    assert html.endswith("|2026-12-07 09:00 (Asia/Shanghai)")


@pytest.mark.req("V8", "P1")
def test_every_template_shows_times_through_the_zone_filter():
    """Times people read are in the institution's zone with the zone named: no template
    formats a datetime itself or writes a bare 'UTC' after one."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "bridge" / "templates"
    offenders = []
    for path in sorted(root.rglob("*.html")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ".strftime(" in line or re.search(r"\}\}\s*UTC\b", line):
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()[:120]}")
    assert not offenders, "format times with |localtime:\n" + "\n".join(offenders)


@pytest.mark.req("V4")
def test_the_zone_filter_reads_iso_times_from_signed_files(make_app):
    """The door seating chart shows the session's start from the signed exam data (an ISO
    text, UTC) in the institution's zone."""
    from bridge.timezones import localtime_filter

    with make_app(TIMEZONE="Asia/Shanghai").app_context():
        assert localtime_filter("2026-12-07T01:30:00", plain=True) == "2026-12-07 09:30 (Asia/Shanghai)"
        assert localtime_filter("2026-12-07T01:30:00+00:00", plain=True, fmt="%H:%M") == "09:30 (Asia/Shanghai)"
        assert localtime_filter("not a time", plain=True) == "not a time"
