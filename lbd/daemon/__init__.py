"""The standalone daemon (`lbd run`): files in, desired state out, pushed to every announcer."""

from lbd.daemon.announcer import Announcer, StatusSource
from lbd.daemon.core import DaemonCore, Loaded, announced_addresses
from lbd.daemon.health import HealthCheck, HealthChecks, HealthState, parse_health_check, with_health

__all__ = [
    "Announcer",
    "DaemonCore",
    "HealthCheck",
    "HealthChecks",
    "HealthState",
    "Loaded",
    "StatusSource",
    "announced_addresses",
    "parse_health_check",
    "with_health",
]
