"""The pages' Content-Security-Policy forbids eval, and Playwright evaluates a bare expression
given to `wait_for_function` with eval whenever it has to poll (the first try false, as under
load). Such a wait passes on a quick machine and fails on a busy one, so every one is a function."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def _bare_expressions():
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "wait_for_function" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                source = node.args[0].value.lstrip()
                if not source.startswith(("(", "function", "async")):
                    yield f"{path.relative_to(TESTS)}:{node.lineno}"


def test_every_browser_wait_is_a_function_not_an_expression_to_eval():
    assert list(_bare_expressions()) == []


def test_the_check_finds_a_bare_expression(tmp_path, monkeypatch):
    (tmp_path / "test_x.py").write_text('page.wait_for_function("document.title === \'x\'")\n'
                                        'page.wait_for_function("() => document.title === \'x\'")\n')
    monkeypatch.setattr(sys.modules[__name__], "TESTS", tmp_path)
    assert list(_bare_expressions()) == ["test_x.py:1"]
