"""Building UPDATE messages for our routes: as many prefixes per message as fit (RFC 4271 §4.3, §9.2).

Routes that share their path attributes go into the same UPDATEs; the attributes are encoded once per
group and the NLRI appended until the next prefix would push the message over 4096 octets. IPv4 prefixes
use the classic NLRI field with NEXT_HOP; IPv6 prefixes go in MP_REACH_NLRI (RFC 4760 §3) with the
global (and, on a shared link, link-local, RFC 2545 §3) next hop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from bgp.attributes import (
    AS4_PATH,
    AS_PATH,
    AS_SEQUENCE,
    COMMUNITIES,
    EXTENDED_LENGTH,
    LARGE_COMMUNITY,
    LOCAL_PREF,
    MP_REACH_NLRI,
    MP_UNREACH_NLRI,
    NEXT_HOP,
    OPTIONAL,
    ORIGIN,
    ORIGIN_IGP,
    TRANSITIVE,
    frame_attribute,
    min_as,
)
from bgp.codec import CodecContext, frame
from bgp.families import IPV4_UNICAST, Family, Prefix
from bgp.messages import HEADER_LEN, MAX_MESSAGE_LEN, MessageType
from bgp.ribout import Groups
from bgp.route import Route, RouteAttributes, key_nlri, key_version, prefix_key

# RFC 4271 §5.1.5 requires LOCAL_PREF towards internal peers; this is the value when a route has none
# (the common default of FRR, BIRD and GoBGP).
DEFAULT_LOCAL_PREF = 100

# Withdrawn Routes Length and Total Path Attribute Length (RFC 4271 §4.3).
_UPDATE_FIXED = HEADER_LEN + 4
_BUDGET = MAX_MESSAGE_LEN - _UPDATE_FIXED


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """How this session fills in the attributes it controls (RFC 4271 §5.1).

    `next_hop_v4` / `next_hops_v6` are the usable next hops (None / empty: that family cannot be sent).
    """

    local_as: int
    ebgp: bool
    next_hop_v4: IPv4Address | None
    next_hops_v6: tuple[IPv6Address, ...]


# Room for COMMUNITIES and LARGE_COMMUNITY values in one UPDATE: everything else we send (ORIGIN, AS_PATH
# with AS4_PATH, NEXT_HOP, LOCAL_PREF, the MP_REACH_NLRI header with two IPv6 next hops, two attribute
# headers) takes under 128 octets, and one prefix of up to 17 octets must still fit.
COMMUNITY_ROOM = _BUDGET - 128 - 17


def attributes_fit(attributes: RouteAttributes) -> bool:
    """Whether the communities leave room for a prefix in a 4096-octet UPDATE (RFC 4271 §4)."""
    communities, large = attributes.communities, attributes.large_communities
    if 4 * len(communities) + 12 * len(large) <= COMMUNITY_ROOM:
        return True  # the common case, without building sets
    return 4 * len(set(communities)) + 12 * len(set(large)) <= COMMUNITY_ROOM


def _as_path(policy: PathPolicy, ctx: CodecContext) -> bytes:
    # RFC 4271 §5.1.2: empty towards internal peers, our AS prepended towards external ones.
    if not policy.ebgp:
        return frame_attribute(TRANSITIVE, AS_PATH, b"")
    if ctx.four_octet_as:
        return frame_attribute(
            TRANSITIVE, AS_PATH, bytes((AS_SEQUENCE, 1)) + policy.local_as.to_bytes(4, "big")
        )
    path = frame_attribute(
        TRANSITIVE, AS_PATH, bytes((AS_SEQUENCE, 1)) + min_as(policy.local_as).to_bytes(2, "big")
    )
    if policy.local_as > 0xFFFF:
        # RFC 6793 §4.2.2: an OLD peer also gets the real path in AS4_PATH.
        path += frame_attribute(
            OPTIONAL | TRANSITIVE, AS4_PATH, bytes((AS_SEQUENCE, 1)) + policy.local_as.to_bytes(4, "big")
        )
    return path


def _attributes(attributes: RouteAttributes, policy: PathPolicy, ctx: CodecContext) -> tuple[bytes, bytes]:
    """Attributes before and after MP_REACH_NLRI, in type-code order (RFC 4271 §5 recommends it)."""
    version, communities = attributes.version, attributes.communities
    large, local_pref = attributes.large_communities, attributes.local_pref
    head = frame_attribute(TRANSITIVE, ORIGIN, bytes((ORIGIN_IGP,))) + _as_path(policy, ctx)
    if version == 4 and policy.next_hop_v4 is not None:
        head += frame_attribute(TRANSITIVE, NEXT_HOP, policy.next_hop_v4.packed)
    if not policy.ebgp:
        pref = DEFAULT_LOCAL_PREF if local_pref is None else local_pref
        head += frame_attribute(TRANSITIVE, LOCAL_PREF, pref.to_bytes(4, "big"))
    if communities:
        # RFC 1997: sorted and without duplicates, as the peer would store them.
        values = sorted(set(communities))
        head += frame_attribute(
            OPTIONAL | TRANSITIVE, COMMUNITIES, b"".join(v.to_bytes(4, "big") for v in values)
        )
    tail = b""
    if large:
        values3 = sorted(set(large))
        tail = frame_attribute(
            OPTIONAL | TRANSITIVE,
            LARGE_COMMUNITY,
            b"".join(
                a.to_bytes(4, "big") + b.to_bytes(4, "big") + c.to_bytes(4, "big") for a, b, c in values3
            ),
        )
    return head, tail


def _runs(items: Iterable[bytes], budget: int) -> Iterator[tuple[bytes, int]]:
    """Concatenate encoded prefixes into runs of at most `budget` octets (lazily: one run per step),
    each with the number of prefixes in it."""
    run: list[bytes] = []
    size = 0
    for item in items:
        if size + len(item) > budget:
            yield b"".join(run), len(run)
            run, size = [], 0
        run.append(item)
        size += len(item)
    if run:
        yield b"".join(run), len(run)


def _chunks(items: Iterable[bytes], budget: int) -> Iterator[bytes]:
    return (run for run, _ in _runs(items, budget))


def _full_runs(
    keys: list[int], budget: int, carry: Groups | None, attributes: RouteAttributes
) -> Iterator[bytes]:
    """The runs of `keys`; with `carry`, the last one (partly filled) is not produced but its keys are
    put in `carry[attributes]`, for the caller to pack with the routes it takes next."""
    if carry is None:
        yield from _chunks(map(key_nlri, keys), budget)
        return
    last: tuple[bytes, int] | None = None
    for run in _runs(map(key_nlri, keys), budget):
        if last is not None:
            yield last[0]
        last = run
    if last is not None:
        carry[attributes] = keys[len(keys) - last[1] :]


def _update(withdrawn: bytes, attrs: bytes, nlri: bytes) -> bytes:
    body = len(withdrawn).to_bytes(2, "big") + withdrawn + len(attrs).to_bytes(2, "big") + attrs + nlri
    return frame(MessageType.UPDATE, body)


def _mp_reach_head(next_hops: tuple[IPv6Address, ...], nlri_len: int) -> bytes:
    nh = b"".join(a.packed for a in next_hops)
    value_len = 5 + len(nh) + nlri_len
    # RFC 4760 §3: AFI 2, SAFI 1, next hop length and value, one reserved octet; Extended Length always so
    # that the header size does not depend on the NLRI.
    return (
        bytes((OPTIONAL | EXTENDED_LENGTH, MP_REACH_NLRI))
        + value_len.to_bytes(2, "big")
        + b"\x00\x02\x01"
        + bytes((len(nh),))
        + nh
        + b"\x00"
    )


def pack_updates(routes: Iterable[Route], ctx: CodecContext, policy: PathPolicy) -> list[bytes]:
    """UPDATE messages announcing `routes`; the caller has checked each family has a next hop."""
    groups: dict[RouteAttributes, list[int]] = {}
    for route in routes:
        groups.setdefault(route.attributes, []).append(route.key)
    return list(iter_updates(groups, ctx, policy))


def iter_updates(
    groups: Groups, ctx: CodecContext, policy: PathPolicy, carry: Groups | None = None
) -> Iterator[bytes]:
    """The UPDATEs of `pack_updates` for prefix keys grouped by attributes, one at a time, so that a
    caller can spread a large table over several turns of its event loop. With `carry`, each group's
    last, partly filled UPDATE is left out and its keys put in `carry` (see `_full_runs`)."""
    for attributes, keys in groups.items():
        head, tail = _attributes(attributes, policy, ctx)
        if attributes.version == 4:
            attrs = head + tail
            for nlri in _full_runs(keys, _BUDGET - len(attrs), carry, attributes):
                yield _update(b"", attrs, nlri)
        else:
            nh = policy.next_hops_v6
            budget = _BUDGET - len(head) - len(tail) - len(_mp_reach_head(nh, 0))
            for nlri in _full_runs(keys, budget, carry, attributes):
                yield _update(b"", head + _mp_reach_head(nh, len(nlri)) + nlri + tail, b"")


def pack_withdrawals(prefixes: Iterable[Prefix]) -> list[bytes]:
    """UPDATE messages withdrawing `prefixes`: IPv4 in Withdrawn Routes, IPv6 in MP_UNREACH_NLRI."""
    return list(iter_withdrawals(map(prefix_key, prefixes)))


def iter_withdrawals(keys: Iterable[int]) -> Iterator[bytes]:
    """`pack_withdrawals` for prefix keys, one UPDATE at a time."""
    v4: list[bytes] = []
    v6: list[bytes] = []
    for key in keys:
        (v4 if key_version(key) == 4 else v6).append(key_nlri(key))
    for w in _chunks(v4, _BUDGET):
        yield _update(w, b"", b"")
    # MP_UNREACH_NLRI: flags, type, 2-octet length, AFI 2, SAFI 1 (RFC 4760 §4).
    for w in _chunks(v6, _BUDGET - 7):
        attr = (
            bytes((OPTIONAL | EXTENDED_LENGTH, MP_UNREACH_NLRI))
            + (3 + len(w)).to_bytes(2, "big")
            + b"\x00\x02\x01"
        )
        yield _update(b"", attr + w, b"")


def end_of_rib(family: Family) -> bytes:
    """RFC 4724 §2: an empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI for other families."""
    if family == IPV4_UNICAST:
        return _update(b"", b"", b"")
    afi, safi = family
    return _update(
        b"", frame_attribute(OPTIONAL, MP_UNREACH_NLRI, afi.to_bytes(2, "big") + bytes((safi,))), b""
    )
