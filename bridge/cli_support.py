"""What every ``exambridge`` command module shares: the app, and domain errors as clean exits."""
from __future__ import annotations

import click

from bridge.errors import ConfigError, DomainError


def _app():
    from bridge import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class _AppCommand(click.Command):
    """Runs the command inside an app context and turns domain errors into clean exits."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            raise click.ClickException(exc.message % exc.params if exc.params else exc.message) from None
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
