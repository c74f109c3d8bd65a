"""Console entry point for ``exambridge``.

``serve`` and ``demo`` run on gevent, whose monkey-patching must happen before anything else
(sockets, ssl, threading, psycopg) is imported, so it happens here, first.
"""
from __future__ import annotations

import sys

GEVENT_COMMANDS = {"serve", "demo"}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in GEVENT_COMMANDS and "--help" not in args:
        from gevent import monkey

        monkey.patch_all()
    from bridge.cli import cli

    cli.main(args=args, prog_name="exambridge")


if __name__ == "__main__":
    main()
