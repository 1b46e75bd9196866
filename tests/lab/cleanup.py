"""Remove labs left by killed runs: ``python -m tests.lab.cleanup`` (only namespaces of dead pids)."""

from __future__ import annotations

from tests.lab.netns import cleanup_stale


def main() -> None:
    removed = cleanup_stale()
    print(f"removed {len(removed)} stale lab namespace(s)" + (f": {' '.join(removed)}" if removed else ""))


if __name__ == "__main__":
    main()
