"""``exambridge-kiosk``: the exam-PC agent's command line.

Only the protocol exists so far; ``run``, ``export-pack`` and the service install arrive
with the kiosk issue (issue 4), and the help says so rather than pretending.
"""
from __future__ import annotations

import argparse
import sys

from kiosk_agent import __version__
from kiosk_agent.protocol import PROTOCOL_VERSION


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="exambridge-kiosk",
        description="ExamBridge kiosk agent for exam PCs. The agent itself (run, export-pack) "
                    "is not part of this release yet; this build carries its protocol.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the agent and protocol versions")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"exambridge-kiosk {__version__} (protocol v{PROTOCOL_VERSION})")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
