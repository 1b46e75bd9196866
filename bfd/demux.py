"""Finding the session a received control packet belongs to (RFC 5880 §6.3, §6.8.6).

A path key identifies where a packet came from: for single hop (RFC 5881 §3) the peer address and the
interface, for multihop (RFC 5883 §3) the peer and local address pair. Its shape is the adapter's
choice; the demultiplexer only compares keys for equality.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from bfd.packet import ControlPacket, DropReason, State

K = TypeVar("K", bound=Hashable)

# Bounds the search for a free discriminator; with 2**32 values and a few thousand sessions a repeat
# is already vanishingly rare, so exhausting this means the random source is broken.
_ALLOCATION_ATTEMPTS = 64


class Demux(Generic[K]):
    def __init__(self, getrandbits: Callable[[int], int]) -> None:
        self._getrandbits = getrandbits
        self._by_discr: dict[int, K] = {}
        self._by_path: dict[K, int] = {}

    def add(self, path: K) -> int:
        """Register a session for `path` and return its new, unique, nonzero local discriminator."""
        if path in self._by_path:
            raise ValueError(f"a BFD session for {path!r} already exists")
        for _ in range(_ALLOCATION_ATTEMPTS):
            # RFC 5880 §6.8.1: bfd.LocalDiscr "MUST be unique across all BFD sessions on this system,
            # and nonzero. It SHOULD be set to a random (but still unique) value".
            discr = self._getrandbits(32)
            if discr != 0 and discr not in self._by_discr:
                self._by_discr[discr] = path
                self._by_path[path] = discr
                return discr
        raise RuntimeError("no free BFD discriminator found; the random source is not random")

    def remove(self, path: K) -> None:
        discr = self._by_path.pop(path)
        del self._by_discr[discr]

    def discriminator(self, path: K) -> int | None:
        return self._by_path.get(path)

    def lookup(self, packet: ControlPacket, path: K) -> int | DropReason:
        """The local discriminator of the session `packet` (received over `path`) belongs to."""
        if packet.your_discriminator != 0:
            # RFC 5880 §6.8.6: "If the Your Discriminator field is nonzero, it MUST be used to select
            # the session with which this BFD packet is associated. If no session is found, the packet
            # MUST be discarded."
            owner = self._by_discr.get(packet.your_discriminator)
            if owner is None:
                return DropReason.NO_SESSION
            # A discriminator is easy to guess; insisting on the session's own path keeps a packet from
            # one neighbour from driving another neighbour's session.
            if owner != path:
                return DropReason.WRONG_PEER
            return packet.your_discriminator
        # "If the Your Discriminator field is zero and the State field is not Down or AdminDown, the
        # packet MUST be discarded." Otherwise the session is selected by the packet's source.
        if packet.state not in (State.DOWN, State.ADMIN_DOWN):
            return DropReason.ZERO_YOUR_DISCRIMINATOR
        discr = self._by_path.get(path)
        return DropReason.NO_SESSION if discr is None else discr

    def session_for_echo(self, discriminator: int) -> K | None:
        """The path of the session that sent an echo packet carrying `discriminator`."""
        return self._by_discr.get(discriminator)
