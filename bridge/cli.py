"""``exambridge`` commands. Each builds the app, opens one transaction and calls a service."""
from __future__ import annotations

import getpass
import sys

import click

from bridge.cli_support import _app, _AppCommand  # noqa: F401  (the commands below use both)


@click.group(help="ExamBridge: proctored exams for your LMS, over LTI 1.3.")
@click.version_option(package_name="exambridge")
def cli() -> None:
    pass


# --- database -------------------------------------------------------------------------
@cli.group(help="Database schema (Alembic).")
def db() -> None:
    pass


@db.command("upgrade", cls=_AppCommand, help="Apply every migration up to head.")
def db_upgrade() -> None:
    from bridge.migrate import upgrade

    app = _app()
    upgrade(app.config["SQLALCHEMY_DATABASE_URI"], secret_key=app.config["SECRET_KEY"])
    click.echo("database is at head")


# --- server ---------------------------------------------------------------------------
@cli.command(cls=_AppCommand, help="Run the bridge on gevent's WSGI server.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int, help="0 picks a free port.")
@click.option("--port-file", type=click.Path(dir_okay=False), help="Write the bound port here.")
def serve(host: str, port: int, port_file: str | None) -> None:
    from bridge.runtime.runner import run_bridge

    run_bridge(_app(), host=host, port=port, port_file=port_file)


@cli.command(cls=_AppCommand, help="Run the bridge and the sandbox LMS together, for a demo.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--lms-port", default=8081, show_default=True, type=int)
def demo(host: str, port: int, lms_port: int) -> None:
    from bridge.runtime.runner import run_demo

    run_demo(host=host, port=port, lms_port=lms_port)


# --- LTI platforms and keys -----------------------------------------------------------
@cli.group(help="LMS platforms the tool trusts (LTI 1.3 registrations).")
def platform() -> None:
    pass


@platform.command("add", cls=_AppCommand, help="Register a platform by hand.")
@click.option("--issuer", required=True, help="The platform's issuer (Moodle: its wwwroot).")
@click.option("--client-id", required=True)
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True,
              help="May be given more than once.")
@click.option("--auth-login-url", required=True, help="OIDC authorization endpoint (Moodle: …/mod/lti/auth.php).")
@click.option("--auth-token-url", required=True, help="OAuth2 token endpoint (Moodle: …/mod/lti/token.php).")
@click.option("--jwks-url", required=True, help="Platform key set (Moodle: …/mod/lti/certs.php).")
@click.option("--name", default="", help="A name people recognise.")
def platform_add(issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url, name):
    from bridge.extensions import transaction
    from lms_plugin.services import platforms

    _app_ctx = _app().app_context()
    with _app_ctx:
        with transaction() as session:
            p = platforms.add_platform(
                session, issuer=issuer, client_id=client_id, deployment_ids=list(deployment_ids),
                auth_login_url=auth_login_url, auth_token_url=auth_token_url, jwks_url=jwks_url,
                name=name, registered_by="cli", actor=f"cli:{getpass.getuser()}")
            click.echo(f"platform {p.id} registered: {p.issuer} client {p.client_id} "
                       f"deployments {', '.join(d.deployment_id for d in p.deployments)}")


@platform.command("list", cls=_AppCommand, help="List registered platforms.")
def platform_list():
    from bridge.extensions import db as _db
    from lms_plugin.services import platforms

    with _app().app_context():
        rows = platforms.list_platforms(_db.session)
        if not rows:
            click.echo("no platforms registered; add one with `exambridge platform add` "
                       "or by dynamic registration")
            return
        for p in rows:
            deps = ",".join(d.deployment_id for d in p.deployments) or "-"
            state = "active" if p.active else "inactive"
            click.echo(f"{p.id}\t{p.issuer}\tclient={p.client_id}\tdeployments={deps}\t"
                       f"{state}\tby={p.registered_by}\t{p.name}")


@platform.command("register-url", cls=_AppCommand,
                  help="Issue a one-time dynamic registration URL to paste into the LMS.")
@click.option("--hours", default=24, show_default=True, type=int)
def platform_register_url(hours: int):
    from bridge.extensions import transaction
    from lms_plugin.services import registration

    app = _app()
    with app.app_context(), transaction() as session:
        url = registration.issue_ticket_url(session, app.config["EXAMBRIDGE_PUBLIC_URL"], hours=hours)
        click.echo(url)


@cli.group(help="The tool's signing keys.")
def keys() -> None:
    pass


@keys.command("rotate", cls=_AppCommand,
              help="Make a new signing key; the old public key stays in the JWKS for the grace period.")
