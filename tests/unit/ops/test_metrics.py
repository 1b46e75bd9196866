"""MetalLB's metric names and labels, exposed exactly, and accepted by promtool but for MetalLB's naming."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

import aiohttp
import pytest

from lbd.metrics import FAMILIES, Metrics, Sample
from lbd.metrics_http import start_metrics_server
from lbd.metrics_process import FAMILIES as PROCESS_FAMILIES


def sample_lines(text: str) -> set[str]:
    return {line for line in text.splitlines() if line.startswith("metallb_")}


def populated() -> Metrics:
    metrics = Metrics(process_metrics=False)
    metrics.set("metallb_k8s_client_config_stale_bool", 0)
    metrics.inc("metallb_k8s_client_updates_total")
    metrics.inc("metallb_k8s_client_updates_total")
    metrics.add_provider(
        lambda: [
            Sample("metallb_bgp_session_up", {"peer": "192.0.2.1"}, 1),
            Sample("metallb_bgp_updates_total", {"peer": "192.0.2.1"}, 7),
            Sample("metallb_bfd_control_packet_input", {"peer": "192.0.2.1"}, 42),
            Sample("metallb_layer2_gratuitous_sent", {"ip": "198.51.100.5"}, 6),
            Sample(
                "metallb_speaker_announced",
                {"ip": "198.51.100.5", "node": "n1", "protocol": "layer2", "service": "default/web"},
                1,
            ),
        ]
    )
    return metrics


def test_exact_names_and_labels() -> None:
    text = populated().exposition().decode()
    assert sample_lines(text) == {
        "metallb_k8s_client_config_stale_bool 0.0",
        "metallb_k8s_client_updates_total 2.0",
        'metallb_bgp_session_up{peer="192.0.2.1"} 1.0',
        'metallb_bgp_updates_total{peer="192.0.2.1"} 7.0',
        'metallb_bfd_control_packet_input{peer="192.0.2.1"} 42.0',
        'metallb_layer2_gratuitous_sent{ip="198.51.100.5"} 6.0',
        'metallb_speaker_announced{ip="198.51.100.5",node="n1",protocol="layer2",service="default/web"} 1.0',
    }
    assert "# TYPE metallb_bfd_control_packet_input counter" in text


def test_labels_are_checked() -> None:
    metrics = Metrics(process_metrics=False)
    with pytest.raises(ValueError, match=r"metallb_bgp_session_up takes labels \('peer',\)"):
        metrics.set("metallb_bgp_session_up", 1, neighbor="192.0.2.1")
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.inc("metallb_nope")


def test_label_values_are_escaped() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.set("metallb_speaker_announced", 1, ip="192.0.2.1", node='a"b', protocol="bgp", service="x\\y\nz")
    assert sample_lines(metrics.exposition().decode()) == {
        'metallb_speaker_announced{ip="192.0.2.1",node="a\\"b",protocol="bgp",service="x\\\\y\\nz"} 1.0'
    }


def test_remove() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.set("metallb_allocator_addresses_total", 256, pool="a")
    metrics.remove("metallb_allocator_addresses_total", pool="a")
    assert sample_lines(metrics.exposition().decode()) == set()


def test_promtool_finds_nothing_but_metallb_counter_names() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool not found (package prometheus)")
        pytest.skip("promtool not found (package prometheus)")
    metrics = Metrics()
    for family in FAMILIES.values():
        metrics.set(family.name, 1, **dict.fromkeys(family.labels, "x"))
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics.exposition(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    problems = [line for line in result.stderr.decode().splitlines() if line.strip()]
    # MetalLB's own names break two naming conventions; we keep them so dashboards keep working.
    unsuffixed = {f.name for f in FAMILIES.values() if f.kind == "counter" and not f.name.endswith("_total")}
    suffixed_gauges = {f.name for f in FAMILIES.values() if f.kind == "gauge" and f.name.endswith("_total")}
    expected = {f'{name} counter metrics should have "_total" suffix' for name in unsuffixed} | {
        f'{name} non-counter metrics should not have "_total" suffix' for name in suffixed_gauges
    }
    assert set(problems) == expected


async def test_http_endpoint() -> None:
    runner = await start_metrics_server(populated(), "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert 'metallb_bgp_session_up{peer="192.0.2.1"} 1.0' in await resp.text()
    finally:
        await runner.cleanup()


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        # The server closed with our unread request still queued: the kernel resets the connection.
        answer = b""
    writer.close()
    return answer


async def test_http_endpoint_answers_only_get_and_head_of_metrics() -> None:
    runner = await start_metrics_server(populated(), "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        head = await exchange(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert head.endswith(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert length > 100
        missing = await exchange(port, b"GET /other HTTP/1.1\r\n\r\n")
        assert missing.startswith(b"HTTP/1.1 404 ")
        posted = await exchange(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert posted.startswith(b"HTTP/1.1 405 ")
        assert b"Allow: GET, HEAD" in posted
        # A head that never ends within the limit is dropped without an answer.
        flood = await exchange(port, b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n")
        assert flood == b""
        scraped = await exchange(port, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n")
        assert b'metallb_bgp_session_up{peer="192.0.2.1"} 1.0' in scraped
    finally:
        await runner.cleanup()


def test_process_metrics_come_from_this_process() -> None:
    text = Metrics().exposition().decode()
    values = {
        line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("process_")
    }
    assert set(values) == {name for name, _, _ in PROCESS_FAMILIES}
    # This interpreter holds at least its own code and a few MiB of heap, and stdin/stdout/stderr.
    assert 5 * 2**20 < values["process_resident_memory_bytes"] < values["process_virtual_memory_bytes"]
    assert values["process_open_fds"] >= 3
    assert values["process_max_fds"] >= values["process_open_fds"]
    assert 0 <= values["process_cpu_seconds_total"] < time.time()
    assert time.time() - 86400 * 365 < values["process_start_time_seconds"] <= time.time()
    assert "# TYPE process_cpu_seconds_total counter" in text
