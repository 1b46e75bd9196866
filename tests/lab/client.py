"""What a Linux client on the segment sees: its neighbour cache, and ARP/NDP probes for a MAC."""

from __future__ import annotations

from typing import Any

from tests.lab.addresses import check_address
from tests.lab.netns import Netns
from tests.lab.parsers import parse_arping, parse_ndisc6, parse_neigh
from tests.lab.proc import wait_for


def neigh(ns: Netns, address: str | None = None, *, dev: str | None = None) -> list[dict[str, Any]]:
    """``ip -j neigh show [ADDR] [dev DEV]``: entries with ``dst``, ``dev``, ``lladdr``, ``state``."""
    args = ["-j", "neigh", "show"]
    if address is not None:
        args.append(check_address(address, allow_link_local=True))
    if dev is not None:
        args += ["dev", dev]
    return parse_neigh(ns.ip(*args))


def neigh_mac(ns: Netns, address: str, *, dev: str | None = None) -> str | None:
    """The MAC the client's cache holds for ``address`` (lower case), or None."""
    for entry in neigh(ns, address, dev=dev):
        if entry.get("lladdr"):
            return str(entry["lladdr"]).lower()
    return None


def resolve(ns: Netns, address: str, *, timeout: float = 3.0) -> str:
    """Make the client's kernel resolve ``address`` and return the MAC its neighbour cache learnt.

    arping and ndisc6 use raw sockets and leave the kernel cache alone; a UDP datagram to the discard
    port makes the kernel itself send ARP/NS, as a real client would.
    """
    check_address(address, allow_link_local=True)
    family = "AF_INET6" if ":" in address else "AF_INET"
    send = (
        f"import socket; s = socket.socket(socket.{family}, socket.SOCK_DGRAM); "
        f"s.sendto(b'lab', ({address!r}, 9))"
    )

    def learnt() -> str | None:
        mac = neigh_mac(ns, address)
        if mac is None:
            ns.run(["python3", "-c", send])
        return mac

    return wait_for(learnt, timeout, 0.1, f"{ns.name} to resolve {address}")


def flush_neigh(ns: Netns, dev: str) -> None:
    ns.ip("neigh", "flush", "dev", dev)


def arping(ns: Netns, iface: str, address: str, *, count: int = 1, timeout: float = 1.0) -> str | None:
    """Send ARP requests for ``address`` out of ``iface``; the replying MAC, or None without reply."""
    result = ns.run(
        ["arping", "-c", str(count), "-w", str(max(1, round(timeout))), "-I", iface, check_address(address)],
        check=False,
        timeout=timeout + 5,
    )
    return parse_arping(result.stdout)


def ndisc6(ns: Netns, iface: str, address: str, *, retries: int = 2) -> str | None:
    """Send a Neighbor Solicitation for ``address``; the Target link-layer address, or None."""
    result = ns.run(
        ["ndisc6", "-1", "-r", str(retries), check_address(address, allow_link_local=True), iface],
        check=False,
        timeout=retries * 2 + 5,
    )
    return parse_ndisc6(result.stdout)
