"""BFDManager over loopback: two managers (127.0.0.1 and 127.0.0.2) on private ports, real time.

The adapter is thin; this checks the parts the engine tests cannot: TTL 255 on the wire and its
reading from ancillary data, demultiplexing on the shared port, the thread hand-off, subscribers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest

from bfd import Diag, Profile, State, StateChanged
from lbd.metrics import Sample
from lbd.net import bfd_sockets as sockets
from lbd.net.bfd_manager import BFDManager, WorkerDied
from lbd.net.bfd_transport import Ports, SessionKey

FAST = Profile(transmit_interval_ms=50, receive_interval_ms=50)
# Private ports so a BFD daemon elsewhere on the machine (or a parallel run) cannot interfere.
_BASE = 20000 + (os.getpid() % 2000) * 3
PORTS = Ports(control=_BASE, multihop=_BASE + 1, echo=_BASE + 2)
A, B = "127.0.0.1", "127.0.0.2"


async def wait_state(manager: BFDManager, key: SessionKey, state: State, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while manager.state(key) is not state:
            await asyncio.sleep(0.01)


async def test_sessions_come_up_and_detect_a_silent_peer() -> None:
    a, b = BFDManager(ports=PORTS, listen=A, seed=1), BFDManager(ports=PORTS, listen=B, seed=2)
    await a.start()
    await b.start()
    seen: list[StateChanged] = []
    a.subscribe(lambda key, event: seen.append(event))
    key_a, key_b = SessionKey(B, local=A), SessionKey(A, local=B)
    try:
        await a.add_session(key_a, FAST)
        await b.add_session(key_b, FAST)
        await wait_state(a, key_a, State.UP)
        await wait_state(b, key_b, State.UP)
        [info] = await a.sessions()
        assert info.tx_interval == 0.05 and info.detection_time == pytest.approx(0.15)
        assert info.counters.control_in > 0 and info.counters.control_out > 0
        assert info.counters.dropped == 0  # every packet carried TTL 255
        samples = {s.name: s for s in a.metric_samples()}
        assert set(samples) == {
            "metallb_bfd_session_up",
            "metallb_bfd_session_up_events",
            "metallb_bfd_session_down_events",
            "metallb_bfd_control_packet_input",
            "metallb_bfd_control_packet_output",
            "metallb_bfd_echo_packet_input",
            "metallb_bfd_echo_packet_output",
        }
        assert samples["metallb_bfd_session_up"] == Sample("metallb_bfd_session_up", {"peer": B}, 1.0)
        assert samples["metallb_bfd_session_up_events"].value == 1
        # b vanishes without a word: a notices within its 150 ms detection time.
        await b.stop()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await wait_state(a, key_a, State.DOWN, timeout=2.0)
        assert loop.time() - start < 0.15 + 0.1
        assert seen[-1] == StateChanged(State.UP, State.DOWN, Diag.CONTROL_DETECTION_TIME_EXPIRED)
    finally:
        await a.stop()
        await b.stop()


async def test_removal_says_admin_down_and_profile_change_does_not_flap() -> None:
    a, b = BFDManager(ports=PORTS, listen=A, seed=3), BFDManager(ports=PORTS, listen=B, seed=4)
    await a.start()
    await b.start()
    key_a, key_b = SessionKey(B, local=A), SessionKey(A, local=B)
    events: list[StateChanged] = []
    b.subscribe(lambda key, event: events.append(event))
    try:
        await a.add_session(key_a, FAST)
        await b.add_session(key_b, FAST)
        await wait_state(b, key_b, State.UP)
        await a.set_profile(key_a, Profile(transmit_interval_ms=100, receive_interval_ms=100))
        await asyncio.sleep(0.5)
        [info] = await a.sessions()
        assert info.state is State.UP and not info.polling and info.tx_interval == 0.1
        assert [e.new for e in events] == [State.INIT, State.UP] or [e.new for e in events] == [State.UP]
        await a.remove_session(key_a)
        assert a.state(key_a) is None and await a.sessions() == []
        await wait_state(b, key_b, State.DOWN)
        assert events[-1] == StateChanged(State.UP, State.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN)
    finally:
        await a.stop()
        await b.stop()


async def test_worker_death_reads_as_down() -> None:
    a, b = BFDManager(ports=PORTS, listen=A, seed=5), BFDManager(ports=PORTS, listen=B, seed=6)
    await a.start()
    await b.start()
    key_a, key_b = SessionKey(B, local=A), SessionKey(A, local=B)
    events: list[StateChanged] = []
    a.subscribe(lambda key, event: events.append(event))
    try:
        await a.add_session(key_a, FAST)
        await b.add_session(key_b, FAST)
        await wait_state(a, key_a, State.UP)
        pid = a.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await wait_state(a, key_a, State.DOWN, timeout=2.0)
        assert events[-1] == StateChanged(State.UP, State.DOWN, Diag.PATH_DOWN)
        with pytest.raises(WorkerDied):
            await a.sessions()
        # The peer notices the silence as any failure.
        await wait_state(b, key_b, State.DOWN, timeout=2.0)
    finally:
        await a.stop()
        await b.stop()


async def test_sessions_to_one_peer_from_two_local_addresses_are_told_apart() -> None:
    # a listens on every address (127.0.0.1 and 127.0.0.3 are both its own); b only on 127.0.0.2.
    c = "127.0.0.3"
    a, b = BFDManager(ports=PORTS, seed=7), BFDManager(ports=PORTS, listen=B, seed=8)
    await a.start()
    await b.start()
    a_keys = [SessionKey(B, local=A), SessionKey(B, local=c)]
    b_keys = [SessionKey(A, local=B), SessionKey(c, local=B)]
    try:
        for key in a_keys:
            await a.add_session(key, FAST)
        for key in b_keys:
            await b.add_session(key, FAST)
        for key in a_keys:
            await wait_state(a, key, State.UP)
        # Removing b's session to 127.0.0.3 takes down only a's session from 127.0.0.3.
        await b.remove_session(b_keys[1])
        await wait_state(a, a_keys[1], State.DOWN)
        await asyncio.sleep(0.3)
        assert a.state(a_keys[0]) is State.UP
        infos = {i.key: i for i in await a.sessions()}
        assert infos[a_keys[0]].remote_discriminator != infos[a_keys[1]].remote_discriminator
        assert infos[a_keys[0]].counters.dropped == infos[a_keys[1]].counters.dropped == 0
    finally:
        await a.stop()
        await b.stop()


def test_session_keys_are_canonical() -> None:
    assert SessionKey("2001:DB8:0::1", local="2001:db8::0:2") == SessionKey(
        "2001:db8::1", local="2001:db8::2"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="SO_RCVBUFFORCE needs CAP_NET_ADMIN")
def test_listening_socket_buffer_holds_a_burst_of_many_sessions() -> None:
    sock = sockets.listening_socket(socket.AF_INET, PORTS.control, A)
    try:
        # Linux reports twice the requested size (it counts its bookkeeping too).
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= sockets.LISTEN_BUFFER
    finally:
        sock.close()
