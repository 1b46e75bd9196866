"""ARP responder benchmark: replies per second and reply latency under a bounded request flood, lbd's
responder beside the Linux kernel answering for an address of its own, in the same run.

Run (root): .venv/bin/python bench/bench_arp.py [--rates 1000,5000,10000,20000,40000] [--seconds 2]

Lab: a bridge with a client, node `n1` running the L2 announcer alone (`lbd.net.l2_runner`) for a VIP
on eth0 (the VIP also on lo with arp_ignore=1, so the kernel stays silent for it), and node `k1` whose
kernel answers for its own eth0 address. For each target and rate, a sender in the client namespace
sends ARP requests at a fixed rate for `--seconds` (at most 10 s per target over all rates), unicast to
the target's MAC as Linux's NUD probes are, so only the target sees them. Each request carries its
sequence number in the sender hardware address field; both lbd and Linux send the reply to that
address, so a promiscuous receiver in the client matches every reply to its request exactly. Latency
is from the sender's clock before send() to the receiver's kernel receive timestamp (SO_TIMESTAMPNS).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SO_TIMESTAMPNS = 35
PACKET_MR_PROMISC = 1
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
ETH_P_ARP = 0x0806
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Requests name their sequence number in the sender hardware address: 02:5e + 32 bits.
SEQ_PREFIX = b"\x02\x5e"


# --- the two halves that run inside the client namespace -----------------------------------------


def send(ifname: str, target_mac: str, sender_ip: str, target_ip: str, *, rate: int, seconds: float) -> None:
    """Send `rate * seconds` requests at `rate` per second, paced in 1 ms slots; print send times."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((ifname, 0))
    own = bytes.fromhex(Path(f"/sys/class/net/{ifname}/address").read_text().strip().replace(":", ""))
    dst = bytes.fromhex(target_mac.replace(":", ""))
    head = dst + own + struct.pack("!HHHBBH", ETH_P_ARP, 1, 0x0800, 6, 4, 1)
    spa, tpa = socket.inet_aton(sender_ip), socket.inet_aton(target_ip)
    total = int(rate * seconds)
    stamps = bytearray(8 * total)
    start = time.time_ns()
    for seq in range(total):
        due = start + seq * 1_000_000_000 // rate
        now = time.time_ns()
        if now < due and due - now > 200_000:
            time.sleep((due - now) / 1e9)
        frame = head + SEQ_PREFIX + struct.pack("!I", seq) + spa + bytes(6) + tpa
        struct.pack_into("!q", stamps, 8 * seq, time.time_ns())
        with contextlib.suppress(BlockingIOError, OSError):
            sock.send(frame)
    sys.stdout.buffer.write(bytes(stamps))


