"""BGP-4 messages as frozen dataclasses (RFC 4271 §4); the wire codec is in `bgp.codec`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from bgp.attributes import (
    As4Path,
    AsPath,
    Attribute,
    MpReach,
    MpUnreach,
    UnknownAttribute,
    merge_as4_path,
    type_code,
)
from bgp.capabilities import Capability
from bgp.errors import CeaseSubcode, ErrorCode
from bgp.families import IPV4_UNICAST, Family, Prefix

# RFC 4271 §4.1: header = 16-octet marker, 2-octet length, 1-octet type; messages are 19..4096 octets.
HEADER_LEN = 19
MAX_MESSAGE_LEN = 4096
MARKER = b"\xff" * 16


class MessageType(enum.IntEnum):
    """RFC 4271 §4.1, RFC 2918 §3 (ROUTE-REFRESH)."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


@dataclass(frozen=True, slots=True)
class Open:
    """RFC 4271 §4.2. `my_as` is the 2-octet field (AS_TRANS for large ASes, RFC 6793 §4.2.1)."""

    my_as: int
    hold_time: int
    bgp_id: IPv4Address
    capabilities: tuple[Capability, ...] = ()
    version: int = 4


@dataclass(frozen=True, slots=True)
class Keepalive:
    """RFC 4271 §4.4: the header alone."""


# RFC 9003 §2 (updating RFC 8203): the shutdown communication is at most 255 octets of UTF-8.
MAX_SHUTDOWN_COMMUNICATION = 255


@dataclass(frozen=True, slots=True)
class Notification:
    """RFC 4271 §4.5."""

    code: int
    subcode: int
    data: bytes = b""

    @classmethod
    def cease(cls, subcode: int, message: str = "") -> Notification:
        """Cease with a shutdown communication (RFC 8203 §2, RFC 9003) for Administrative Shutdown/Reset.

        The text is cut at a character boundary to fit 255 octets.
        """
        if (
            subcode not in (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET)
            or not message
        ):
            return cls(ErrorCode.CEASE, subcode)
        raw = message.encode("utf-8")[:MAX_SHUTDOWN_COMMUNICATION].decode("utf-8", "ignore").encode("utf-8")
        return cls(ErrorCode.CEASE, subcode, bytes((len(raw),)) + raw)

    def shutdown_communication(self) -> str | None:
        """The RFC 8203 text of a Cease 2/4, or None if there is none or it is malformed (RFC 8203 §4)."""
        if self.code != ErrorCode.CEASE or self.subcode not in (2, 4) or not self.data:
            return None
        length = self.data[0]
        if length == 0 or length + 1 > len(self.data):
            return None
        try:
            return self.data[1 : 1 + length].decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """RFC 2918 §3; `subtype` is the reserved octet that RFC 7313 §3 calls Message Subtype."""

    afi: int
    safi: int
    subtype: int = 0


@dataclass(frozen=True, slots=True)
class Update:
    """RFC 4271 §4.3. IPv4 prefixes in the classic fields; others inside MP_REACH/MP_UNREACH attributes."""

    withdrawn: tuple[IPv4Network, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    nlri: tuple[IPv4Network, ...] = ()

    def attribute(self, code: int) -> Attribute | None:
        for a in self.attributes:
            if type_code(a) == code:
                return a
        return None

    def as_path(self) -> AsPath | None:
        """AS_PATH with AS4_PATH merged in (RFC 6793 §4.2.3; AS4_PATH is only kept from OLD speakers)."""
        path = next((a for a in self.attributes if isinstance(a, AsPath)), None)
        if path is None:
            return None
        return merge_as4_path(path, next((a for a in self.attributes if isinstance(a, As4Path)), None))

    def end_of_rib(self) -> Family | None:
        """The family this End-of-RIB marker is for (RFC 4724 §2), or None if it is not one."""
        if self.withdrawn or self.nlri:
            return None
        if not self.attributes:
            return IPV4_UNICAST
        if len(self.attributes) == 1:
            only = self.attributes[0]
            if isinstance(only, MpUnreach) and not only.withdrawn:
                return (only.afi, only.safi)
            if isinstance(only, UnknownAttribute) and only.type_code == 15 and len(only.value) == 3:
                return (int.from_bytes(only.value[:2], "big"), only.value[2])
        return None

    def announced(self) -> tuple[Prefix, ...]:
        """Every prefix this UPDATE announces: classic NLRI then MP_REACH NLRI."""
        mp: list[Prefix] = [p for a in self.attributes if isinstance(a, MpReach) for p in a.nlri]
        return (*self.nlri, *mp)

    def withdrawals(self) -> tuple[Prefix, ...]:
        """Every prefix this UPDATE withdraws: classic withdrawn routes then MP_UNREACH prefixes."""
        mp: list[Prefix] = [p for a in self.attributes if isinstance(a, MpUnreach) for p in a.withdrawn]
        return (*self.withdrawn, *mp)


Message = Open | Update | Notification | Keepalive | RouteRefresh
