"""The local portal the benchmarks publish to: CKAN 2.12 on free loopback ports with a
database of its own (dropped afterwards), like the integration tests' stack."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from devstack.ckan import ensure_organization
from devstack.portal import PortalStack, start_portal
from devstack.postgres import drop_database


@dataclass
class BenchPortal:
    stack: PortalStack
    db_name: str

    @property
    def url(self) -> str:
        return self.stack.url

    def organizations(self, orgs: Iterable[tuple[str, str]]) -> None:
        """Create the organizations and make the pipeline's editor user an editor of each."""
        for name, title in sorted(set(orgs)):
            ensure_organization(
                self.stack.url,
                self.stack.sysadmin_token,
                name,
                title,
                editors=[self.stack.editor_user],
            )

    def stop(self) -> None:
        self.stack.stop()
        if not self.stack.postgres.embedded:
            drop_database(self.stack.postgres.url, self.db_name)


def start_bench_portal(directory: Path, *, say: Callable[[str], None]) -> BenchPortal:
    db_name = f"ckan_bench_{uuid.uuid4().hex[:10]}"
    say(f"starting CKAN (database {db_name})")
    stack = start_portal(directory, db_name=db_name)
    say(f"CKAN at {stack.url}")
    return BenchPortal(stack=stack, db_name=db_name)
