"""``exambridge registration …``: registration periods from the command line, as on the
admin's page (``bridge.services.registration.periods``). Times are typed in the
institution's zone (``EXAMBRIDGE_TIMEZONE``), like ``2027-03-01 09:00``."""
from __future__ import annotations

import getpass
from decimal import Decimal, InvalidOperation

import click

from bridge.cli_support import _app, _AppCommand


def _when(value: str, name: str):
    from bridge import timezones

    try:
        return timezones.parse_local_input(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date and time like 2027-03-01 09:00", param_hint=name) from None


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@click.group(help="Registration periods (考次): their window, the sites taking part and the subjects they offer.")
def registration() -> None:
    pass


@registration.command("open", cls=_AppCommand, help="Open a registration period named NAME; prints its id.")
@click.argument("name")
@click.option("--opens", required=True, help="When registration opens, e.g. '2027-03-01 09:00'.")
@click.option("--closes", required=True, help="When registration closes, e.g. '2027-03-20 17:00'.")
@click.option("--limit", "subject_limit", default=3, show_default=True, help="Subjects per person, at most.")
@click.option("--payment-hours", default=24, show_default=True, help="Hours to pay after a site approves.")
@click.option("--onsite", is_flag=True, help="Candidates must confirm on site (现场确认).")
def open_period(name: str, opens: str, closes: str, subject_limit: int, payment_hours: int, onsite: bool):
    from bridge.extensions import transaction
    from bridge.services.registration import periods

    app = _app()
    with app.app_context(), transaction() as s:
        period = periods.create_period(s, name=name, opens_at=_when(opens, "--opens"),
                                       closes_at=_when(closes, "--closes"), subject_limit=subject_limit,
                                       payment_hours=payment_hours, onsite_confirmation=onsite, actor=_actor())
        click.echo(f"registration period {period.id} opened: {period.name}")


@registration.command("site", cls=_AppCommand, help="Let the site with code SITE take part in period PERIOD_ID.")
@click.argument("period_id", type=int)
@click.argument("site")
@click.option("--reviews", is_flag=True, help="The site reviews registrations before payment.")
def add_site(period_id: int, site: str, reviews: bool):
    from bridge.extensions import transaction
    from bridge.services.registration import periods

    app = _app()
    with app.app_context(), transaction() as s:
        periods.add_site(s, periods.get_period(s, period_id), site, reviews=reviews, actor=_actor())
    click.echo(f"site {site} takes part in period {period_id}" + (" and reviews registrations" if reviews else ""))


@registration.command("offer", cls=_AppCommand, help="Offer exam EXAM_ID as a subject at site SITE in PERIOD_ID.")
@click.argument("period_id", type=int)
@click.argument("site")
@click.argument("exam_id", type=int)
@click.option("--capacity", type=int, required=True, help="Places for this subject at this site.")
@click.option("--fee", default="0", show_default=True, help="Fee per person in yuan, e.g. 80 or 80.50.")
def add_offer(period_id: int, site: str, exam_id: int, capacity: int, fee: str):
    from bridge.extensions import transaction
    from bridge.services.registration import periods

    try:
        cents = Decimal(fee) * 100
    except InvalidOperation:
        raise click.BadParameter(f"{fee!r} is not an amount like 80 or 80.50", param_hint="--fee") from None
    if cents != cents.to_integral_value():
        raise click.BadParameter(f"{fee!r} has more than two decimals", param_hint="--fee")
    app = _app()
    with app.app_context(), transaction() as s:
        periods.add_offer(s, periods.get_period(s, period_id), site, exam_id, capacity=capacity,
                          fee_cents=int(cents), actor=_actor())
    click.echo(f"exam {exam_id} offered at {site} in period {period_id}: {capacity} places, {fee} yuan")


@registration.command("list", cls=_AppCommand, help="List the registration periods with their sites and subjects.")
def list_periods():
    from bridge.extensions import db
    from bridge.services.registration import periods

    app = _app()
    with app.app_context():
        rows = periods.all_periods(db.session)
        if not rows:
            click.echo("no registration period yet")
        for p in rows:
            click.echo(f"{p.id}  {p.name}  {p.opens_at:%Y-%m-%d %H:%M} – {p.closes_at:%Y-%m-%d %H:%M} UTC  "
                       f"limit {p.subject_limit}")
            held = periods.taken(db.session, [o.id for o in p.offers])
            for ps, site in periods.sites_of(db.session, p):
                click.echo(f"    {site.code}{'  (reviews)' if ps.reviews else ''}")
                for o in p.offers:
                    if o.site_id == site.id:
                        click.echo(f"        exam {o.exam_id} {o.exam.title}: {held.get(o.id, 0)}/{o.capacity}, "
                                   f"{periods.fee_text(o.fee_cents)} yuan")


@registration.command("purge", cls=_AppCommand,
                      help="Remove the photos and personal data of registrations kept past their retention: their "
                           "period closed and the results of what they paid for released, EXAMBRIDGE_REGISTRATION_"
                           "RETENTION_DAYS ago (the sweeper does this hourly).")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Keep this many days instead of EXAMBRIDGE_REGISTRATION_RETENTION_DAYS.")
@click.option("--dry-run", is_flag=True, help="Only say how many would be purged.")
def purge(days: int | None, dry_run: bool):
    from bridge.extensions import transaction
    from bridge.services.registration import retention

    app = _app()
    days = days or app.config["EXAMBRIDGE_REGISTRATION_RETENTION_DAYS"]
    with app.app_context(), transaction() as s:
        if dry_run:
            click.echo(f"{len(retention.due(s, days=days))} registrations are past {days} days of retention")
            return
        n = retention.purge(s, days=days, actor=_actor())
    click.echo(f"{n} registrations purged (photo and personal data removed; kept {days} days)")
