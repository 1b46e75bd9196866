from __future__ import annotations

import os

import pytest

from tests.lab.names import (
    LabNameError,
    check_ifname,
    check_short,
    creator_pid,
    ns_name,
    rundir_pid,
    runtime_dir,
    stale_names,
)


def test_namespace_names_carry_pid_sequence_and_label() -> None:
    assert ns_name(4242, 3, "r1") == "lbdt4242-3-r1"
    assert creator_pid("lbdt4242-3-r1") == 4242


@pytest.mark.parametrize("short", ["", "1r", "R1", "r-1", "toolonglabel", "r_1"])
def test_bad_labels_are_rejected(short: str) -> None:
    with pytest.raises(LabNameError):
        check_short(short)


def test_longest_label_is_accepted() -> None:
    assert check_short("abcdefgh") == "abcdefgh"


@pytest.mark.parametrize(
    "name", ["lbdt-3-r1", "lbdtx-3-r1", "lbd4242-3-r1", "lbdt4242-r1", "other", "lbdt42-3-R1"]
)
def test_foreign_names_have_no_creator(name: str) -> None:
    assert creator_pid(name) is None


def test_runtime_dirs() -> None:
    assert str(runtime_dir(77)) == "/run/lbdt-77"
    assert rundir_pid("lbdt-77") == 77
    assert rundir_pid("lbdt77-1-r1") is None
    assert rundir_pid("lbdt-x") is None


@pytest.mark.parametrize("name", ["eth0", "a" * 15, "veth.10", "br-lan_1"])
def test_interface_names_up_to_15_characters(name: str) -> None:
    assert check_ifname(name) == name


@pytest.mark.parametrize("name", ["", "a" * 16, "eth 0", "eth/0", ".", "..", "eth:0"])
def test_bad_interface_names(name: str) -> None:
    with pytest.raises(LabNameError):
        check_ifname(name)


def test_stale_names_are_those_of_dead_creators_only() -> None:
    names = ["lbdt10-1-a", "lbdt20-1-b", "lbdt20-2-c", "lbdt30-1-d", "frr1", "lbdtx"]
    alive = {20}
    assert stale_names(names, creator_pid, lambda pid: pid in alive) == ["lbdt10-1-a", "lbdt30-1-d"]


def test_own_names_are_never_stale() -> None:
    mine = ns_name(os.getpid(), 1, "me")
    assert stale_names([mine], creator_pid, lambda pid: False) == []
