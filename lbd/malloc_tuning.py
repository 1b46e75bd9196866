"""glibc malloc settings for a long-running lbd process.

Python takes objects over 512 bytes (the tables of large dicts, big lists and tuples) from malloc.
glibc's default mmap threshold is dynamic: once a large mmapped block is freed it rises (up to 32 MiB),
so the next large blocks come from the heap, and the heap cannot shrink past the live ones. Loading
and reconciling 100,000 services builds and drops many such tables, which left ~12 MiB of freed heap in
RSS. A fixed threshold keeps large blocks in their own mappings, returned to the system when freed;
`trim` hands back free heap pages once start-up is over. Elsewhere (musl, not Linux) both do nothing.
"""

from __future__ import annotations

import ctypes

# malloc.h
M_MMAP_THRESHOLD = -3
# glibc's own initial value, kept instead of letting it grow.
MMAP_THRESHOLD = 128 * 1024


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def pin_mmap_threshold() -> bool:
    """Fix the mmap threshold; True when glibc took it."""
    libc = _glibc()
    return libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def trim() -> bool:
    """Give free heap memory back to the system; True when glibc released some."""
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1
