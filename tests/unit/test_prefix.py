import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgpsteer.core.prefix import ParsedPrefix, PrefixSet, covers, format_prefix, parse_prefix, parse_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.0.0.0/8", (4, 10 << 24, 8)), ("0.0.0.0/0", (4, 0, 0)), ("2001:db8::/32", (6, 0x20010DB8 << 96, 32))],
)
def test_parse_prefix(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_prefix(text) == expected


@pytest.mark.parametrize(
    "bad", ["10.0.0.1/8", "10.0.0.0/33", "10.0.0/8", "10.0.0.0", "1.2.3.256/32", "+1.2.3.4/32", "x/1", "::1/129"]
)
def test_parse_prefix_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_prefix(bad)


@pytest.mark.parametrize(
    ("rng", "prefix", "inside"),
    [
        ("10.0.0.0/8", "10.0.0.0/8", True),
        ("10.0.0.0/8", "10.1.0.0/16", False),
        ("10.0.0.0/8 le 24", "10.1.0.0/16", True),
        ("10.0.0.0/8 le 24", "10.1.1.0/25", False),
        ("10.0.0.0/8 ge 16 le 24", "10.0.0.0/8", False),
        ("10.0.0.0/8 ge 16", "10.1.1.1/32", True),
        ("10.0.0.0/8 le 24", "11.0.0.0/16", False),
        ("fd00::/8 le 48", "fd10:10::/48", True),
        ("fd00::/8 le 48", "10.0.0.0/8", False),
    ],
)
def test_range_membership(rng: str, prefix: str, inside: bool) -> None:
    assert (parse_prefix(prefix) in PrefixSet("s", [parse_range(rng)])) is inside


@pytest.mark.parametrize(
    "bad", ["10.0.0.0/8 le 4", "10.0.0.0/8 ge 30 le 24", "10.0.0.0/8 le", "10.0.0.0/8 foo 3", "10.0.0.0/8 le 24 le 25"]
)
def test_range_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=r"invalid prefix range|given twice"):
        parse_range(bad)


v4 = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
    lambda t: (4, t[0] >> (32 - t[1]) << (32 - t[1]), t[1])
)


@given(st.lists(st.tuples(v4, st.integers(0, 32), st.integers(0, 32)), min_size=1, max_size=8), v4)
def test_index_agrees_with_linear_scan(ranges: list[tuple[ParsedPrefix, int, int]], probe: ParsedPrefix) -> None:
    built = []
    for p, a, b in ranges:
        ge, le = sorted((max(a, p[2]), max(b, p[2])))
        built.append(parse_range(f"{format_prefix(p)} ge {ge} le {le}"))
    expected = any(covers(r.prefix, probe) and r.ge <= probe[2] <= r.le for r in built)
    assert (probe in PrefixSet("s", built)) is expected


@given(v4)
def test_format_parse_roundtrip(p: ParsedPrefix) -> None:
    assert parse_prefix(format_prefix(p)) == p
