"""The run ledger: one record per publish attempt, in a real SQL database (SQLAlchemy).

SQLite file ``<HARVEST_WORK_DIR>/ledger.sqlite`` by default; PostgreSQL (or any
SQLAlchemy URL) when ``HARVEST_DB_URL`` is set, which is what a deployment with
several Celery workers needs. Each attempt records dataset, run id, inputs with
sha256, validation summary, per-resource outputs (sha256, action, archived copy),
start, end, status and error. ``harvest history`` shows it and ``harvest
rollback`` reads it.

Rendered outputs are archived content-addressed under
``<HARVEST_WORK_DIR>/archive/<dataset>/<sha256>/<resource>``, so a rollback can
republish any earlier version and identical versions are stored once. The inputs
of a successful publish are archived the same way under
``<archive>/<dataset>/inputs/<sha256>/<file name>`` (the name is kept: families read
facts such as the year from it) and recorded with ``archived_path``: that input set
is what a file dropped in mode ``add`` joins and what scheduled runs of a dataset fed
by its drop folder re-run from.

The ledger also provides the per-dataset publish lock: two publishes of the same
dataset never interleave (PostgreSQL advisory lock, or a file lock with SQLite).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from etl.errors import ConfigError, HarvestError

log = logging.getLogger(__name__)

Status = Literal["running", "success", "failed", "invalid", "rejected"]
Kind = Literal["publish", "rollback"]

metadata = MetaData()

attempts = Table(
    "publish_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False, index=True),
    Column("run_id", String(250), nullable=False),
    Column("kind", String(20), nullable=False, default="publish"),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("portal_url", String(500)),
    Column("inputs", JSON, nullable=False, default=list),
    Column("validation", JSON),
    Column("facts", JSON),
    Column("error", Text),
    Column("source_attempt", Integer),
)

outputs = Table(
    "publish_outputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", Integer, ForeignKey("publish_attempts.id"), nullable=False, index=True),
    Column("resource", String(250), nullable=False),
    Column("format", String(20), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("archived_path", Text),
    Column("resource_id", String(100)),
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class OutputRecord:
    """One published resource of an attempt."""

    resource: str
    format: str
    sha256: str
    size: int
    action: str
    archived_path: str | None = None
    resource_id: str | None = None


@dataclass
class Attempt:
    """One publish attempt as recorded."""

    id: int
    dataset: str
    run_id: str
    kind: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    portal_url: str | None
    inputs: list[dict[str, Any]]
    validation: dict[str, Any] | None
    error: str | None
    source_attempt: int | None
    facts: dict[str, Any] | None = None
    outputs: list[OutputRecord] = field(default_factory=list)


class LockBusy(HarvestError):
    """Another publish of the same dataset holds the lock for too long."""

    exit_code = 3


def work_dir() -> Path:
    """``HARVEST_WORK_DIR`` or ``<project>/.work`` (same rule as the pipeline)."""
    from etl.registry import PROJECT_ROOT

    return Path(os.environ.get("HARVEST_WORK_DIR") or PROJECT_ROOT / ".work")


class Ledger:
    """Access to the ledger database and the output archive.

    Args:
        url: SQLAlchemy URL; default ``HARVEST_DB_URL`` or the SQLite file in the work dir.
        archive_dir: where outputs are archived; default ``<work dir>/archive``.
    """

    def __init__(self, url: str | None = None, *, archive_dir: Path | None = None) -> None:
        base = work_dir()
        self.url = url or os.environ.get("HARVEST_DB_URL") or f"sqlite:///{base / 'ledger.sqlite'}"
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.archive_dir = archive_dir or base / "archive"
        self.lock_dir = base / "locks"
        try:
            self.engine: Engine = create_engine(self.url, pool_pre_ping=True, future=True)
            _create_tables(self.engine)
        except Exception as exc:  # driver errors differ by backend; all mean "cannot use it"
            raise ConfigError(
                f"run ledger database not usable ({_safe_url(self.url)}): {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}"
            ) from None

    def __repr__(self) -> str:
        return f"Ledger({_safe_url(self.url)!r})"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ recording

    def begin(
        self,
        dataset: str,
        run_id: str,
        *,
        inputs: Sequence[dict[str, Any]] = (),
        kind: Kind = "publish",
        portal_url: str | None = None,
        source_attempt: int | None = None,
    ) -> int:
        """Open an attempt (status ``running``); returns its id.

        An attempt already open for the same dataset and run id (an Airflow task
        retry) is reused, so a run has one record however often it is retried.
        """
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(attempts.c.id).where(
                    attempts.c.dataset == dataset,
                    attempts.c.run_id == run_id,
                    attempts.c.kind == kind,
                )
            ).scalar()
            if existing is not None:
                values: dict[str, Any] = {"status": "running", "finished_at": None, "error": None}
                if inputs:
                    values["inputs"] = list(inputs)
                conn.execute(update(attempts).where(attempts.c.id == existing).values(**values))
                return int(existing)
            result = conn.execute(
                attempts.insert().values(
                    dataset=dataset,
                    run_id=run_id,
                    kind=kind,
                    status="running",
                    started_at=_utcnow(),
                    portal_url=portal_url,
                    inputs=list(inputs),
                    source_attempt=source_attempt,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def attempt_id(self, dataset: str, run_id: str, kind: Kind = "publish") -> int | None:
        """The id of the attempt of ``run_id``, if one was opened."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(attempts.c.id).where(
                    attempts.c.dataset == dataset,
                    attempts.c.run_id == run_id,
                    attempts.c.kind == kind,
                )
            ).scalar()
        return None if found is None else int(found)

    def update(self, attempt_id: int, **values: Any) -> None:
        """Set fields of an open attempt (``inputs``, ``validation``, ``portal_url``)."""
        allowed = {"inputs", "validation", "portal_url", "facts"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update {unknown}")
        with self.engine.begin() as conn:
            conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(**values))

    def finish(
        self,
        attempt_id: int,
        *,
        status: Status,
        outputs_: Sequence[OutputRecord] = (),
        validation: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
        error: str | None = None,
        inputs: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Close an attempt with its outcome and outputs (replacing earlier outputs).

        ``inputs`` replaces the input records given to :meth:`begin` (e.g. with their
        archived copies added).
        """
        values: dict[str, Any] = {"status": status, "finished_at": _utcnow(), "error": error}
        if validation is not None:
            values["validation"] = validation
        if facts is not None:
            values["facts"] = facts
        if inputs is not None:
            values["inputs"] = list(inputs)
        with self.engine.begin() as conn:
            conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(**values))
            if outputs_:
                conn.execute(outputs.delete().where(outputs.c.attempt_id == attempt_id))
                conn.execute(
                    outputs.insert(),
                    [
                        {
                            "attempt_id": attempt_id,
                            "resource": o.resource,
                            "format": o.format,
                            "sha256": o.sha256,
                            "size": o.size,
                            "action": o.action,
                            "archived_path": o.archived_path,
                            "resource_id": o.resource_id,
                        }
                        for o in outputs_
                    ],
                )

    def archive(self, dataset: str, path: Path, sha256: str, resource: str) -> Path:
        """Keep a copy of a rendered file (content-addressed; stored once per content)."""
        target = self.archive_dir / dataset / sha256 / resource
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            shutil.copyfile(path, partial)
            partial.replace(target)
        return target

    def archive_input(self, dataset: str, record: dict[str, Any]) -> dict[str, Any]:
        """Keep a copy of an input file; returns the record with ``archived_path``.

        ``record`` is an input record (``name``, ``sha256``, and ``path`` where the file
        was read from). The copy is content-addressed and keeps the file name. A file
        whose bytes changed since they were hashed is not archived (the record is
        returned without ``archived_path``); the transient ``path`` is dropped.
        """
        from etl.readers import sha256_file

        kept = {k: v for k, v in record.items() if k != "path"}
        sha256, name = record.get("sha256"), record.get("name")
        if not sha256 or not name:
            return kept
        target = self.archive_dir / dataset / "inputs" / sha256 / Path(str(name)).name
        if target.is_file():
            kept["archived_path"] = str(target)
            return kept
        source = Path(str(record.get("path") or record.get("archived_path") or ""))
        try:
            if not source.is_file() or sha256_file(source) != sha256:
                log.warning("%s: input %s changed or vanished before archiving", dataset, name)
                kept.pop("archived_path", None)
                return kept
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            shutil.copyfile(source, partial)
            partial.replace(target)
        except OSError as exc:
            log.warning("%s: input %s not archived: %s", dataset, name, exc)
            kept.pop("archived_path", None)
            return kept
        kept["archived_path"] = str(target)
        return kept

    # ------------------------------------------------------------------ reading

    def history(self, dataset: str, *, limit: int = 20) -> list[Attempt]:
        """Newest attempts of ``dataset`` first, with their outputs."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(attempts)
                    .where(attempts.c.dataset == dataset)
                    .order_by(attempts.c.id.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
            found = [self._attempt(row) for row in rows]
            if found:
                ids = [a.id for a in found]
                for row in conn.execute(
                    select(outputs).where(outputs.c.attempt_id.in_(ids)).order_by(outputs.c.id)
                ).mappings():
                    attempt = next(a for a in found if a.id == row["attempt_id"])
                    attempt.outputs.append(
                        OutputRecord(
                            resource=row["resource"],
                            format=row["format"],
                            sha256=row["sha256"],
                            size=row["size"],
                            action=row["action"],
                            archived_path=row["archived_path"],
                            resource_id=row["resource_id"],
                        )
                    )
        return found

    def get(self, attempt_id: int) -> Attempt | None:
        """One attempt by id (with outputs)."""
        with self.engine.connect() as conn:
            dataset = conn.execute(
                select(attempts.c.dataset).where(attempts.c.id == attempt_id)
            ).scalar()
        if dataset is None:
            return None
        for attempt in self.history(str(dataset), limit=1_000_000):
            if attempt.id == attempt_id:
                return attempt
        return None

    def successes(self, dataset: str, *, limit: int = 100) -> list[Attempt]:
        """Successful attempts (publishes and rollbacks), newest first."""
        return [a for a in self.history(dataset, limit=limit) if a.status == "success"]

    def last_success(self, dataset: str) -> Attempt | None:
        found = self.successes(dataset, limit=50)
        return found[0] if found else None

    @staticmethod
    def _attempt(row: Any) -> Attempt:
        return Attempt(
            id=int(row["id"]),
            dataset=row["dataset"],
            run_id=row["run_id"],
            kind=row["kind"],
            status=row["status"],
            started_at=_aware(row["started_at"]),
            finished_at=_aware(row["finished_at"]) if row["finished_at"] else None,
            portal_url=row["portal_url"],
            inputs=list(row["inputs"] or []),
            validation=row["validation"],
            error=row["error"],
            source_attempt=row["source_attempt"],
            facts=row["facts"],
        )

    # ------------------------------------------------------------------ locking

    @contextlib.contextmanager
    def lock(self, dataset: str, *, wait_seconds: float = 600.0) -> Iterator[None]:
        """Hold the publish lock of ``dataset``; wait up to ``wait_seconds`` for it.

        PostgreSQL: a session advisory lock (works across machines, e.g. Celery
        workers). SQLite: an exclusive ``flock`` next to the database file.

        Raises:
            LockBusy: the lock was not free within ``wait_seconds``.
        """
        deadline = time.monotonic() + wait_seconds
        if self.is_postgres:
            key = int.from_bytes(hashlib.sha256(dataset.encode()).digest()[:8], "big", signed=True)
            with self.engine.connect() as conn:
                while not conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                ).scalar():
                    if time.monotonic() > deadline:
                        raise LockBusy(f"{dataset}: another publish is still running")
                    time.sleep(0.5)
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            return
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        with (self.lock_dir / f"{dataset}.lock").open("a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockBusy(f"{dataset}: another publish is still running") from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _create_tables(engine: Engine) -> None:
    """Create the tables if missing.

    Several tasks starting at once on a fresh PostgreSQL database race on
    ``CREATE TABLE``: the loser fails with a unique violation in the catalogue
    although the table now exists. Trying again settles it.
    """
    for attempt in range(5):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _safe_url(url: str) -> str:
    """The URL without password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as a placeholder, never raw
        return "<database URL>"


def attempt_as_dict(attempt: Attempt) -> dict[str, Any]:
    """JSON-safe form for `harvest history --json`."""
    data = {
        "id": attempt.id,
        "dataset": attempt.dataset,
        "run_id": attempt.run_id,
        "kind": attempt.kind,
        "status": attempt.status,
        "started_at": attempt.started_at.isoformat(),
        "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
        "portal_url": attempt.portal_url,
        "inputs": attempt.inputs,
        "validation": attempt.validation,
        "error": attempt.error,
        "source_attempt": attempt.source_attempt,
        "facts": attempt.facts,
        "outputs": [o.__dict__ for o in attempt.outputs],
    }
    safe: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return safe
