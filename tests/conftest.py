"""Shared test helpers. Paths are relative to this folder."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
PROJECT = TESTS.parent


@pytest.fixture
def write_file(tmp_path: Path):
    """Write ``text`` in ``encoding`` (or raw bytes) to ``tmp_path/name``; return the path."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write


_REPORT: list[tuple[str, str]] = []


@pytest.fixture
def harvest_report():
    """Record a measured figure; printed in the terminal summary (never asserted on)."""

    def add(name: str, value: str) -> None:
        _REPORT.append((name, value))

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if _REPORT:
        terminalreporter.section("measured")
        for name, value in _REPORT:
            terminalreporter.write_line(f"{name}: {value}")
