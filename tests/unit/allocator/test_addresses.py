"""Address-space engine: parsing, ownership, capacity, allocation order and sharing checks."""

from __future__ import annotations

import ipaddress
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbd.allocator.addresses import (
    AddressBook,
    PoolSpace,
    Port,
    SharingKey,
    go_quote_addresses,
)
from tests.unit.allocator.helpers import span

A = ipaddress.ip_address
NO_SHARE = SharingKey("", "")
TCP80 = (Port("TCP", 80),)
TCP443 = (Port("TCP", 443),)


def space(*entries: str, avoid: bool = False, name: str = "p") -> PoolSpace:
    return PoolSpace(name, tuple(span(e) for e in entries), avoid)


def test_owns_respects_avoid_buggy() -> None:
    s = space("192.0.2.0/24", avoid=True)
    assert not s.owns(A("192.0.2.0"))
    assert not s.owns(A("192.0.2.255"))
    assert s.owns(A("192.0.2.1"))
    assert not s.owns(A("198.51.100.1"))
    assert space("192.0.2.0/24").owns(A("192.0.2.0"))


@pytest.mark.parametrize(
    ("entries", "avoid", "v4", "v6"),
    [
        (("192.0.2.0/24",), False, 256, 0),
        (("192.0.2.0/24",), True, 254, 0),
        (("10.0.0.0/16",), True, 65536 - 512, 0),
        (("192.0.2.0/30",), True, 3, 0),
        (("192.0.2.252/30",), True, 3, 0),
        (("192.0.2.4/30",), True, 4, 0),
        (("192.0.2.255-192.0.3.0",), True, 0, 0),
        (("2001:db8::/64", "192.0.2.1-192.0.2.2"), True, 2, 2**64),
    ],
)
def test_capacity(entries: tuple[str, ...], avoid: bool, v4: int, v6: int) -> None:
    s = space(*entries, avoid=avoid)
    assert (s.capacity(4), s.capacity(6)) == (v4, v6)


def test_allocation_order_is_entry_order_then_ascending() -> None:
    book = AddressBook()
    s = space("192.0.2.10-192.0.2.11", "192.0.2.1/32")
    got = []
    for i in range(4):
        ip = book.first_acceptable(f"ns/s{i}", s, 4, TCP80, NO_SHARE)
        if ip is None:
            break
        book.assign(f"ns/s{i}", (ip,), TCP80, NO_SHARE)
        got.append(str(ip))
    assert got == ["192.0.2.10", "192.0.2.11", "192.0.2.1"]


def test_avoid_buggy_skips_zero_and_255() -> None:
    book = AddressBook()
    s = space("10.0.0.254-10.0.1.1", avoid=True)
    got = []
    for i in range(5):
        ip = book.first_acceptable(f"ns/s{i}", s, 4, (), NO_SHARE)
        if ip is None:
            break
        book.assign(f"ns/s{i}", (ip,), (), NO_SHARE)
        got.append(str(ip))
    assert got == ["10.0.0.254", "10.0.1.1"]


def test_freed_address_is_reused_first() -> None:
    book = AddressBook()
    s = space("192.0.2.0/29")
    for i in range(3):
        ip = book.first_acceptable(f"ns/s{i}", s, 4, (), NO_SHARE)
        assert ip is not None
        book.assign(f"ns/s{i}", (ip,), (), NO_SHARE)
    book.unassign("ns/s1", (A("192.0.2.1"),))
    assert book.first_acceptable("ns/x", s, 4, (), NO_SHARE) == A("192.0.2.1")


def test_family_filter() -> None:
    book = AddressBook()
    s = space("192.0.2.0/30", "2001:db8::/126")
    assert book.first_acceptable("ns/a", s, 6, (), NO_SHARE) == A("2001:db8::")
    assert book.first_acceptable("ns/a", space("192.0.2.0/30"), 6, (), NO_SHARE) is None


def test_huge_v6_pool_is_instant() -> None:
    book = AddressBook()
    s = space("2001:db8::/64")
    start = time.perf_counter()
    for i in range(2000):
        ip = book.first_acceptable(f"ns/s{i}", s, 6, (), NO_SHARE)
        assert ip is not None
        book.assign(f"ns/s{i}", (ip,), (), NO_SHARE)
    assert book.users_of(A("2001:db8::7cf")) == ("ns/s1999",)
    assert time.perf_counter() - start < 2.0


KEY = SharingKey("web", "")


