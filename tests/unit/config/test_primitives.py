"""Durations, communities, label selectors and address ranges."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from lbd.config.addresses import overlaps, parse_range
from lbd.config.communities import (
    BGPCommunity,
    CommunityFormatError,
    CommunityValueError,
    LargeCommunity,
    StandardCommunity,
    parse_community,
    resolve_community,
)
from lbd.config.duration import DurationError, format_duration, parse_duration
from lbd.config.frozen import FrozenMap
from lbd.config.selectors import LabelSelector, Operator, Requirement, any_matches


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3s", 3.0),
        ("1m", 60.0),
        ("5m30s", 330.0),
        ("1h2m3.5s", 3723.5),
        ("300ms", 0.3),
        ("0", 0.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("10us", 1e-5),
        ("10\u00b5s", 1e-5),
        ("90s", 90.0),
        ("-2s", -2.0),
    ],
)
def test_duration_go_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "3", "s", "3x", "1m 30s", "3S", "--1s", "1.2.3s", "+", "3s ", "1d"])
def test_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_format_duration_round_trips_common_values() -> None:
    for text in ("3s", "1m30s", "300ms", "1h2m3.5s"):
        assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("65535:65282", StandardCommunity(65535, 65282)),
        ("0:0", StandardCommunity(0, 0)),
        ("8000:800", StandardCommunity(8000, 800)),
        ("large:4294967295:0:1", LargeCommunity(4294967295, 0, 1)),
    ],
)
def test_community_literals(text: str, value: object) -> None:
    assert parse_community(text) == value


@pytest.mark.parametrize(
    "text", ["65536:1", "1:65536", "-1:1", "a:1", "large:4294967296:0:0", "big:1:2:3", "1: 2"]
)
def test_community_values_out_of_range(text: str) -> None:
    with pytest.raises(CommunityValueError):
        parse_community(text)


@pytest.mark.parametrize("text", ["NO_ADVERTISE", "1:2:3", "1"])
def test_community_format_errors_are_alias_candidates(text: str) -> None:
    with pytest.raises(CommunityFormatError):
        parse_community(text)


def test_community_resolution_order_alias_literal_well_known() -> None:
    aliases: dict[str, BGPCommunity] = {"no-export": StandardCommunity(1, 1), "mine": LargeCommunity(1, 2, 3)}
    assert resolve_community("no-export", aliases) == StandardCommunity(1, 1)
    assert resolve_community("no-export", {}) == StandardCommunity(65535, 65281)
    assert resolve_community("no-advertise", {}) == StandardCommunity(0xFFFF, 0xFF02)
    assert StandardCommunity(0xFFFF, 0xFF02).value == 0xFFFFFF02
    assert resolve_community("mine", aliases) == LargeCommunity(1, 2, 3)
    with pytest.raises(CommunityFormatError):
        resolve_community("unknown", aliases)


def _sel(labels: dict[str, str] | None = None, *reqs: Requirement) -> LabelSelector:
    return LabelSelector(FrozenMap(labels or {}), reqs)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (_sel(), {}, True),
        (_sel({"zone": "east"}), {"zone": "east", "x": "y"}, True),
        (_sel({"zone": "east"}), {"zone": "west"}, False),
        (_sel(None, Requirement("zone", Operator.IN, ("east", "north"))), {"zone": "north"}, True),
        (_sel(None, Requirement("zone", Operator.IN, ("east",))), {}, False),
        (_sel(None, Requirement("zone", Operator.NOT_IN, ("east",))), {}, True),
        (_sel(None, Requirement("zone", Operator.NOT_IN, ("east",))), {"zone": "east"}, False),
        (_sel(None, Requirement("zone", Operator.EXISTS)), {"zone": ""}, True),
        (_sel(None, Requirement("zone", Operator.DOES_NOT_EXIST)), {"zone": ""}, False),
        (_sel({"a": "1"}, Requirement("b", Operator.EXISTS)), {"a": "1"}, False),
    ],
)
def test_selector_matches(selector: LabelSelector, labels: dict[str, str], expected: bool) -> None:
    assert selector.matches(labels) is expected


def test_selector_list_semantics() -> None:
    assert any_matches([], {"a": "b"})
    assert any_matches([_sel({"x": "1"}), _sel({"a": "b"})], {"a": "b"})
    assert not any_matches([_sel({"x": "1"})], {"a": "b"})


def test_range_to_cidrs_like_metallb() -> None:
    rng = parse_range("192.168.255.1-192.168.255.5")
    assert rng.cidrs == (
        ip_network("192.168.255.1/32"),
        ip_network("192.168.255.2/31"),
        ip_network("192.168.255.4/31"),
    )
    assert rng.size == 5
    assert ip_address("192.168.255.3") in rng
    assert ip_address("192.168.255.6") not in rng
    v6 = parse_range("2002:2:2::1-2002:2:2::100")
    assert v6.version == 6 and v6.size == 256
    assert parse_range("192.0.2.7/24").cidrs == (ip_network("192.0.2.0/24"),)
    assert parse_range(" 10.0.0.1 - 10.0.0.2 ").size == 2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10.0.0.5-10.0.0.1", "after end"),
        ("10.0.0.1-fc00::1", "same IP family"),
        ("10.0.0.1", "single address"),
        ("10.0.0.0/33", "not a valid CIDR"),
        ("10.0.0.300-10.0.0.4", "not an IPv4 or IPv6 address"),
        ("fe80::1%eth0-fe80::2", "zone"),
        ("pool", "not a CIDR"),
    ],
)
def test_range_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_range(text)


def test_overlaps_reports_each_pair_once() -> None:
    ranges = [
        ("a", parse_range("10.0.0.0/24")),
        ("b", parse_range("10.0.1.0/24")),
        ("c", parse_range("10.0.0.128-10.0.1.3")),
        ("d", parse_range("fc00::/64")),
    ]
    found = {(o1, o2) for o1, _, o2, _ in overlaps(ranges)}
    assert found == {("a", "c"), ("c", "b")}
    assert overlaps([("a", parse_range("10.0.0.0/25")), ("b", parse_range("10.0.0.128/25"))]) == []
