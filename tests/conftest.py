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


class Inbox:
    """Messages received by the test's SMTP server, parsed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list = []

    @property
    def env(self) -> dict[str, str]:
        """Settings for etl.notify pointing at this server."""
        return {
            "HARVEST_SMTP_HOST": "127.0.0.1",
            "HARVEST_SMTP_PORT": str(self.port),
            "HARVEST_SMTP_FROM": "open-data-pipeline@duesseldorf.de",
            "HARVEST_TEAM_EMAIL": "opendata-team@duesseldorf.de",
        }

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler hook
        import email
        import email.policy

        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for this test; stopped afterwards."""
    from aiosmtpd.controller import Controller

    from devstack.processes import free_port

    inbox = Inbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
