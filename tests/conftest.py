"""Shared fixtures live in tests/fixtures/*; each module there has one owner and one job."""
pytest_plugins = [
    "tests.fixtures.apps",
    "tests.fixtures.servers",
    "tests.fixtures.lti",
    "tests.fixtures.sandbox",
    "tests.fixtures.world",
    "tests.fixtures.traceability",
    "tests.fixtures.mail",
    "tests.fixtures.clock",
]
