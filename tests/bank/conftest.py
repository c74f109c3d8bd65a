from pathlib import Path

import pytest

FILES = Path(__file__).parent / "files"


@pytest.fixture
def bank_file():
    """Bytes of a fixture file in tests/bank/files."""
    return lambda name: (FILES / name).read_bytes()
