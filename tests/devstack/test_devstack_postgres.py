"""Finding or starting PostgreSQL for the stack (devstack/postgres.py).

Runs against real servers: whatever :func:`resolve_postgres` finds on this machine, and an
embedded server forced with ``embedded=True`` (it must work where no server runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from devstack.errors import StackError
from devstack.postgres import (
    PostgresServer,
    create_database,
    database_exists,
    database_url,
    drop_database,
    resolve_postgres,
    stop_embedded,
    table_exists,
)
from devstack.processes import pid_alive


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    found = resolve_postgres(tmp_path_factory.mktemp("pg"))
    yield found
    if found.started:
        found.stop()


def unique_name() -> str:
    return f"devstack_test_{uuid.uuid4().hex[:10]}"


def test_database_url_replaces_the_database_and_keeps_a_readable_socket_path() -> None:
    assert database_url("postgresql://postgres@127.0.0.1:5432/postgres", "ckan_x") == (
        "postgresql://postgres@127.0.0.1:5432/ckan_x"
    )
    assert database_url("postgresql://postgres:@/postgres?host=/tmp/stack/pg", "ckan") == (
        "postgresql://postgres:@/ckan?host=/tmp/stack/pg"
    )


def test_create_and_drop_database(server: PostgresServer) -> None:
    name = unique_name()
    url = create_database(server.url, name)
    try:
        connection = psycopg2.connect(url, connect_timeout=5)
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE package (id text)")
        connection.close()
        assert table_exists(url, "package")
        # creating again is a no-op; drop_existing gives an empty database
        assert create_database(server.url, name) == url
        assert table_exists(url, "package")
        create_database(server.url, name, drop_existing=True)
        assert not table_exists(url, "package")
    finally:
        drop_database(server.url, name)
    assert not database_exists(server.url, name)


def test_stack_pg_url_takes_precedence(
    server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_PG_URL", server.url)

    resolved = resolve_postgres(tmp_path)

    assert resolved == PostgresServer(server.url)


def test_stack_pg_url_that_does_not_answer_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_PG_URL", "postgresql://postgres@127.0.0.1:1/postgres")

    with pytest.raises(StackError, match="STACK_PG_URL"):
        resolve_postgres(tmp_path)


def test_embedded_server_starts_serves_and_stops_by_pid(tmp_path: Path) -> None:
    embedded = resolve_postgres(tmp_path, embedded=True)
    try:
        assert embedded.embedded and embedded.started
        assert embedded.pid is not None and pid_alive(embedded.pid)
        # A second resolve finds the running server instead of starting another one.
        again = resolve_postgres(tmp_path, embedded=True)
        assert (again.pid, again.started) == (embedded.pid, False)

        url = create_database(embedded.url, "ckan")
        connection = psycopg2.connect(url, connect_timeout=5)
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), inet_server_addr()")
            # No TCP listener at all: the server is reachable on its Unix socket only.
            assert cursor.fetchone() == ("ckan", None)
        connection.close()
    finally:
        stopped = stop_embedded(tmp_path / "postgres")

    assert stopped
    assert not pid_alive(embedded.pid)
    assert stop_embedded(tmp_path / "postgres") is False
