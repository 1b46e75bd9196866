from __future__ import annotations

import pytest

from tests.lab.requirements import missing_tools, require_tools


def test_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no-such-tool-lbdt not found$"):
        require_tools("no-such-tool-lbdt")


def test_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-lbdt not found"):
        require_tools("sh", "no-such-tool-lbdt")


def test_present_tools_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require_tools("sh")
    assert missing_tools("sh", "no-such-tool-lbdt") == ["no-such-tool-lbdt"]
