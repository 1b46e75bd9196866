"""Session parameters, one field per MetalLB BFDProfile field with the same ranges and defaults."""

from __future__ import annotations

from dataclasses import dataclass

# MetalLB BFDProfile: receiveInterval, transmitInterval and echoInterval range from 10 to 60000 ms,
# detectMultiplier from 2 to 255, minimumTtl from 1 to 254.
INTERVAL_RANGE_MS = (10, 60_000)
DETECT_MULTIPLIER_RANGE = (2, 255)
MINIMUM_TTL_RANGE = (1, 254)


@dataclass(frozen=True, slots=True)
class Profile:
    """A BFDProfile. Intervals are milliseconds, as in the custom resource."""

    receive_interval_ms: int = 300
    transmit_interval_ms: int = 300
    detect_multiplier: int = 3
    echo_interval_ms: int = 50
    echo_mode: bool = False
    passive_mode: bool = False
    # Multihop only (RFC 5883 §2); single-hop sessions always require 255 (RFC 5881 §5).
    minimum_ttl: int = 254

    def __post_init__(self) -> None:
        for name, value, (low, high) in (
            ("receiveInterval", self.receive_interval_ms, INTERVAL_RANGE_MS),
            ("transmitInterval", self.transmit_interval_ms, INTERVAL_RANGE_MS),
            ("echoInterval", self.echo_interval_ms, INTERVAL_RANGE_MS),
            ("detectMultiplier", self.detect_multiplier, DETECT_MULTIPLIER_RANGE),
            ("minimumTtl", self.minimum_ttl, MINIMUM_TTL_RANGE),
        ):
            if not low <= value <= high:
                raise ValueError(f"BFD profile {name} {value} outside {low}..{high}")
