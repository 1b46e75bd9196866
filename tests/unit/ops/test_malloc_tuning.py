"""glibc malloc tuning: both calls take effect on this (glibc) machine and are harmless to repeat."""

from __future__ import annotations

import platform

import pytest

from lbd.malloc_tuning import pin_mmap_threshold, trim


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc (mallopt, malloc_trim)")
def test_glibc_takes_the_threshold_and_trims() -> None:
    assert pin_mmap_threshold()
    assert pin_mmap_threshold()
    # 20 MB freed below blocks that stay: heap pages only malloc_trim can hand back.
    blocks = [bytearray(100_000) for _ in range(200)]
    kept = [bytearray(1000) for _ in range(50)]
    del blocks
    assert trim()
    assert len(kept) == 50