def keys_rotate():
    from bridge.extensions import transaction
    from lms_plugin.services import tool_keys

    app = _app()
    with app.app_context(), transaction() as session:
        new = tool_keys.rotate(session, actor=f"cli:{getpass.getuser()}")
        minutes = int(tool_keys.ACTIVATION.total_seconds() // 60)
        click.echo(f"new signing key {new.kid} is published now and signs in {minutes} minutes (after "
                   f"platforms' cached key sets expire); previous keys stay published for "
                   f"{app.config['EXAMBRIDGE_KEY_ROTATION_GRACE_DAYS']} days after that")


# --- local accounts -------------------------------------------------------------------
@cli.group(help="Local accounts (administrators, site staff).")
def admin() -> None:
    pass


@admin.command("create", cls=_AppCommand, help=(
    "Create a local account: an administrator (the default), or a site admin, proctor or "
    "authority bound to what they may touch."))
@click.option("--username", required=True)
@click.option("--password", help="Asked for when not given (preferred: it stays out of shell history).")
@click.option("--name", default="")
@click.option("--role", type=click.Choice(["admin", "site_admin", "proctor", "authority"]), default="admin",
              show_default=True, help="admin: every site; site_admin: --site; proctor: --room (and --day) or "
              "--sitting; authority: issues authorization codes for --site, or every site without it.")
@click.option("--site", "site", default="", help="The site's code (site admin, authority).")
@click.option("--room", "room", default="", help="The room's code (proctor).")
@click.option("--sitting", "sitting", type=int, default=None, help="A sitting's id instead of a room (proctor).")
@click.option("--day", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The one day (YYYY-MM-DD, institution time) a proctor's room grant holds.")
@click.option("--station-only", is_flag=True, help="The proctor acts only from the room's registered station.")
def admin_create(username: str, password: str | None, name: str, role: str, site: str, room: str,
                 sitting: int | None, day, station_only: bool):
    from bridge.extensions import transaction
    from bridge.services.people import staff

    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    app = _app()
    with app.app_context(), transaction() as session:
        user = staff.create_staff(session, username=username, password=password, name=name, role=role, site=site,
                                  room=room, sitting_id=sitting, valid_on=day.date() if day else None,
                                  station_only=station_only, actor=f"cli:{getpass.getuser()}")
        label = "administrator" if role == "admin" else role.replace("_", " ")
        click.echo(f"{label} {user.username} created (id {user.id})")


# --- rooms and kiosks -----------------------------------------------------------------
@cli.group(help="Exam rooms and the kiosk enrolment code their exam PCs register with.")
def room() -> None:
    pass


@room.command("create", cls=_AppCommand, help="Create a room; prints its kiosk enrolment code.")
@click.argument("code")
@click.option("--name", default="", help="A name people recognise, e.g. 'Building A, room 101'.")
@click.option("--site", "site_id", default=None, help="The site's id (for the later site node).")
def room_create(code: str, name: str, site_id: str | None):
    from bridge.extensions import transaction
    from bridge.services.kiosks import devices

    app = _app()
    with app.app_context(), transaction() as session:
        info, enrolment = devices.create_room(session, code=code, name=name, site_id=site_id,
                                              secret_key=app.config["SECRET_KEY"],
                                              actor=f"cli:{getpass.getuser()}")
    click.echo(f"room {info.code} created (id {info.id})")
    click.echo(f"kiosk enrolment code: {enrolment}")


@room.command("list", cls=_AppCommand, help="List rooms with their kiosks.")
def room_list():
    from bridge.extensions import db
    from bridge.services.kiosks import devices

    app = _app()
    with app.app_context():
        rows = devices.list_rooms(db.session)
    if not rows:
        click.echo("no rooms yet: exambridge room create CODE --name NAME")
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['code']:<16} {r['name']:<30} kiosks {r['kiosks']} "
                   f"(seated {r['seated']}, pending {r['pending']})")


@room.command("code", cls=_AppCommand, help="Show (or --rotate) a room's kiosk enrolment code.")
@click.argument("code")
@click.option("--rotate", is_flag=True, help="Make a new code; enrolled kiosks keep working.")
def room_code(code: str, rotate: bool):
    from bridge.extensions import transaction
    from bridge.services.kiosks import devices

    app = _app()
    secret = app.config["SECRET_KEY"]
    with app.app_context(), transaction() as session:
        info = devices.room_by_code(session, code)
        if rotate:
            value = devices.rotate_enrolment_code(session, info.id, secret_key=secret,
                                                  actor=f"cli:{getpass.getuser()}")
        else:
            value = devices.enrolment_code(session, info.id, secret_key=secret)
    if value is None:
        raise click.ClickException("the code was made under another secret key: use --rotate")
    click.echo(f"kiosk enrolment code of {info.code}: {value}")


