"""Text people read names no issue of this project's tracker and no requirement id: every
`exambridge` and `exambridge-kiosk` command's help (and its options'), and every message the
pages, errors and CLI translate (the catalogue's msgids)."""
from __future__ import annotations

import re
from pathlib import Path

import click
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "bridge" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
INTERNAL = re.compile(r"\b[Ii]ssues? #?\d+|\b[LCVPKR](?:[1-9]|1[0-9])\b(?![-\w])")


def _commands(group: click.Command, path: str = ""):
    yield path or group.name, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, f"{path or group.name} {name}")


def _texts(command: click.Command):
    yield command.help or ""
    yield command.short_help or ""
    for param in command.params:
        yield getattr(param, "help", None) or ""


def test_command_help_names_no_issue_or_requirement():
    from bridge.cli import cli

    found = [f"{path}: {text!r}" for path, command in _commands(cli) for text in _texts(command)
             if INTERNAL.search(text)]
    assert found == []
    assert len(list(_commands(cli))) > 20  # the walk reached the subcommands


def test_the_agent_help_names_none_either():
    import argparse

    from kiosk_agent.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts += [sub.format_help() for sub in action.choices.values()]
    assert len(texts) > 2
    assert [t for t in texts if INTERNAL.search(t)] == []


def test_no_translated_message_names_one():
    with open(CATALOG, "rb") as fh:
        catalog = read_po(fh)
    found = []
    for message in catalog:
        for msgid in (message.id if isinstance(message.id, tuple) else (message.id,)):
            if msgid and INTERNAL.search(msgid):
                found.append(msgid)
    assert found == []
    assert len(catalog) > 500
