"""Namespace lab for interop tests: topologies, real routers, clients and faults. See README.md."""

from tests.lab.addresses import ALLOWED, AddressPlan, LabAddressError, Subnet, check_address
from tests.lab.bird import Bird
from tests.lab.capture import Capture
from tests.lab.client import arping, flush_neigh, ndisc6, neigh, neigh_mac, resolve
from tests.lab.exabgp import ExaBgp
from tests.lab.frr import Frr
from tests.lab.gobgp import GoBgp
from tests.lab.netns import Lab, LabTeardownError, Link, Netns, Switch, cleanup_stale
from tests.lab.nft import cut, loss, restore
from tests.lab.parsers import BirdProtocol, BirdRoute
from tests.lab.proc import LabCommandError, Proc, ProcessDied, WaitTimeout, run, wait_for
from tests.lab.requirements import require_lab, require_tools

__all__ = [
    "ALLOWED",
    "AddressPlan",
    "Bird",
    "BirdProtocol",
    "BirdRoute",
    "Capture",
    "ExaBgp",
    "Frr",
    "GoBgp",
    "Lab",
    "LabAddressError",
    "LabCommandError",
    "LabTeardownError",
    "Link",
    "Netns",
    "Proc",
    "ProcessDied",
    "Subnet",
    "Switch",
    "WaitTimeout",
    "arping",
    "check_address",
    "cleanup_stale",
    "cut",
    "flush_neigh",
    "loss",
    "ndisc6",
    "neigh",
    "neigh_mac",
    "require_lab",
    "require_tools",
    "resolve",
    "restore",
    "run",
    "wait_for",
]
