"""Arbitrary JSON-like input never raises: every problem becomes a ConfigError."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.config import parse_objects
from lbd.config.parse import API_VERSIONS

FIELD_NAMES = [
    "addresses",
    "name",
    "value",
    "communities",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "nodeSelectors",
    "ipAddressPools",
    "peers",
    "myASN",
    "peerASN",
    "peerAddress",
    "holdTime",
    "keepaliveTime",
    "membership",
    "bgpAdvertisements",
    "protocol",
    "endpoints",
    "conditions",
    "ports",
    "port",
    "data",
    "type",
    "interfaces",
    "serviceAllocation",
    "passwordSecret",
    "x",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "a", "10.0.0.0/24", "10.0.0.1-10.0.0.0", "fc00::/64", "3s", "In", "65535:65282"]),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=5),
    ),
    max_leaves=20,
)
KINDS = sorted((api, kind) for kind, apis in API_VERSIONS.items() for api in apis)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    api, kind = draw(st.sampled_from(KINDS))
    doc: dict[str, Any] = {"apiVersion": api, "kind": kind}
    doc["metadata"] = draw(st.one_of(st.just({"name": "obj"}), json_values))
    doc["spec"] = draw(json_values)
    if draw(st.booleans()):
        doc[draw(st.sampled_from(["status", "data", "endpoints", "stringData", "type"]))] = draw(json_values)
    return doc


@settings(max_examples=300, deadline=None)
@given(st.lists(documents(), max_size=4))
def test_parse_never_raises(docs: list[dict[str, Any]]) -> None:
    result = parse_objects(docs)
    assert (result.config is None) == bool(result.errors)
    for error in result.errors:
        assert error.kind and error.name and error.field and error.message
