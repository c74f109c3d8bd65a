"""The `num` filter: numbers people read have at most two decimals and no trailing zeros."""
import pytest

from bridge.app import format_number


@pytest.mark.req("C10")
@pytest.mark.parametrize(
    "value, shown",
    [(94.4444, "94.44"), (7.5, "7.5"), (10, "10"), (10.0, "10"), (0.005, "0.01"), (1.0 / 3, "0.33"),
     (-0.001, "0"), (None, ""), ("2.50", "2.5")],
)
def test_num_filter(value, shown):
    assert format_number(value) == shown
