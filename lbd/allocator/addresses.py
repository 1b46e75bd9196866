"""Address space of the pools and who uses each address, with allocation cost independent of pool size.

Theory of operation. A pool is an ordered tuple of inclusive integer ranges, one per `addresses` entry,
in configuration order (a CIDR and an `a-b` range are both just a range). MetalLB walks a pool's
entries in that order and each entry from its lowest address up, handing out the first address whose
current users accept the newcomer; we reproduce exactly that order without ever enumerating a range:

* the addresses in use are kept, per IP version, in one sorted list of integers. The first unused
  address at or above `a` is found with one bisection plus a binary search for the end of the run of
  consecutive used addresses that starts at `a` (in a strictly increasing list, `used[j] - j` is
  non-decreasing and constant exactly along such a run). A `/64` costs the same as a `/30`.
* an address already in use is acceptable only to a service with the same sharing key and backend
  key and no port in common (MetalLB's `checkSharing`); those candidates are found through an index
  from (sharing key, backend key) to the sorted addresses carrying it, so they cost nothing for
  services that do not share.
* `avoidBuggyIPs` skips IPv4 addresses ending in .0 or .255: each skip moves past one such address, so
  the work grows with the number of /24 boundaries crossed inside used runs, never with pool size.

The `AddressBook` is mutable on purpose: one allocation run (`lbd.allocator.allocate`) builds a fresh
book from its snapshot, mutates it while serving services in a fixed order, and throws it away, so the
run as a whole stays a pure function of its input.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, order=True)
class Port:
    """One (protocol, port) pair of a Service, the unit two sharing services must not both use."""

    protocol: str
    port: int

    def __str__(self) -> str:
        # MetalLB's `Port.String()`: "TCP/80".
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True, slots=True)
class SharingKey:
    """What must match for two services to share an address.

    `sharing` is the allow-shared-ip annotation ("" = never share); `backend` is "" under the Cluster
    traffic policy and the service's pod selector rendered `k=v,k2=v2` under Local, so that services
    sharing an address under Local send traffic to the same pods (MetalLB `k8salloc.BackendKey`).
    """

    sharing: str
    backend: str


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """Inclusive range of addresses of one IP version, as integers: one `spec.addresses` entry."""

    version: int
    first: int
    last: int

    @classmethod
    def between(cls, first: IPAddress, last: IPAddress) -> Span:
        return cls(first.version, int(first), int(last))

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return address.version == self.version and self.first <= int(address) <= self.last

    def __str__(self) -> str:
        first, last = make_address(self.version, self.first), make_address(self.version, self.last)
        return str(first) if first == last else f"{first}-{last}"


def make_address(version: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def confuses_buggy_firmware(version: int, value: int) -> bool:
    """IPv4 addresses ending in .0 or .255 upset smurf protection on some old CPE (MetalLB's rule)."""
    return version == 4 and (value & 0xFF) in (0, 0xFF)


@dataclass(frozen=True, slots=True)
class PoolSpace:
    """The addresses of one pool, in MetalLB's allocation order."""

    name: str
    spans: tuple[Span, ...]
    avoid_buggy_ips: bool = False

    def owns(self, address: IPAddress) -> bool:
        """MetalLB `poolFor`: inside one of the ranges and not skipped by avoidBuggyIPs."""
        version, value = address.version, int(address)
        if self.avoid_buggy_ips and confuses_buggy_firmware(version, value):
            return False
        return any(r.version == version and r.first <= value <= r.last for r in self.spans)

    def capacity(self, version: int) -> int:
        """Number of allocatable addresses of one version (exact, also with avoidBuggyIPs)."""
        total = 0
        for r in self.spans:
            if r.version != version:
                continue
            total += r.size
            if self.avoid_buggy_ips and version == 4:
                total -= _count_buggy(r.first, r.last)
        return total


def _count_buggy(first: int, last: int) -> int:
    """Count of values in [first, last] whose low byte is 0 or 255."""

    def upto(n: int) -> int:
        # Values in [0, n] with low byte 0, plus those with low byte 255.
        if n < 0:
            return 0
        return n // 256 + 1 + (n + 1) // 256

    return upto(last) - upto(first - 1)


@dataclass(slots=True)
class AddressUse:
    """Users of one address whose sharing key allows sharing (MetalLB's sharingKeyForIP/portsInUse/
    servicesOnIP for one IP). An address used by a service that never shares is held as just that
    service's key: no other service can join it, and its ports are then never compared."""

    key: SharingKey
    ports: dict[Port, str] = field(default_factory=dict)
    services: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class SharingConflict:
    """Why an address in use cannot take one more service; `message` is MetalLB's error text."""

    message: str


def _identity(value: int) -> int:
    return value


def _buggy_free_rank(value: int) -> int:
    """Position of an IPv4 address among those not ending in .0/.255 (monotone, +1 per such address)."""
    return (value >> 8) * 254 + min(max((value & 0xFF) - 1, 0), 253)


_MERGE_ONE_BY_ONE = 16
"""Up to this many pending values are inserted one by one; more are appended and sorted in one go."""


class _SortedInts:
    """Sorted distinct integers with `first value not in the set at or above a` in O(log n).

    Values added but not yet needed wait unsorted in `_pending`: a pass adds every requested address
    in service-key order, which is not address order, and inserting each into a sorted list of
    100,000 would move half of it every time. The first query sorts them in at once."""

    __slots__ = ("_pending", "_values")

    def __init__(self) -> None:
        self._values: list[int] = []
        self._pending: list[int] = []

    def _sorted(self) -> list[int]:
        pending, values = self._pending, self._values
        if pending:
            if len(pending) <= _MERGE_ONE_BY_ONE:
                for value in pending:
                    bisect.insort(values, value)
            else:
                values.extend(pending)
                values.sort()
            pending.clear()
        return values

    def add(self, value: int) -> None:
        """Add a value known not to be in the set."""
        self._pending.append(value)

    def discard(self, value: int) -> None:
        values = self._sorted()
        i = bisect.bisect_left(values, value)
        if i < len(values) and values[i] == value:
            del values[i]

    def first_absent_from(self, start: int, last: int, skip_buggy: bool = False) -> int:
        """The first value >= start not in the set (only meaningful up to `last`). With `skip_buggy`,
        values ending in .0/.255 count as present: none of them is ever in the set inside such a range
        (a pool avoiding them never hands them out), so runs of used addresses bridge those gaps."""
        values = self._sorted()
        i = bisect.bisect_left(values, start)
        if i == len(values) or values[i] != start:
            return start
        rank = _buggy_free_rank if skip_buggy else _identity
        # rank(values[j]) - j is constant along the run of consecutive values starting at values[i]
        # and larger after it; only indexes up to `last` are searched, where that holds.
        offset = rank(start) - i
        lo, hi = i, bisect.bisect_right(values, last) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if rank(values[mid]) - mid == offset:
                lo = mid
            else:
                hi = mid - 1
        return values[lo] + 1

    def between(self, first: int, last: int) -> Iterator[int]:
        values = self._sorted()
        i = bisect.bisect_left(values, first)
        while i < len(values) and values[i] <= last:
            yield values[i]
            i += 1


class _KeyIndex:
    """Sorted distinct integers for the (small) index of shared addresses by sharing key."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[int] = []

    def add(self, value: int) -> None:
        i = bisect.bisect_left(self.values, value)
        if i == len(self.values) or self.values[i] != value:
            self.values.insert(i, value)

    def discard(self, value: int) -> None:
        i = bisect.bisect_left(self.values, value)
        if i < len(self.values) and self.values[i] == value:
            del self.values[i]

    def between(self, first: int, last: int) -> list[int]:
        values = self.values
        return values[bisect.bisect_left(values, first) : bisect.bisect_right(values, last)]


# Per IP version: address (as an int) -> the key of its only user when that user never shares, else
# its AddressUse.
_Uses = dict[int, "str | AddressUse"]


class AddressBook:
    """Which service uses which address; answers `first acceptable address` queries for allocation.

    Addresses are held as integers (the `int()` of the address objects given, so an int already kept
    elsewhere is shared), and what a service holds is not recorded twice: callers say which addresses
    they release (`unassign`), as they know them from their own verdicts."""

    __slots__ = ("_by_key", "_used", "_uses")

    def __init__(self) -> None:
        self._uses: dict[int, _Uses] = {4: {}, 6: {}}
        self._used: dict[int, _SortedInts] = {4: _SortedInts(), 6: _SortedInts()}
        self._by_key: dict[tuple[int, SharingKey], _KeyIndex] = {}

    # -- queries ------------------------------------------------------------------------------------

    def users_of(self, address: IPAddress) -> tuple[str, ...]:
        """The services using `address`, sorted."""
        use = self._uses[address.version].get(int(address))
        if use is None:
            return ()
        if isinstance(use, str):
            return (use,)
        return tuple(sorted(use.services))

    def check(
        self, service: str, address: IPAddress, ports: Sequence[Port], key: SharingKey
    ) -> SharingConflict | None:
        """MetalLB `checkSharing`: may `service` (with these ports and key) use `address` now?"""
        use = self._uses[address.version].get(int(address))
        if use is None:
            return None
        if isinstance(use, str):
            # A user that never shares: only the service itself may hold the address again.
            if use == service:
                return None
            return SharingConflict(
                f"can't change sharing key for {go_quote(service)}, address also in use by {use}"
            )
        return self._check_shared(service, address, use, ports, key)

    def _check_shared(
        self, service: str, address: IPAddress, use: AddressUse, ports: Sequence[Port], key: SharingKey
    ) -> SharingConflict | None:
        if _sharing_error(use.key, key) is not None:
            # An incompatible key is still fine when the only user is the service itself (its key
            # changed in place).
            others = sorted(s for s in use.services if s != service)
            if others:
                return SharingConflict(
                    f"can't change sharing key for {go_quote(service)}, address also in use by "
                    + ",".join(others)
                )
        for port in ports:
            owner = use.ports.get(port)
            if owner is not None and owner != service:
                return SharingConflict(f"port {port} is already in use on {go_quote(str(address))}")
        return None

    def first_acceptable(
        self,
        service: str,
        space: PoolSpace,
        version: int,
        ports: Sequence[Port],
        key: SharingKey,
    ) -> IPAddress | None:
        """MetalLB `getFreeIPsFromPool` for one family: the first address of the pool, in pool order,
        that `check` accepts; None when the pool has none of this version left."""
        for r in space.spans:
            if r.version != version:
                continue
            found = self._first_in_range(service, r, space.avoid_buggy_ips, ports, key)
            if found is not None:
                return make_address(version, found)
        return None

    def _first_in_range(
        self, service: str, r: Span, avoid_buggy: bool, ports: Sequence[Port], key: SharingKey
    ) -> int | None:
        free = self._first_free(r, avoid_buggy)
        best = free
        if key.sharing:
            # A compatible shared address earlier than the first free one wins, as in MetalLB's walk.
            limit = r.last if free is None else free - 1
            candidates = self._by_key.get((r.version, key))
            if candidates is not None:
                for value in candidates.between(r.first, limit):
                    if self.check(service, make_address(r.version, value), ports, key) is None:
                        best = value
                        break
        return best

    def _first_free(self, r: Span, avoid_buggy: bool) -> int | None:
        used = self._used[r.version]
        skip = avoid_buggy and r.version == 4
        value = r.first
        while value <= r.last:
            value = used.first_absent_from(value, r.last, skip)
            if value > r.last:
                return None
            if skip and confuses_buggy_firmware(r.version, value):
                # x.255 is always followed by (x+1).0: step over both at once.
                value += 2 if value & 0xFF else 1
                continue
            return value
        return None

    # -- updates ------------------------------------------------------------------------------------

    def assign(
        self, service: str, addresses: Sequence[IPAddress], ports: Sequence[Port], key: SharingKey
    ) -> None:
        """Record `service` on `addresses` unconditionally; callers run `check` first, and `unassign`
        what the service held before when it moves."""
        for address in addresses:
            version = address.version
            value = int(address)
            uses = self._uses[version]
            use = uses.get(value)
            if use is None:
                self._used[version].add(value)
                if not key.sharing:
                    uses[value] = service
                    continue
                use = uses[value] = AddressUse(key)
            elif isinstance(use, str):
                if use == service and not key.sharing:
                    continue
                # The holder now shares, or a caller skipped `check`: the old user keeps it too.
                use = uses[value] = AddressUse(key, services={use})
            elif use.key != key:
                self._index_key(version, value, use.key, add=False)
                use.key = key
            use.services.add(service)
            for port in ports:
                use.ports[port] = service
            self._index_key(version, value, key, add=True)

    def take_free(
        self, service: str, version: int, value: int, ports: Sequence[Port], key: SharingKey
    ) -> bool:
        """`assign` of one address (by version and value) when nobody uses it, so that `check` has
        nothing to say; False, and nothing recorded, when somebody does."""
        uses = self._uses[version]
        if value in uses:
            return False
        if key.sharing:
            self.assign(service, (make_address(version, value),), ports, key)
            return True
        uses[value] = service
        self._used[version].add(value)
        return True

    def unassign(self, service: str, addresses: Iterable[IPAddress]) -> None:
        """Release `service`'s hold on `addresses` (those it does not hold are left alone)."""
        for address in addresses:
            version = address.version
            value = int(address)
            uses = self._uses[version]
            use = uses.get(value)
            if use is None:
                continue
            if isinstance(use, str):
                if use != service:
                    continue
            else:
                use.services.discard(service)
                for port in [p for p, owner in use.ports.items() if owner == service]:
                    del use.ports[port]
                if use.services:
                    continue
                self._index_key(version, value, use.key, add=False)
            del uses[value]
            self._used[version].discard(value)

    def _index_key(self, version: int, value: int, key: SharingKey, *, add: bool) -> None:
        if not key.sharing:
            return
        index = self._by_key.setdefault((version, key), _KeyIndex())
        if add:
            index.add(value)
        else:
            index.discard(value)


def _sharing_error(existing: SharingKey, new: SharingKey) -> str | None:
    """MetalLB `sharingOK`."""
    if not existing.sharing:
        return "existing service does not allow sharing"
    if not new.sharing:
        return "new service does not allow sharing"
    if existing.sharing != new.sharing:
        return f"sharing key {new.sharing!r} does not match existing sharing key {existing.sharing!r}"
    if existing.backend != new.backend:
        return f"backend key {new.backend!r} does not match existing sharing key {existing.backend!r}"
    return None


def go_quote(text: str) -> str:
    """Go's `%q` for the plain ASCII strings we quote (service keys, addresses)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def go_quote_addresses(addresses: Iterable[IPAddress]) -> str:
    """How MetalLB's events print addresses: `"192.0.2.1"` for one, `["192.0.2.1" "2001:db8::1"]` for
    two (Go's `%q` on a single net.IP and on a []net.IP)."""
    quoted = [go_quote(str(a)) for a in addresses]
    if len(quoted) == 1:
        return quoted[0]
    return "[" + " ".join(quoted) + "]"