# --- authorization codes ----------------------------------------------------------------
@cli.command("authcode", cls=_AppCommand, help="The authority's code for a console's request code.")
@click.argument("request_code")
def authcode(request_code: str):
    """Prints what the request would open (read it back to the proctor), then the code."""
    from bridge.extensions import db
    from bridge.services.proctoring import authcodes
    app = _app()
    with app.app_context():
        row = authcodes.get(db.session, request_code)
        info = authcodes.info(db.session, row)
        code = authcodes.code_for(db.session, row, secret_key=app.config["SECRET_KEY"])
    click.echo(f"request {info.request_code}: {info.action} · room {info.room_code} · session {info.session_id} "
               f"· exam {info.subject} · value {info.parameter}")
    click.echo(f"candidates: {', '.join(info.candidates) or '(none)'}")
    click.echo(f"valid {info.valid_from:%Y-%m-%d %H:%M} – {info.valid_until:%H:%M} UTC · status {info.status} "
               f"· wrong tries {info.tries}")
    click.echo(f"authorization code: {code}")


# --- sites ----------------------------------------------------------------------------
@cli.group(help="Exam sites: backup and restore of everything a site holds.")
def site() -> None:
    pass


@site.command("backup", cls=_AppCommand, help="Write a backup of the site with code CODE to --out.")
@click.argument("code")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The backup file to write (e.g. /media/usb/site.bak); an existing file is not overwritten.")
@click.option("--note", default="", help="A note kept in the backup (e.g. 'before session 1').")
def site_backup(code: str, out: str, note: str):
    import os

    from bridge.extensions import transaction
    from bridge.models.venues import Site
    from bridge.services.venue import site_backup as backups

    app = _app()
    if os.path.exists(out):
        raise click.ClickException(f"{out} exists already; choose another file name")
    with app.app_context(), transaction() as session:
        row = session.query(Site).filter_by(code=code).one_or_none()
        if row is None:
            raise click.ClickException(f"there is no site with code {code!r}")
        body = backups.backup(session, row.id, secret_key=app.config["SECRET_KEY"], note=note,
                              actor=f"cli:{getpass.getuser()}")
    tmp = f"{out}.part"
    with open(tmp, "wb") as fh:  # written whole, then renamed: a cut-off write leaves no half backup
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    click.echo(f"site {code} backed up to {out} ({len(body)} bytes)")


