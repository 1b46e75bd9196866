"""The polling file watcher: edits, new files in a directory, removal, and one report per burst."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from lbd.daemon.file_watch import FileWatcher, fingerprint


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    # Same-second writes on coarse-mtime filesystems still differ in size here; bump mtime anyway.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_fingerprint_sees_content_changes_and_new_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\n")
    first = fingerprint([tmp_path])
    assert first == fingerprint([tmp_path])
    touch(tmp_path / "a.yaml", "a: 2\n")
    second = fingerprint([tmp_path])
    assert second != first
    (tmp_path / "b.yml").write_text("b: 1\n")
    (tmp_path / "notes.txt").write_text("ignored\n")
    third = fingerprint([tmp_path])
    assert [name for name, *_ in third] == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")]
    assert fingerprint([tmp_path / "gone.yaml"]) == ((str(tmp_path / "gone.yaml"), -1, -1, -1),)


async def test_one_report_per_burst(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n")
    reports: list[float] = []
    watcher = FileWatcher([path], lambda: reports.append(1.0), interval=0.05, settle=0.1)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(0.15)
        assert reports == []
        for i in range(3):
            touch(path, f"a: {i + 10}\n")
            await asyncio.sleep(0.03)
        async with asyncio.timeout(2):
            while not reports:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert reports == [1.0]
        # A reload for another reason (SIGHUP) makes the current content old news.
        touch(path, "a: 99\n")
        watcher.rebase()
        await asyncio.sleep(0.3)
        assert reports == [1.0]
    finally:
        task.cancel()
