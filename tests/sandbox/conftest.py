"""Fixtures for the sandbox tests: a simulated tool with a served JWKS, registered in a
fresh sandbox LMS, plus a graded activity to launch."""
from __future__ import annotations

import pytest

from tests.fixtures.servers import loopback_session, serve_wsgi

from .toolsim import SimTool


@pytest.fixture
def sim_tool():
    tool = SimTool()
    with serve_wsgi(tool) as live:
        tool.base_url = live.url
        yield tool


@pytest.fixture
def tool(sandbox_lms, sim_tool) -> SimTool:
    """``sim_tool`` registered in ``sandbox_lms`` with every service scope."""
    sim_tool.register(sandbox_lms.state)
    return sim_tool


@pytest.fixture
def browser():
    session = loopback_session()
    yield session
    session.close()
