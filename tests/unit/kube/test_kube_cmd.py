"""`lbd kube` as a process against the emulator: it allocates, exits cleanly on SIGTERM and releases
its Lease; bad flags are refused before anything starts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lbd.kube.controller import ingress_ips
from tests.kube_emulator import KubeEmulator
from tests.unit.kube.objects import NS, eventually, pool, service

LBD = [sys.executable, "-m", "lbd.cli"]


async def test_controller_process_allocates_and_releases_its_lease_on_sigterm(
    kube_emulator: KubeEmulator, kubeconfig: Path, tmp_path: Path
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.40/32"))
    kube_emulator.create(service("web"))
    socket = tmp_path / "lbd.sock"
    args = ["kube", "--controller", "--kubeconfig", str(kubeconfig), "--namespace", NS, "--metrics", "off"]
    args += ["--socket", str(socket)]
    timers = ["--lease-duration", "2", "--renew-deadline", "1", "--retry-period", "0.2", "--identity", "cmd"]
    proc = await asyncio.create_subprocess_exec(
        *LBD, *args, *timers, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        ips = await eventually(
            lambda: ingress_ips(kube_emulator.get("v1", "Service", "web", "default")),
            timeout=20,
            what="the process to allocate",
        )
        assert ips == ["198.51.100.40"]
        lease = kube_emulator.get("coordination.k8s.io/v1", "Lease", "lbd-controller", NS)
        assert lease["spec"]["holderIdentity"] == "cmd"
        # `lbd status` against the process, as `kubectl exec` into its pod would.
        summary = await query(socket, "summary")
        assert summary["roles"] == ["controller"] and summary["controller_leading"] is True
        assert summary["status_writes"] >= 1 and summary["config_generation"] >= 1
        config = await query(socket, "config")
        assert list(config["objects"]["IPAddressPool"]) == ["blue"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lease = kube_emulator.get("coordination.k8s.io/v1", "Lease", "lbd-controller", NS)
    assert lease["spec"]["holderIdentity"] == ""


async def test_speaker_without_a_node_name_is_refused(kubeconfig: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_NAME", "METALLB_NODE_NAME")}
    proc = await asyncio.create_subprocess_exec(
        *LBD,
        "kube",
        "--speaker",
        "--kubeconfig",
        str(kubeconfig),
        "--metrics",
        "off",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"needs the node name" in stderr


async def test_killed_leader_process_is_replaced_by_the_standby(
    kube_emulator: KubeEmulator, kubeconfig: Path
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.40/31"))
    base = ["kube", "--controller", "--kubeconfig", str(kubeconfig), "--namespace", NS, "--metrics", "off"]
    base += ["--socket", "off"]
    # A leader steps down after 2 s without renewing: room for a loaded machine.
    timers = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.2"]
    procs = {
        name: await asyncio.create_subprocess_exec(
            *LBD, *base, *timers, "--identity", name, stdout=asyncio.subprocess.DEVNULL
        )
        for name in ("one", "two")
    }
    try:
        await eventually(lambda: _holder(kube_emulator), timeout=20, what="a leader")
        kube_emulator.create(service("first"))
        await eventually(lambda: ingress_ips(kube_emulator.get("v1", "Service", "first", "default")), 20)
        holder = _holder(kube_emulator)
        assert holder is not None
        procs[holder].kill()  # SIGKILL: no release, the standby must wait for the lease to run out
        await procs[holder].wait()
        standby = "two" if holder == "one" else "one"
        await eventually(lambda: _holder(kube_emulator) == standby, timeout=15, what="takeover")
        kube_emulator.create(service("second"))
        ips = await eventually(
            lambda: ingress_ips(kube_emulator.get("v1", "Service", "second", "default")), 20
        )
        assert ips == ["198.51.100.41"]

        def writers() -> set[str]:
            events = kube_emulator.list_objects("v1", "Event", "default")
            return {
                e["reportingInstance"]
                for e in events
                if e["reason"] == "IPAllocated" and e["involvedObject"]["name"] == "second"
            }

        await eventually(lambda: writers() == {standby}, what="the standby's IPAllocated event")
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def query(socket: Path, view: str) -> Any:
    status = await asyncio.create_subprocess_exec(
        *LBD, "status", view, "--socket", str(socket), "--json", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(status.communicate(), 15)
    assert status.returncode == 0
    return json.loads(out)


def _holder(emulator: KubeEmulator) -> str | None:
    try:
        lease = emulator.get("coordination.k8s.io/v1", "Lease", "lbd-controller", NS)
    except Exception:
        return None
    return lease["spec"].get("holderIdentity") or None
