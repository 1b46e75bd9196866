"""pytest fixtures of the namespace lab; tests/conftest.py re-exports them.

``lab`` gives a fresh ``Lab`` per test; the router fixtures are factories bound to it that first check
their tools (skip, or fail under CI) and then start a router in a namespace of that lab.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.lab.bird import Bird
from tests.lab.exabgp import ExaBgp
from tests.lab.frr import Frr
from tests.lab.gobgp import GoBgp
from tests.lab.netns import Lab, Netns, cleanup_stale, install_handlers
from tests.lab.requirements import require_lab, require_tools

ARTIFACTS_ENV = "LBD_LAB_ARTIFACTS"


@pytest.fixture(scope="session")
def lab_session() -> Iterator[None]:
    """Once per run: remove labs of dead runs, and make teardown survive SIGINT/SIGTERM and exit."""
    require_lab()
    install_handlers()
    cleanup_stale()
    yield


def _artifact_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    base = os.environ.get(ARTIFACTS_ENV)
    if not base:
        return tmp_path / "lab"
    return Path(base) / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)


@pytest.fixture
def lab(lab_session: None, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    """A fresh lab; everything in it is removed after the test, pass or fail."""
    require_lab()
    built = Lab(_artifact_dir(request, tmp_path))
    try:
        yield built
    finally:
        built.teardown()


FrrFactory = Callable[..., Frr]
BirdFactory = Callable[..., Bird]
GoBgpFactory = Callable[..., GoBgp]
ExaBgpFactory = Callable[..., ExaBgp]


@pytest.fixture
def frr(lab: Lab) -> FrrFactory:
    """``frr(ns, config, daemons=None, no_zebra=False) -> Frr`` (started, ready). Default daemons:
    zebra, bgpd, bfdd; ``no_zebra=True`` runs ``bgpd -Z`` only."""
    require_tools("vtysh", "zebra", "bgpd", "bfdd")

    def start(ns: Netns, config: str, *, daemons: Sequence[str] | None = None, no_zebra: bool = False) -> Frr:
        router = Frr(lab, ns, config, daemons=daemons, no_zebra=no_zebra)
        router.start()
        return router

    return start


@pytest.fixture
def bird(lab: Lab) -> BirdFactory:
    """``bird(ns, config) -> Bird`` (started, ready)."""
    require_tools("bird", "birdc")

    def start(ns: Netns, config: str) -> Bird:
        router = Bird(lab, ns, config)
        router.start()
        return router

    return start


@pytest.fixture
def gobgp(lab: Lab) -> GoBgpFactory:
    """``gobgp(ns, toml_config) -> GoBgp`` (started, gRPC ready)."""
    require_tools("gobgpd", "gobgp")

    def start(ns: Netns, config: str) -> GoBgp:
        router = GoBgp(lab, ns, config)
        router.start()
        return router

    return start


@pytest.fixture
def exabgp(lab: Lab) -> ExaBgpFactory:
    """``exabgp(ns, config, env=None) -> ExaBgp`` (started). See ``ExaBgp`` for the receive/announce
    wiring."""
    require_tools("exabgp")

    def start(ns: Netns, config: str, *, env: Mapping[str, str] | None = None) -> ExaBgp:
        router = ExaBgp(lab, ns, config, env=env)
        router.start()
        return router

    return start
