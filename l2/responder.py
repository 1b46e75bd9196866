"""The ARP/NDP responder of one node: which VIPs it answers for, where, and what it sends.

Theory of operation. The responder holds two inputs, both replaced wholesale: the VIPs this node owns
now (`set_owned`, from the reconcile function's L2 announcements) and the node's interfaces
(`set_interfaces`, from netlink). From them it derives the *answer set*: one entry per (VIP,
interface) where the VIP may be answered, i.e. the interface is eligible for the VIP's family
(`Interface.arp` / `Interface.ndp`) and named by the VIP's advertisements (or any eligible one when
they name none). Every change of inputs recomputes the answer set and diffs it:

- an entry that appears (takeover, link back up, MAC changed) starts a gratuitous burst: the first
  round goes out in the same call, the next rounds at `BURST` offsets through the timer;
- an entry that disappears (release, link down) is dropped at once: no answer and no pending round
  survives it.

Received frames are answered only from the answer set: an ARP request or a Neighbor Solicitation is
answered if and only if its target is a VIP in the set *on the interface it arrived on*. Nothing else is
ever answered. The responder never reads a clock: every call takes `now`, and `get_timer()` says when
`handle_timer` is due. Frames to send are drained with `transmits()`, events with `events()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from l2 import arp, ndp
from l2.ethernet import ETHERTYPE_ARP, ETHERTYPE_IPV6, HEADER, HEADER_LENGTH
from l2.interfaces import Interface

IPAddress = IPv4Address | IPv6Address

# Offsets (seconds after takeover) of the gratuitous rounds. The first goes out at once, since every
# millisecond before it is failover time. The second, 50 ms later, makes one lost packet cost 50 ms
# rather than the whole failover budget (200 ms). The rounds then back off (0.2, 0.5 s) to ride out a
# longer loss burst (a switch relearning the MAC, a port still coming up) without flooding, and the last
# comes 1.1 s after the first: past Linux's default neighbour `locktime` (1 s), so that a plain ARP
# reply still in flight from the previous owner, which the client may accept once the lock expires,
# is overridden again. RFC 4861 §7.2.6 paces unsolicited NAs at least RetransTimer (1 s) apart; we send
# five in 1.1 s instead, a bounded (5 per VIP per takeover) deviation for the same failover reason.
BURST: tuple[float, ...] = (0.0, 0.05, 0.2, 0.5, 1.1)


@dataclass(frozen=True, slots=True)
class Owned:
    """A VIP this node owns now: answer on `interfaces`, or on every eligible one if `all_interfaces`."""

    address: IPAddress
    service: str
    interfaces: tuple[str, ...] = ()
    all_interfaces: bool = False


@dataclass(frozen=True, slots=True)
class Transmit:
    """An Ethernet frame to send out of `interface`."""

    interface: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class AnswerStarted:
    """The responder answers for `address` on `interface` from now on and starts a gratuitous burst."""

    address: IPAddress
    interface: str
    mac: bytes


@dataclass(frozen=True, slots=True)
class AnswerStopped:
    address: IPAddress
    interface: str
    reason: str


Event = AnswerStarted | AnswerStopped


@dataclass(slots=True)
class Counters:
    """Per-VIP packet counts (MetalLB's metallb_layer2_* metrics)."""

    requests: int = 0
    responses: int = 0
    gratuitous: int = 0


@dataclass(slots=True)
class _Answer:
    owned: Owned
    interface: Interface
    round: int = 0
    due: float | None = None


@dataclass(frozen=True, slots=True)
class AnswerInfo:
    """One (VIP, interface) the responder answers on, for views."""

    owned: Owned
    interface: str
    index: int
    mac: bytes
    burst_remaining: int


@dataclass(slots=True)
class _State:
    owned: dict[IPAddress, Owned] = field(default_factory=dict)
    interfaces: dict[str, Interface] = field(default_factory=dict)
    answers: dict[tuple[IPAddress, str], _Answer] = field(default_factory=dict)
    # (interface, packed address) -> answer: the receive path looks the target up in the raw frame
    # before decoding anything, since most ARP and NDP on a segment is about other addresses.
    by_target: dict[tuple[str, bytes], _Answer] = field(default_factory=dict)


class Responder:
    __slots__ = ("_burst", "_events", "_state", "_transmits", "counters", "dropped")

    def __init__(self, burst: tuple[float, ...] = BURST) -> None:
        if not burst or burst[0] != 0.0 or list(burst) != sorted(burst):
            raise ValueError("a burst starts at 0 and never goes back in time")
        self._burst = burst
        self._state = _State()
        self._transmits: list[Transmit] = []
        self._events: list[Event] = []
        self.counters: dict[IPAddress, Counters] = {}
        self.dropped: dict[ndp.NdpDrop, int] = {}

    # --- inputs ------------------------------------------------------------------------------------

    def set_owned(self, owned: Iterable[Owned], now: float) -> None:
        self._state.owned = {o.address: o for o in owned}
        self._converge(now)

    def set_interfaces(self, interfaces: Iterable[Interface], now: float) -> None:
        self._state.interfaces = {i.name: i for i in interfaces}
        self._converge(now)

    def reannounce(self, addresses: Iterable[IPAddress], now: float) -> None:
        """Start the gratuitous burst again for these VIPs wherever they are answered.

        For a VIP this node kept while some of its candidates could not hear it (a partition): on
        their side one of them took the VIP over and the clients there learnt its MAC. When the
        partition heals that node releases the VIP without a word, so the segment must hear from the
        owner again, or its clients keep sending to the wrong MAC until their entries expire."""
        wanted = set(addresses)
        for (address, _), answer in self._state.answers.items():
            if address in wanted:
                self._gratuitous(answer)
                answer.round = 0
                self._advance(answer, now)

    def receive(self, interface: str, frame: bytes, now: float) -> None:
        """A frame received on `interface` (ARP or ICMPv6, as the socket filter lets through)."""
        if len(frame) < HEADER_LENGTH:
            return
        ethertype = HEADER.unpack_from(frame)[2]
        if ethertype == ETHERTYPE_ARP:
            self._receive_arp(interface, frame)
        elif ethertype == ETHERTYPE_IPV6:
            self._receive_ndp(interface, frame)

    def handle_timer(self, now: float) -> None:
        for answer in self._state.answers.values():
            if answer.due is not None and answer.due <= now:
                self._gratuitous(answer)
                self._advance(answer, now)

    # --- outputs -----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        dues = [a.due for a in self._state.answers.values() if a.due is not None]
        return min(dues) if dues else None

    def transmits(self) -> list[Transmit]:
        out, self._transmits = self._transmits, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def answering(self) -> list[AnswerInfo]:
        return [
            AnswerInfo(
                a.owned,
                name,
                a.interface.index,
                a.interface.mac,
                len(self._burst) - a.round if a.due is not None else 0,
            )
            for (_, name), a in sorted(self._state.answers.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
        ]

    @property
    def owned(self) -> tuple[Owned, ...]:
        return tuple(self._state.owned.values())

    def groups(self) -> frozenset[tuple[int, IPv6Address]]:
        """(interface index, solicited-node group) pairs to be a member of: one per IPv6 answer."""
        return frozenset(
            (a.interface.index, ndp.solicited_node(address))
            for (address, _), a in self._state.answers.items()
            if isinstance(address, IPv6Address)
        )

    # --- internals ---------------------------------------------------------------------------------

    def _wanted(self) -> dict[tuple[IPAddress, str], tuple[Owned, Interface]]:
        wanted: dict[tuple[IPAddress, str], tuple[Owned, Interface]] = {}
        interfaces = self._state.interfaces
        for owned in self._state.owned.values():
            v6 = isinstance(owned.address, IPv6Address)
            names = interfaces.keys() if owned.all_interfaces else owned.interfaces
            for name in names:
                interface = interfaces.get(name)
                if interface is not None and (interface.ndp if v6 else interface.arp):
                    wanted[(owned.address, name)] = (owned, interface)
        return wanted

    def _converge(self, now: float) -> None:
        wanted = self._wanted()
        answers = self._state.answers
        for key in [k for k in answers if k not in wanted]:
            del answers[key]
            self._events.append(AnswerStopped(key[0], key[1], self._why_stopped(key)))
        for key, (owned, interface) in wanted.items():
            current = answers.get(key)
            if current is not None and (current.interface.mac, current.interface.index) == (
                interface.mac,
                interface.index,
            ):
                # Same VIP on the same link with the same MAC: nothing for the segment to relearn. (A
                # new index is a link deleted and created again: its socket must be opened again.)
                current.owned, current.interface = owned, interface
                continue
            answer = _Answer(owned, interface)
            answers[key] = answer
            self.counters.setdefault(owned.address, Counters())
            self._events.append(AnswerStarted(owned.address, interface.name, interface.mac))
            self._gratuitous(answer)
            self._advance(answer, now)
        self._state.by_target = {(name, address.packed): a for (address, name), a in answers.items()}

    def _why_stopped(self, key: tuple[IPAddress, str]) -> str:
        address, name = key
        owned = self._state.owned.get(address)
        if owned is None:
            return "released"
        interface = self._state.interfaces.get(name)
        if interface is None:
            return "interface gone"
        if not owned.all_interfaces and name not in owned.interfaces:
            return "interface not selected"
        return interface.ineligible() or "interface not eligible"

    def _advance(self, answer: _Answer, now: float) -> None:
        answer.round += 1
        if answer.round < len(self._burst):
            # Each round is timed from the one before: a late timer never bunches rounds together, so
            # the spread stays at least the nominal one.
            answer.due = now + self._burst[answer.round] - self._burst[answer.round - 1]
        else:
            answer.due = None

    def _gratuitous(self, answer: _Answer) -> None:
        address, interface = answer.owned.address, answer.interface
        counters = self.counters[address]
        if isinstance(address, IPv4Address):
            for frame in arp.gratuitous(address, interface.mac):
                self._transmits.append(Transmit(interface.name, frame))
                counters.gratuitous += 1
            return
        # RFC 4861 §7.2.6: unsolicited NA to all-nodes, Solicited clear, Override set (we take the
        # address over), with the target link-layer option. Source: see `_receive_ndp`.
        advert = ndp.NdpPacket(
            ndp.Kind.ADVERTISEMENT,
            address,
            ndp.ALL_NODES,
            ndp.HOP_LIMIT,
            address,
            interface.mac,
            override=True,
        )
        self._transmits.append(Transmit(interface.name, ndp.encode_frame(advert, source_mac=interface.mac)))
        counters.gratuitous += 1

    def _drop(self, reason: ndp.NdpDrop) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def _receive_arp(self, name: str, frame: bytes) -> None:
        answer = self._state.by_target.get((name, frame[arp.TARGET_IP]))
        if answer is None:
            return
        # Replies and gratuitous packets (ours echoed by the segment, or a conflicting speaker's) ask
        # nothing; RFC 5227 probes (sender IP 0.0.0.0) are requests and get an answer, which is how an
        # owner defends its address.
        reply = arp.reply_to(frame, answer.interface.mac)
        if reply is None:
            return
        counters = self.counters[answer.owned.address]
        counters.requests += 1
        self._transmits.append(Transmit(name, reply))
        counters.responses += 1

    def _receive_ndp(self, name: str, frame: bytes) -> None:
        if self._state.by_target.get((name, frame[ndp.TARGET])) is None:
            return
        packet = ndp.decode_frame(frame)
        if isinstance(packet, ndp.NdpDrop):
            self._drop(packet)
            return
        if packet.kind is not ndp.Kind.SOLICITATION:
            return
        answer = self._state.answers.get((packet.target, name))
        # RFC 4861 §7.2.3 (as a host would): a solicitation is sent to the target's solicited-node
        # group (resolution, DAD) or to the target itself (NUD, RFC 4861 §7.3.1); both are answered.
        if answer is None or packet.destination not in (packet.target, ndp.solicited_node(packet.target)):
            return
        counters = self.counters[packet.target]
        counters.requests += 1
        interface = answer.interface
        if packet.source == ndp.UNSPECIFIED:
            # RFC 4861 §7.2.4: answering DAD, Solicited clear, to all-nodes; the solicitor learns the
            # address is taken.
            destination, destination_mac, solicited = ndp.ALL_NODES, None, False
        else:
            # RFC 4861 §7.2.4: to the solicitor, Solicited set. Its MAC is in the source link-layer
            # option, or (unicast NUD may omit it, RFC 4861 §4.3) the frame's Ethernet source.
            destination, solicited = packet.source, True
            destination_mac = packet.link_layer or HEADER.unpack_from(frame)[1]
        # RFC 4861 §4.4: the source is "an address assigned to the interface"; we use the VIP itself,
        # as Linux does for its own addresses (ndisc_send_na). A link-local source is valid too, but
        # tools such as ndisc6 discard an answer for a global target that comes from a link-local.
        advert = ndp.NdpPacket(
            ndp.Kind.ADVERTISEMENT,
            packet.target,
            destination,
            ndp.HOP_LIMIT,
            packet.target,
            # RFC 4861 §7.2.4: the target link-layer option MUST be included for multicast
            # solicitations and SHOULD otherwise; always include it.
            interface.mac,
            solicited=solicited,
            # RFC 4861 §7.2.4: Override set unless proxying or anycast; the VIP is ours alone.
            override=True,
        )
        frame_out = ndp.encode_frame(advert, source_mac=interface.mac, destination_mac=destination_mac)
        self._transmits.append(Transmit(name, frame_out))
        counters.responses += 1
