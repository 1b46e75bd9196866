"""The operator documentation stays in step with the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbd.logsetup import LOG_LEVELS
from lbd.metrics import FAMILIES

DOCS = Path(__file__).resolve().parents[3] / "docs"


def table_rows(text: str) -> dict[str, str]:
    """First-column backquoted names of Markdown table rows -> the whole row."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([a-z0-9_]+)` \|", line)
        if match:
            rows[match[1]] = line
    return rows


def test_every_metric_family_is_documented_with_its_type_and_labels() -> None:
    rows = table_rows((DOCS / "metrics.md").read_text())
    assert set(rows) == set(FAMILIES)
    text = (DOCS / "metrics.md").read_text()
    for name, family in FAMILIES.items():
        assert f"| {family.kind} |" in rows[name], name
        for label in family.labels:
            # Labels are named in the row itself or in the heading of the family's section.
            assert f"`{label}`" in rows[name] or f"(label `{label}`" in text, (name, label)


@pytest.mark.parametrize("level", list(LOG_LEVELS))
def test_every_log_level_is_documented(level: str) -> None:
    assert f"| `{level}` |" in (DOCS / "logging.md").read_text()


# Views the troubleshooting guide may cite although no code serves them yet; the guide marks each one
# "pending" in the same line. Remove an entry when its view lands.
PENDING_VIEWS: set[str] = set()


def served_views(tmp_path: Path) -> set[str]:
    """Every view name the daemon and the announcers it can run would serve (constructed, not started)."""
    from lbd.config import Membership
    from lbd.daemon.core import DaemonCore
    from lbd.daemon.views import DaemonViews, Status
    from lbd.metrics import Metrics
    from lbd.net.bfd_manager import BFDManager
    from lbd.net.bfd_views import BfdViews
    from lbd.net.bgp_announcer import BgpAnnouncer
    from lbd.net.l2_announcer import L2Announcer
    from lbd.net.membership_udp import MembershipService

    metrics = Metrics(process_metrics=False)
    sources = [
        BgpAnnouncer(node="n", metrics=metrics, state_dir=tmp_path),
        L2Announcer(node="n", metrics=metrics),
        MembershipService(node="n", settings=Membership(), metrics=None, on_change=lambda _: None),
        BfdViews(BFDManager()),
    ]
    names = set(DaemonViews(DaemonCore("n", lambda: 0.0), Status("n", (), 0.0)).views())
    for source in sources:
        names |= set(source.views())
    return names


def test_troubleshooting_cites_only_views_that_exist_or_are_marked_pending(tmp_path: Path) -> None:
    served = served_views(tmp_path)
    text = (DOCS / "troubleshooting.md").read_text()
    cited: dict[str, str] = {}
    for line in text.splitlines():
        for command in re.findall(r"`lbd status ([^`]*)`", line):
            # The view is the lower-case words; an argument (ADDRESS, [PREFIX], 203.0.113.200/30) follows.
            words = []
            for word in command.split():
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break
                words.append(word)
            cited[" ".join(words)] = line
    assert {"config", "bgp summary", "bgp neighbor", "bgp routes", "l2", "members"} <= set(cited)
    for view, line in cited.items():
        if view in PENDING_VIEWS:
            assert "pending" in line, line
        else:
            assert view in served, (view, sorted(served))