def receive(ifname: str, target_ip: str, seconds: float) -> None:
    """Collect replies from `target_ip` until SIGUSR1 (at most `seconds`); print (seq, receive time)."""
    stop = []
    signal.signal(signal.SIGUSR1, lambda *_: stop.append(True))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((ifname, ETH_P_ARP))
    index = socket.if_nametoindex(ifname)
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.settimeout(0.2)
    tpa = socket.inet_aton(target_ip)
    out = bytearray()
    print("ready", file=sys.stderr, flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop:
        try:
            frame, ancillary, _, _ = sock.recvmsg(128, 64)
        except TimeoutError:
            continue
        # A reply (op 2) from the target, addressed to one of our sequence-number MACs.
        if frame[20:22] != b"\x00\x02" or frame[28:32] != tpa or frame[32:34] != SEQ_PREFIX:
            continue
        stamp = time.time_ns()
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", data[:16])
                stamp = sec * 1_000_000_000 + nsec
        out += struct.pack("!Iq", struct.unpack("!I", frame[34:38])[0], stamp)
    sys.stdout.buffer.write(bytes(out))


# --- orchestration --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(client: object, target_mac: str, target_ip: str, rate: int, seconds: float) -> dict[str, float]:
    import subprocess

    from tests.lab import Netns

    assert isinstance(client, Netns)
    me = [sys.executable, str(Path(__file__).resolve())]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = ["ip", "netns", "exec", client.name]
    receiver = subprocess.Popen(
        [*base, *me, "--receive", "eth0", target_ip, str(seconds + 30)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert receiver.stderr is not None
    receiver.stderr.readline()  # "ready"
    sender = subprocess.run(
        [*base, *me, "--send", "eth0", target_mac, "203.0.113.1", target_ip, str(rate), str(seconds)],
        capture_output=True,
        env=env,
        timeout=seconds + 20,
        check=True,
    )
    time.sleep(0.5)  # replies still in flight
    receiver.send_signal(signal.SIGUSR1)
    replies_raw, _ = receiver.communicate(timeout=seconds + 20)
    sent = [struct.unpack_from("!q", sender.stdout, i)[0] for i in range(0, len(sender.stdout), 8)]
    replies = {}
    for i in range(0, len(replies_raw), 12):
        seq, stamp = struct.unpack_from("!Iq", replies_raw, i)
        replies.setdefault(seq, stamp)
    latencies = [(stamp - sent[seq]) / 1e6 for seq, stamp in replies.items() if seq < len(sent)]
    duration = (sent[-1] - sent[0]) / 1e9 if len(sent) > 1 else seconds
    first, last = min(replies.values(), default=0), max(replies.values(), default=0)
    return {
        "rate": rate,
        "sent": len(sent),
        "send_rate": len(sent) / duration if duration else 0.0,
        "replies": len(replies),
        "reply_rate": len(replies) / ((last - first) / 1e9) if last > first else 0.0,
        "loss_pct": 100.0 * (1 - len(replies) / len(sent)) if sent else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


@contextlib.contextmanager
def lab_session() -> Iterator[object]:
    from tests.lab import Lab, cleanup_stale
    from tests.lab.netns import install_handlers
    from tests.lab.requirements import require_lab

    require_lab()
    install_handlers()
    cleanup_stale()
    # A fresh directory per run: a process log left by an earlier run would fake readiness.
    base = Path(os.environ.get("LBD_LAB_ARTIFACTS", "/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    lab = Lab(Path(tempfile.mkdtemp(prefix="lbd-bench-arp-", dir=base)))
    try:
        yield lab
    finally:
        lab.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,5000,10000,20000,40000")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--send", nargs=6, metavar=("IF", "MAC", "SPA", "TPA", "RATE", "SECONDS"))
    parser.add_argument("--receive", nargs=3, metavar=("IF", "TPA", "SECONDS"))
    args = parser.parse_args()
    if args.send:
        ifname, mac, spa, tpa, rate, seconds = args.send
        send(ifname, mac, spa, tpa, rate=int(rate), seconds=float(seconds))
        return
    if args.receive:
        ifname, tpa, seconds = args.receive
        receive(ifname, tpa, float(seconds))
        return
    rates = [int(r) for r in args.rates.split(",")]
    if len(rates) * args.seconds > 10:
        parser.error("the flood is bounded to 10 s per target: fewer rates or shorter --seconds")
    run(rates, args.seconds)


def run(rates: list[int], seconds: float) -> None:
    from tests.lab import AddressPlan, Lab, wait_for

    with lab_session() as lab:
        assert isinstance(lab, Lab)
        plan = AddressPlan()
        lan = plan.v4_lan()
        vip, kernel_ip = lan.ip(20), lan.ip(11)
        switch = lab.switch("sw")
        client, node, kernel = lab.netns("client"), lab.netns("n1"), lab.netns("k1")
        lab.attach(client, switch, addrs=[lan.iface(1)])
        lab.attach(node, switch, addrs=[lan.iface(10)])
        lab.attach(kernel, switch, addrs=[lan.iface(11)])
        node.sysctl(ipv4__conf__all__arp_ignore=1, ipv4__conf__all__arp_announce=2)
        node.add_addr("lo", f"{vip}/32")
        state = lab.artifacts / "n1-state.json"
        state.write_text(json.dumps({"l2": [{"address": vip, "interfaces": ["eth0"]}]}))
        argv = [sys.executable, "-m", "lbd.net.l2_runner", "--node", "n1", "--state", str(state)]
        proc = lab.spawn(node, [*argv, "--control", str(lab.path("n1.sock"))], name="l2", cwd=REPO)
        wait_for(lambda: "l2RunnerReady" in proc.text(), 10, 0.05, "runner ready")
        targets = [("lbd", node.mac("eth0"), vip, proc.pid), ("kernel", kernel.mac("eth0"), kernel_ip, None)]
        print(f"# {shlex.join(sys.argv)}")
        print(f"# {os.cpu_count()} CPUs, load {Path('/proc/loadavg').read_text().split()[0]}")
        header = "target  rate/s  sent    send/s   replies  reply/s  loss%   p50 ms  p99 ms  CPU us/reply"
        print(header)
        for name, mac, ip, pid in targets:
            for rate in rates:
                cpu_before = cpu_seconds(pid) if pid else 0.0
                r = measure(client, mac, ip, rate, seconds)
                # The responder process's CPU time per reply (the kernel's is not attributable).
                cpu = 1e6 * (cpu_seconds(pid) - cpu_before) / max(r["replies"], 1) if pid else None
                print(
                    f"{name:7} {rate:6d}  {r['sent']:6.0f}  {r['send_rate']:7.0f}  {r['replies']:7.0f}  "
                    f"{r['reply_rate']:7.0f}  {r['loss_pct']:5.1f}  {r['p50_ms']:7.3f}  {r['p99_ms']:7.3f}  "
                    + (f"{cpu:6.1f}" if cpu is not None else "     -"),
                    flush=True,
                )
        proc.signal(signal.SIGTERM)


if __name__ == "__main__":
    main()
