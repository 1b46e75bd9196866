"""RFC 5880 §6.8.6 session selection."""

from __future__ import annotations

import itertools

import pytest

from bfd.demux import Demux
from bfd.packet import ControlPacket, Diag, DropReason, State

PEER1 = ("192.0.2.1", "eth0")
PEER2 = ("192.0.2.2", "eth0")


def pkt(state: State, your: int) -> ControlPacket:
    return ControlPacket(state, Diag.NONE, 3, 77, your, 1_000_000, 300_000, 0)


def counter() -> Demux[tuple[str, str]]:
    values = itertools.count()
    return Demux(lambda bits: next(values) % (1 << bits))


def test_allocation_is_unique_and_nonzero() -> None:
    demux = counter()
    d1, d2 = demux.add(PEER1), demux.add(PEER2)
    assert (d1, d2) == (1, 2)
    with pytest.raises(ValueError):
        demux.add(PEER1)
    demux.remove(PEER1)
    assert demux.discriminator(PEER1) is None
    assert demux.add(PEER1) == 3


def test_stuck_random_source_fails_loudly() -> None:
    demux: Demux[str] = Demux(lambda bits: 0)
    with pytest.raises(RuntimeError):
        demux.add("x")


def test_lookup_by_your_discriminator() -> None:
    demux = counter()
    d1 = demux.add(PEER1)
    assert demux.lookup(pkt(State.UP, d1), PEER1) == d1
    assert demux.lookup(pkt(State.UP, 99), PEER1) is DropReason.NO_SESSION
    assert demux.lookup(pkt(State.UP, d1), PEER2) is DropReason.WRONG_PEER
    assert demux.session_for_echo(d1) == PEER1


def test_lookup_by_path_only_when_down() -> None:
    demux = counter()
    d1 = demux.add(PEER1)
    assert demux.lookup(pkt(State.DOWN, 0), PEER1) == d1
    assert demux.lookup(pkt(State.ADMIN_DOWN, 0), PEER1) == d1
    assert demux.lookup(pkt(State.INIT, 0), PEER1) is DropReason.ZERO_YOUR_DISCRIMINATOR
    assert demux.lookup(pkt(State.DOWN, 0), PEER2) is DropReason.NO_SESSION