@pytest.mark.parametrize(
    ("first_key", "first_ports", "second_key", "second_ports", "shares"),
    [
        (KEY, TCP80, KEY, TCP443, True),
        (KEY, TCP80, KEY, TCP80, False),
        (KEY, TCP80, KEY, (Port("UDP", 80),), True),
        (KEY, TCP80, SharingKey("other", ""), TCP443, False),
        (NO_SHARE, TCP80, NO_SHARE, TCP443, False),
        (KEY, TCP80, NO_SHARE, TCP443, False),
        (SharingKey("web", "app=a"), TCP80, SharingKey("web", "app=b"), TCP443, False),
        (SharingKey("web", "app=a"), TCP80, SharingKey("web", "app=a"), TCP443, True),
    ],
)
def test_sharing_rules(
    first_key: SharingKey,
    first_ports: tuple[Port, ...],
    second_key: SharingKey,
    second_ports: tuple[Port, ...],
    shares: bool,
) -> None:
    book = AddressBook()
    s = space("192.0.2.1-192.0.2.2")
    book.assign("ns/a", (A("192.0.2.1"),), first_ports, first_key)
    conflict = book.check("ns/b", A("192.0.2.1"), second_ports, second_key)
    assert (conflict is None) == shares
    expected = "192.0.2.1" if shares else "192.0.2.2"
    assert book.first_acceptable("ns/b", s, 4, second_ports, second_key) == A(expected)


def test_conflict_messages_match_metallb() -> None:
    book = AddressBook()
    book.assign("ns/a", (A("192.0.2.1"),), TCP80, KEY)
    port_clash = book.check("ns/b", A("192.0.2.1"), TCP80, KEY)
    assert port_clash is not None
    assert port_clash.message == 'port TCP/80 is already in use on "192.0.2.1"'
    key_clash = book.check("ns/b", A("192.0.2.1"), TCP443, NO_SHARE)
    assert key_clash is not None
    assert key_clash.message == 'can\'t change sharing key for "ns/b", address also in use by ns/a'


def test_sole_user_may_change_its_key() -> None:
    book = AddressBook()
    book.assign("ns/a", (A("192.0.2.1"),), TCP80, KEY)
    assert book.check("ns/a", A("192.0.2.1"), TCP80, NO_SHARE) is None


def test_shared_address_earlier_than_free_one_is_preferred() -> None:
    book = AddressBook()
    s = space("192.0.2.1-192.0.2.9")
    book.assign("ns/a", (A("192.0.2.1"),), TCP80, NO_SHARE)
    book.assign("ns/b", (A("192.0.2.2"),), TCP80, KEY)
    assert book.first_acceptable("ns/c", s, 4, TCP443, KEY) == A("192.0.2.2")
    assert book.first_acceptable("ns/c", s, 4, TCP80, KEY) == A("192.0.2.3")


def test_unassign_last_user_frees_address() -> None:
    book = AddressBook()
    book.assign("ns/a", (A("192.0.2.1"),), TCP80, KEY)
    book.assign("ns/b", (A("192.0.2.1"),), TCP443, KEY)
    book.unassign("ns/a", (A("192.0.2.1"),))
    assert book.users_of(A("192.0.2.1")) == ("ns/b",)
    book.unassign("ns/b", (A("192.0.2.1"),))
    assert book.users_of(A("192.0.2.1")) == ()
    assert book.first_acceptable("ns/c", space("192.0.2.1/32"), 4, (), NO_SHARE) == A("192.0.2.1")


def test_go_quote_addresses() -> None:
    assert go_quote_addresses([A("192.0.2.1")]) == '"192.0.2.1"'
    assert go_quote_addresses([A("192.0.2.1"), A("2001:db8::1")]) == '["192.0.2.1" "2001:db8::1"]'


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=80),
    st.booleans(),
)
def test_first_acceptable_matches_brute_force(ops: list[tuple[bool, int]], avoid: bool) -> None:
    """Against a naive walk of every address, after random assign/unassign sequences."""
    s = space("10.0.0.250-10.0.1.5", "10.0.2.0/30", avoid=avoid)
    book = AddressBook()
    owners: dict[str, int] = {}
    for is_add, n in ops:
        name = f"ns/s{n}"
        if is_add and name not in owners:
            ip = book.first_acceptable(name, s, 4, (), NO_SHARE)
            expected = next(
                (
                    v
                    for r in s.spans
                    for v in range(r.first, r.last + 1)
                    if v not in owners.values() and not (avoid and (v & 0xFF) in (0, 255))
                ),
                None,
            )
            assert (None if ip is None else int(ip)) == expected
            if ip is not None:
                book.assign(name, (ip,), (), NO_SHARE)
                owners[name] = int(ip)
        elif not is_add and name in owners:
            book.unassign(name, (ipaddress.IPv4Address(owners[name]),))
            del owners[name]
