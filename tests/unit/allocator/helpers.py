"""Builders shared by the allocator tests."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from lbd.allocator.addresses import IPAddress, PoolSpace, Port, SharingKey, Span
from lbd.allocator.requests import Family, FamilyPolicy, PoolPolicy, ServiceRequest


def span(text: str) -> Span:
    """A pool entry as the config parser would give it: CIDR, `a-b` or one address."""
    if "-" in text:
        first, last = (ipaddress.ip_address(t.strip()) for t in text.split("-", 1))
        return Span.between(first, last)
    net = ipaddress.ip_network(text, strict=False)
    return Span.between(net.network_address, net.broadcast_address)


class LabelsEqual:
    """A minimal matchLabels selector."""

    def __init__(self, **wanted: str) -> None:
        self.wanted = wanted

    def matches(self, labels: Mapping[str, str], /) -> bool:
        return all(labels.get(k) == v for k, v in self.wanted.items())


def pool(
    name: str,
    *entries: str,
    auto: bool = True,
    avoid: bool = False,
    priority: int = 0,
    namespaces: tuple[str, ...] = (),
    selectors: tuple[LabelsEqual, ...] = (),
    restricted: bool | None = None,
) -> PoolPolicy:
    return PoolPolicy(
        space=PoolSpace(name, tuple(span(e) for e in entries), avoid),
        auto_assign=auto,
        restricted=bool(namespaces or selectors or priority) if restricted is None else restricted,
        priority=priority,
        namespaces=frozenset(namespaces),
        service_selectors=selectors,
    )


def ips(*texts: str) -> tuple[IPAddress, ...]:
    return tuple(ipaddress.ip_address(t) for t in texts)


def svc(
    key: str,
    *,
    ports: tuple[tuple[str, int], ...] = (("TCP", 80),),
    share: str = "",
    backend: str = "",
    family: Family = Family.IPV4,
    primary: int | None = None,
    policy: FamilyPolicy = FamilyPolicy.SINGLE_STACK,
    want: tuple[str, ...] = (),
    want_error: str | None = None,
    want_pool: str | None = None,
    current: tuple[str, ...] = (),
    labels: Mapping[str, str] | None = None,
) -> ServiceRequest:
    return ServiceRequest(
        key=key,
        namespace=key.split("/", maxsplit=1)[0],
        labels=dict(labels or {}),
        ports=tuple(Port(p, n) for p, n in ports),
        sharing=SharingKey(share, backend),
        family=family,
        primary=primary if primary is not None else (6 if family is Family.IPV6 else 4),
        policy=policy,
        desired=ips(*want),
        desired_error=want_error,
        desired_pool=want_pool,
        current=ips(*current),
    )
