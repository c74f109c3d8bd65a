"""The `num` filter: numbers people read have at most two decimals and no trailing zeros."""
import pytest

from bridge.i18n import format_number


@pytest.mark.req("C10")
@pytest.mark.parametrize(
    "value, shown",
    [(94.4444, "94.44"), (7.5, "7.5"), (10, "10"), (10.0, "10"), (0.005, "0.01"), (1.0 / 3, "0.33"),
     (-0.001, "0"), (None, ""), ("2.50", "2.5")],
)
def test_num_filter(value, shown):
    assert format_number(value) == shown


@pytest.mark.req("C10")
@pytest.mark.parametrize("value, count", [(1, 1), (1.0, 1), (1.001, 1), (1.5, 2), (2.0, 2), (0, 0), ("x", 2)])
def test_plural_count_is_a_whole_number_for_gettext(value, count):
    """'1 point', '1.5 points': gettext's plural rules take whole numbers only."""
    from bridge.i18n import plural_count

    assert plural_count(value) == count and isinstance(count, int)
