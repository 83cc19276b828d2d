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

Two tables serve the weekly rhythm (``etl/release.py``, ``etl/freshness.py``):
``releases`` records each Wednesday release of a queued dataset (the record wins
over the registry's ``release: queued``), ``freshness_notices`` when a maintainer was
told that an update is overdue (so the daily check reminds weekly, not daily).
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
    func,
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


releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False, index=True),
    Column("run_id", String(250), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True)),
    # the successful publish attempt whose validated version went public
    Column("attempt_id", Integer, ForeignKey("publish_attempts.id")),
    Column("portal_url", String(500)),
    Column("announcement", Text),
    Column("error", Text),
)

freshness_notices = Table(
    "freshness_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False, index=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("notified_at", DateTime(timezone=True), nullable=False),
    Column("recipients", JSON, nullable=False, default=list),
)

ReleaseStatus = Literal["running", "released", "failed"]
CONTENT_CHANGES = ("created", "updated")
"""Output actions that change what users download (``unchanged``/``failed`` do not)."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime:
    """``value`` (default: now) in UTC: SQLite keeps the wall time and drops the zone,
    so everything is stored as UTC."""
    return (value or _utcnow()).astimezone(dt.UTC)


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


@dataclass
class Release:
    """One release of a queued dataset (``status`` ``released`` once it is public)."""

    id: int
    dataset: str
    run_id: str
    status: str
    started_at: dt.datetime
    released_at: dt.datetime | None
    attempt_id: int | None
    portal_url: str | None
    announcement: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "released_at": self.released_at.isoformat() if self.released_at else None,
            "attempt_id": self.attempt_id,
            "portal_url": self.portal_url,
            "announcement": self.announcement,
            "error": self.error,
        }


@dataclass
class Notice:
    """A maintainer was told that a dataset's update is overdue."""

    id: int
    dataset: str
    due_at: dt.datetime
    notified_at: dt.datetime
    recipients: list[str]


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

    def last_attempt(self, dataset: str, *, finished: bool = False) -> Attempt | None:
        """The newest attempt of ``dataset`` (with ``finished``: not still ``running``)."""
        query = select(attempts.c.id).where(attempts.c.dataset == dataset)
        if finished:
            query = query.where(attempts.c.status != "running")
        return self._newest(query)

    def last_change(self, dataset: str) -> Attempt | None:
        """The newest successful publish that changed content (an output created/updated).

        Rollbacks are not counted: they bring back older data, not an update.
        """
        changed = select(outputs.c.attempt_id).where(outputs.c.action.in_(CONTENT_CHANGES))
        query = select(attempts.c.id).where(
            attempts.c.dataset == dataset,
            attempts.c.status == "success",
            attempts.c.kind == "publish",
            attempts.c.id.in_(changed),
        )
        return self._newest(query)

    def first_success_at(self, dataset: str) -> dt.datetime | None:
        """When ``dataset`` was first published successfully (its place in the release queue)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(func.min(attempts.c.finished_at)).where(
                    attempts.c.dataset == dataset, attempts.c.status == "success"
                )
            ).scalar()
        return _aware(found) if found else None

    def _newest(self, ids: Any) -> Attempt | None:
        """The attempt with the highest id selected by ``ids`` (a select of attempt ids)."""
        with self.engine.connect() as conn:
            found = conn.execute(ids.order_by(attempts.c.id.desc()).limit(1)).scalar()
            if found is None:
                return None
            row = conn.execute(select(attempts).where(attempts.c.id == found)).mappings().one()
            attempt = self._attempt(row)
            for out in conn.execute(
                select(outputs).where(outputs.c.attempt_id == attempt.id).order_by(outputs.c.id)
            ).mappings():
                attempt.outputs.append(
                    OutputRecord(
                        resource=out["resource"],
                        format=out["format"],
                        sha256=out["sha256"],
                        size=out["size"],
                        action=out["action"],
                        archived_path=out["archived_path"],
                        resource_id=out["resource_id"],
                    )
                )
        return attempt

    # ------------------------------------------------------------------ releases

    def begin_release(
        self,
        dataset: str,
        run_id: str,
        *,
        attempt_id: int | None,
        portal_url: str | None,
        at: dt.datetime | None = None,
    ) -> int:
        """Open a release (status ``running``) before the portal is changed; returns its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                releases.insert().values(
                    dataset=dataset,
                    run_id=run_id,
                    status="running",
                    started_at=_utc(at),
                    attempt_id=attempt_id,
                    portal_url=portal_url,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_release(
        self,
        release_id: int,
        *,
        status: ReleaseStatus,
        at: dt.datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Close a release: ``released`` (public now) or ``failed``."""
        values: dict[str, Any] = {"status": status, "error": error}
        if status == "released":
            values["released_at"] = _utc(at)
        with self.engine.begin() as conn:
            conn.execute(update(releases).where(releases.c.id == release_id).values(**values))

    def set_announcement(self, release_id: int, path: str) -> None:
        """Record where the release's announcement draft was written."""
        with self.engine.begin() as conn:
            conn.execute(
                update(releases).where(releases.c.id == release_id).values(announcement=path)
            )

    def get_release(self, release_id: int) -> Release | None:
        """One release by id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(releases).where(releases.c.id == release_id)).mappings()
            found = row.first()
        return _release(found) if found is not None else None

    def releases(self, dataset: str | None = None, *, limit: int = 100) -> list[Release]:
        """Releases (all statuses), newest first; of one dataset or of all."""
        query = select(releases).order_by(releases.c.id.desc()).limit(limit)
        if dataset is not None:
            query = query.where(releases.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [_release(row) for row in conn.execute(query).mappings()]

    def released(self, dataset: str) -> Release | None:
        """The release that made ``dataset`` public, if any."""
        query = (
            select(releases)
            .where(releases.c.dataset == dataset, releases.c.status == "released")
            .order_by(releases.c.id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _release(row) if row is not None else None

    def released_ids(self) -> set[str]:
        """Every dataset a release made public."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(releases.c.dataset).where(releases.c.status == "released").distinct()
            ).scalars()
            return {str(dataset) for dataset in found}

    def release_of_run(self, run_id: str) -> Release | None:
        """The completed release of ``run_id`` (a retried task must not release a second one)."""
        query = (
            select(releases)
            .where(releases.c.run_id == run_id, releases.c.status == "released")
            .order_by(releases.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _release(row) if row is not None else None

    # ------------------------------------------------------------------ freshness notices

    def record_notice(
        self,
        dataset: str,
        *,
        due_at: dt.datetime,
        recipients: Sequence[str],
        at: dt.datetime | None = None,
    ) -> None:
        """Remember that the maintainer of ``dataset`` was told its update (due ``due_at``)
        is overdue."""
        with self.engine.begin() as conn:
            conn.execute(
                freshness_notices.insert().values(
                    dataset=dataset,
                    due_at=_utc(due_at),
                    notified_at=_utc(at),
                    recipients=list(recipients),
                )
            )

    def last_notice(self, dataset: str) -> Notice | None:
        """The newest overdue notice of ``dataset``."""
        query = (
            select(freshness_notices)
            .where(freshness_notices.c.dataset == dataset)
            .order_by(freshness_notices.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Notice(
            id=int(row["id"]),
            dataset=row["dataset"],
            due_at=_aware(row["due_at"]),
            notified_at=_aware(row["notified_at"]),
            recipients=list(row["recipients"] or []),
        )

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


def _release(row: Any) -> Release:
    return Release(
        id=int(row["id"]),
        dataset=row["dataset"],
        run_id=row["run_id"],
        status=row["status"],
        started_at=_aware(row["started_at"]),
        released_at=_aware(row["released_at"]) if row["released_at"] else None,
        attempt_id=row["attempt_id"],
        portal_url=row["portal_url"],
        announcement=row["announcement"],
        error=row["error"],
    )


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