@site.command("restore", cls=_AppCommand, help="Restore a site from a backup file (the site must not exist here).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def site_restore(path: str):
    from bridge.extensions import transaction
    from bridge.services.venue import site_backup as backups

    app = _app()
    with open(path, "rb") as fh:
        raw = fh.read(backups.MAX_BYTES + 1)
    with app.app_context(), transaction() as session:
        report = backups.restore(session, raw, secret_key=app.config["SECRET_KEY"], actor=f"cli:{getpass.getuser()}")
    restored = ", ".join(f"{name} {count}" for name, count in report.restored.items() if count)
    click.echo(f"site {report.code} restored: {restored}")
    for name, count in report.skipped.items():
        click.echo(f"left out {count} {name} (they belong to exam sessions this database does not hold)")


# --- LMS results ----------------------------------------------------------------------
@cli.group(help="Scores waiting for the LMS gradebook.")
def outbox() -> None:
    pass


@outbox.command("status", cls=_AppCommand, help="Count scores by delivery state.")
def outbox_status():
    from bridge.extensions import db as _db
    from lms_plugin.services import outbox as ob

    with _app().app_context():
        for status, count in sorted(ob.counts(_db.session).items()):
            click.echo(f"{status}\t{count}")


@outbox.command("deliver", cls=_AppCommand, help="Try every due score once now.")
def outbox_deliver():
    from lms_plugin.services import outbox as ob

    with _app().app_context():
        result = ob.deliver_due()
        click.echo(f"sent {result.sent}, retrying later {result.retry}, failed {result.failed}")
        if result.retry or result.failed:
            sys.exit(1)


# --- question bank --------------------------------------------------------------------
@cli.group(help="Question banks of courses.")
def bank() -> None:
    pass


@bank.command("import", cls=_AppCommand, help="Import Moodle XML or GIFT into a course's bank; one "
              "transaction. Exits non-zero when no item of the file could be used.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--course", "course_id", required=True, type=int, help="The course's id in ExamBridge.")
@click.option("--format", "fmt", type=click.Choice(["moodle-xml", "gift"]), help="Default: from the file.")
@click.option("--duplicates", type=click.Choice(["skip", "update"]), default="skip", show_default=True,
              help="Items already in the bank (same Moodle ID number or same content): leave or update them.")
def bank_import(file: str, course_id: int, fmt: str | None, duplicates: str):
    from pathlib import Path

    from bridge.extensions import transaction
    from bridge.models.users import Course
    from bridge.services.exams import bank as bank_service

    data = Path(file).read_bytes()
    with _app().app_context():
        with transaction() as session:
            course = session.get(Course, course_id)
            if course is None:
                raise click.ClickException(f"There is no course {course_id}; the course page's address shows its id.")
            result = bank_service.import_file(session, course, data, filename=Path(file).name, fmt=fmt,
                                              actor=f"cli:{getpass.getuser()}", duplicates=duplicates)
        for line in result.lines():
            click.echo(line)
        if not (result.imported or result.updated or result.unchanged):
            sys.exit(1)


# --- benchmarks -----------------------------------------------------------------------
@cli.group(help="Load benchmarks against a real bridge process (docs/performance.md).")
def bench() -> None:
    pass


@bench.command("autosave", cls=_AppCommand,
               help="N candidates autosave R times a second for S seconds, then all submit at once; "
                    "prints one JSON line.")
@click.option("--candidates", default=1000, show_default=True, type=click.IntRange(1, 20000))
@click.option("--rate", default=1.0, show_default=True, type=click.FloatRange(0.01, 100),
              help="Saves per second per candidate.")
@click.option("--seconds", default=30.0, show_default=True, type=click.FloatRange(1, 3600))
@click.option("--database-url", help="A PostgreSQL server to create the run's own database on; "
                                     "default: a SQLite file in a temporary instance folder.")
@click.option("--keep", is_flag=True, help="Keep the temporary folder (server log, database) afterwards.")
def bench_autosave(candidates: int, rate: float, seconds: float, database_url: str | None, keep: bool) -> None:
    import json

    from bridge.bench.autosave import run

    click.echo(json.dumps(run(candidates, rate, seconds, database_url, keep=keep), separators=(",", ":")))


@bench.command("kiosks", cls=_AppCommand,
               help="N simulated kiosks on real WebSockets against a real bridge: heartbeats, answers, a "
                    "broadcast command, a kill and restart; prints one JSON line.")
@click.option("--count", default=5000, show_default=True, type=click.IntRange(1, 20000))
@click.option("--seconds", default=30.0, show_default=True, type=click.FloatRange(1, 3600),
              help="How long the kiosks heartbeat before the broadcast and the restart.")
@click.option("--database-url", help="A PostgreSQL server to create the run's own database on; "
                                     "default: a SQLite file in a temporary instance folder.")
@click.option("--load-processes", default=0, type=click.IntRange(0, 64),
              help="Load processes holding the kiosks (0: one per 2,500 kiosks).")
@click.option("--keep", is_flag=True, help="Keep the temporary folder (server log, database) afterwards.")
def bench_kiosks(count: int, seconds: float, database_url: str | None, load_processes: int, keep: bool) -> None:
    import json

    from bridge.bench.kiosks import run

    click.echo(json.dumps(run(count, seconds, database_url, load_processes=load_processes, keep=keep),
                          separators=(",", ":")))


# --- answer packs ---------------------------------------------------------------------
@cli.group(help="Answer packs (.epack) exported from kiosks (docs/answer-pack.md).")
def pack() -> None:
    pass


@pack.command("key", cls=_AppCommand, help="Print the bridge's pack public key (made on first use); kiosks "
              "seal packs to it.")
def pack_key():
    from bridge.extensions import transaction
    from bridge.services.delivery import pack_keys

    app = _app()
    with app.app_context(), transaction() as session:
        key = pack_keys.active_key(session, app.config["SECRET_KEY"])
        click.echo(f"{key.public_key}\tkey id {key.key_id}")


@pack.command("import", cls=_AppCommand, help="Verify an answer pack and merge its answers into the attempt. "
              "Exits non-zero when the pack is refused.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--allow-unregistered", is_flag=True, help="Proctor's override: import a pack signed by a device "
              "that is no registered kiosk, or by a kiosk not known to have carried the attempt (audited).")
@click.option("--reason", default="", help="Why the override is needed (required with --allow-unregistered).")
def pack_import(file: str, allow_unregistered: bool, reason: str):
    from pathlib import Path

    from bridge.runtime.writer import get_writer
    from bridge.services.delivery import packs

    app = _app()
    with app.app_context():
        try:
            report = packs.import_pack(get_writer(app), Path(file).read_bytes(), actor=f"cli:{getpass.getuser()}",
                                       secret_key=app.config["SECRET_KEY"], allow_unregistered=allow_unregistered,
                                       reason=reason)
        except packs.PackRejected as exc:
            raise click.ClickException(f"refused: {exc.message}" + (f" ({exc.detail})" if exc.detail else "")) from None
    for line in report.lines():
        click.echo(line)


from bridge.cli_registration import registration  # noqa: E402

cli.add_command(registration)
