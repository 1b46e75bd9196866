"""The `bfd peers` control-socket view: what `show bfd peers brief` gives FRR users, plus the
negotiated timers and the packet counters, read from the BFD worker process."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from bfd.packet import Diag, State
from lbd.control.server import View, ViewError
from lbd.net.bfd_manager import BFDManager
from lbd.net.bfd_sockets import normalize
from lbd.net.bfd_transport import SessionInfo


class BfdViews:
    """A StatusSource over a BFDManager; an empty list while no peer uses BFD (no worker runs)."""

    __slots__ = ("_bfd",)

    def __init__(self, bfd: BFDManager) -> None:
        self._bfd = bfd

    def views(self) -> Mapping[str, View]:
        return {"bfd peers": self.peers}

    def peers(self, args: Mapping[str, Any]) -> Awaitable[list[dict[str, Any]]]:
        return self._peers(args.get("peer"))

    async def _peers(self, peer: str | None) -> list[dict[str, Any]]:
        if self._bfd.worker_pid is None:
            rows: list[dict[str, Any]] = []
        else:
            rows = [row(info) for info in await self._bfd.sessions()]
        rows.sort(key=lambda r: (r["peer"], r["local"] or "", r["interface"] or ""))
        if peer is None:
            return rows
        try:
            wanted = normalize(peer)
        except ValueError:
            raise ViewError(f"{peer!r} is not an IP address") from None
        chosen = [r for r in rows if r["peer"] == wanted]
        if not chosen:
            raise ViewError(f"no BFD session with peer {peer}")
        return chosen


def row(info: SessionInfo) -> dict[str, Any]:
    key, counters = info.key, info.counters
    return {
        "peer": key.peer,
        "local": key.local,
        "interface": key.interface,
        "multihop": key.multihop,
        "state": _name(State, info.state),
        "remote_state": _name(State, info.remote_state),
        "diag": _name(Diag, info.diag),
        "local_discriminator": info.local_discriminator,
        "remote_discriminator": info.remote_discriminator,
        "tx_interval_ms": round(info.tx_interval * 1000, 1),
        "detection_time_ms": None if info.detection_time is None else round(info.detection_time * 1000, 1),
        "echo": info.echo_active,
        "polling": info.polling,
        "control_in": counters.control_in,
        "control_out": counters.control_out,
        "echo_in": counters.echo_in,
        "echo_out": counters.echo_out,
        "up_events": counters.up_events,
        "down_events": counters.down_events,
        "dropped": counters.dropped,
    }


def _name(kind: type[State] | type[Diag], value: int) -> str:
    try:
        return kind(value).name.lower().replace("_", " ")
    except ValueError:
        return str(value)
