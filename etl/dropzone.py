"""Watched drop folders: a department drops a file, the portal is updated or it gets a report.

Folder contract (scripts and checks depend on these names)::

    <root>/<dataset-id>/                    the department drops files here
    <root>/<dataset-id>/archiv/             published originals: <stem>__<time>__<hash8><suffix>
                                            (``__duplikat`` added: same bytes as published)
    <root>/<dataset-id>/abgelehnt/          rejected originals, each with
                                            <name>.bericht.html and <name>.bericht.json
    <root>/<dataset-id>/.warteschlange/<UTC time>/<original name>
                                            claimed, not yet finished (hidden)

``<root>`` is ``HARVEST_DROPZONE`` (default ``<HARVEST_WORK_DIR>/dropzone``).

The life of a dropped file:

1. **Ignored until complete**: hidden files, ``*.part``, ``*.tmp``, Office lock files
   (``~$*``), Windows' ``Thumbs.db``/``desktop.ini``, symbolic links, and files whose
   size or modification time changed within the settle interval (a copy in progress).
2. **Claimed** by one ``rename`` into its own slot of the hidden queue (never copied
   and deleted): the slot name is the claim time, so the queue keeps drop order, and
   the file keeps its name, which families read facts from (the year of a first-names
   list) and reports quote.
3. **Processed head first**: checksum; a file already published by an earlier,
   interrupted run is finished, not published again; a type the dataset does not take
   is rejected; the same input set as the last successful publish is a duplicate;
   otherwise the dataset's pipeline runs (``pipeline.check`` then
   ``pipeline.publish_recorded``: ledger and per-dataset lock).
4. **Filed**: ``archiv/`` on success (the portal was updated as by ``harvest
   publish``), ``abgelehnt/`` with the German reports when the file is the
   department's problem. A portal or storage failure is not: the file stays queued
   (retried by the next run) and the team is told, not the department.
5. **Notified** (``etl.notify``): the maintainer address of the registry entry.

At every moment the bytes are in exactly one place: the dataset folder, the queue,
``archiv/`` or ``abgelehnt/``; every move is a ``rename`` within the dataset folder.
A crash at any step leaves the file in the queue, and every run starts with the
queue (oldest first), so a restart resumes.

What a file means for the dataset is the registry's ``dropzone.mode``: ``replace``
(the file is the whole new input) or ``add`` (it joins the current input set, the
inputs of the last successful publish, replacing the member with the same partition
key; see :func:`etl.sources.partition_key`).

This module imports nothing heavy at module level: the Airflow trigger uses the scan
and claim functions inside the triggerer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from etl.errors import ConfigError, HarvestError, InputError, ValidationFailed
from etl.registry import PROJECT_ROOT, Dataset

if TYPE_CHECKING:
    from etl.ledger import Attempt, Ledger
    from etl.notify import Notifier
    from etl.portal import Portal

log = logging.getLogger(__name__)

ROOT_ENV = "HARVEST_DROPZONE"
QUEUE_DIR = ".warteschlange"
ARCHIVE_DIR = "archiv"
REJECTED_DIR = "abgelehnt"
DUPLICATE_MARK = "duplikat"
DRY_RUN_MARK = "probelauf"

IGNORED_SUFFIXES = (".part", ".tmp")
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})
"""Files Windows Explorer writes into folders by itself; never a delivery."""

LOCAL_TIME = ZoneInfo("Europe/Berlin")
_STAMP = "%Y%m%dT%H%M%S%fZ"
_STAMP_LENGTH = 22
STALE_SLOT_SECONDS = 60.0
"""An empty queue slot older than this is left over from a crash between creating the
slot and the rename into it (microseconds apart); it is removed."""


class DropzoneStorageError(HarvestError):
    """The drop folder cannot be written (disk full, permissions): an operator must act."""

    exit_code = 4


# --------------------------------------------------------------------------- settings


def dropzone_root() -> Path:
    """``HARVEST_DROPZONE``, else ``<HARVEST_WORK_DIR>/dropzone``."""
    configured = os.environ.get(ROOT_ENV)
    if configured:
        return Path(configured).absolute()
    work = os.environ.get("HARVEST_WORK_DIR") or PROJECT_ROOT / ".work"
    return (Path(work) / "dropzone").absolute()


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class Settings:
    """Where the folders are and how they are watched.

    Attributes:
        poll_seconds: pause between two scans of a folder (Airflow trigger).
        settle_seconds: a file counts as complete when its size and modification time
            stayed the same for this long.
        retry_seconds: a queue head that waits this long is announced again (a run
            that failed on the portal is retried; a lost wake-up is healed).
    """

    root: Path
    poll_seconds: float = 5.0
    settle_seconds: float = 5.0
    retry_seconds: float = 1800.0

    @classmethod
    def from_env(cls, root: Path | None = None) -> Settings:
        """``HARVEST_DROPZONE`` and ``HARVEST_DROPZONE_{POLL,SETTLE,RETRY}_SECONDS``."""
        return cls(
            root=(root or dropzone_root()).absolute(),
            poll_seconds=max(0.5, _seconds("HARVEST_DROPZONE_POLL_SECONDS", cls.poll_seconds)),
            settle_seconds=_seconds("HARVEST_DROPZONE_SETTLE_SECONDS", cls.settle_seconds),
            retry_seconds=max(60.0, _seconds("HARVEST_DROPZONE_RETRY_SECONDS", cls.retry_seconds)),
        )


# --------------------------------------------------------------------------- scanning


def is_ignored(name: str) -> bool:
    """Whether a file name is never a delivery (temporary, hidden, lock or system file)."""
    folded = name.casefold()
    return (
        name.startswith((".", "~$")) or folded.endswith(IGNORED_SUFFIXES) or folded in SYSTEM_FILES
    )


def candidates(folder: Path) -> list[Path]:
    """Files in ``folder`` (not in its subfolders) that may be deliveries."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    # symbolic links are skipped: claiming would move the link, not the bytes
    return sorted(
        Path(entry.path)
        for entry in entries
        if entry.is_file(follow_symlinks=False) and not is_ignored(entry.name)
    )


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    ctime_ns: int
    since: float


class StabilityWatch:
    """Remembers what it saw of each file; a file is stable once unchanged for ``settle``.

    A large copy in progress changes size and modification time; a file is claimed
    only after two observations at least ``settle_seconds`` apart agree (with 0, at
    first sight). Each call passes all candidates of the watched folders; files not
    passed any more are forgotten.
    """

    def __init__(
        self, settle_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._seen: dict[Path, _Seen] = {}

    def stable(self, paths: Iterable[Path]) -> list[Path]:
        """The given files that are complete, in drop order.

        Drop order is the order in which files became complete: their last inode
        change (``ctime``, which a copy or a move into the folder sets and which,
        unlike the modification time, copying tools cannot carry over), ties by name.
        """
        now = self._clock()
        current: dict[Path, _Seen] = {}
        for path in paths:
            try:
                stat = path.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            previous = self._seen.get(path)
            if previous is None or (previous.size, previous.mtime_ns) != (
                stat.st_size,
                stat.st_mtime_ns,
            ):
                current[path] = _Seen(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, now)
            else:
                previous.ctime_ns = stat.st_ctime_ns
                current[path] = previous
        # callers pass every candidate of the folders they watch: what is missing vanished
        self._seen = current
        ready = [p for p, seen in current.items() if now - seen.since >= self.settle_seconds]
        return sorted(ready, key=lambda p: (current[p].ctime_ns, p.name))

    def waiting(self) -> list[Path]:
        """Files seen but not yet stable."""
        now = self._clock()
        return sorted(p for p, s in self._seen.items() if now - s.since < self.settle_seconds)


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueItem:
    """A claimed file: ``<folder>/.warteschlange/<slot>/<original name>``."""

    folder: Path
    slot: Path
    path: Path

    @property
    def name(self) -> str:
        """The file name as the department dropped it."""
        return self.path.name

    @property
    def id(self) -> str:
        """``<slot>/<name>``: unique per claim; recorded in the ledger as ``queued_as``."""
        return f"{self.slot.name}/{self.path.name}"

    @property
    def claimed_at(self) -> dt.datetime:
        try:
            return dt.datetime.strptime(self.slot.name[:_STAMP_LENGTH], _STAMP).replace(
                tzinfo=dt.UTC
            )
        except ValueError:  # a slot not made by claim(); order still by name
            return dt.datetime.fromtimestamp(self.slot.stat().st_mtime, dt.UTC)


_stamp_lock = threading.Lock()
_last_stamp: dt.datetime | None = None


def _next_moment(now: dt.datetime | None) -> dt.datetime:
    """Strictly increasing claim times in this process, so slots sort in claim order.

    A given ``now`` is taken as it is (same moments are told apart by the slot suffix).
    """
    global _last_stamp
    if now is not None:
        return now
    with _stamp_lock:
        moment = dt.datetime.now(dt.UTC)
        if _last_stamp is not None and moment <= _last_stamp:
            moment = _last_stamp + dt.timedelta(microseconds=1)
        _last_stamp = moment
        return moment


def _new_slot(queue_dir: Path, now: dt.datetime | None) -> Path:
    stamp = _next_moment(now).strftime(_STAMP)
    for attempt in range(1000):
        # another process may claim in the same microsecond: '-NNN' sorts after it
        slot = queue_dir / (stamp if attempt == 0 else f"{stamp}-{attempt:03d}")
        try:
            slot.mkdir()
            return slot
        except FileExistsError:
            continue
    raise DropzoneStorageError(f"cannot create a queue slot in {queue_dir}")


def ensure_folders(folder: Path) -> None:
    """Create the dataset folder with ``archiv/``, ``abgelehnt/`` and the queue."""
    for path in (folder, folder / ARCHIVE_DIR, folder / REJECTED_DIR, folder / QUEUE_DIR):
        path.mkdir(parents=True, exist_ok=True)


def claim(path: Path, *, now: dt.datetime | None = None) -> QueueItem | None:
    """Move a dropped file into its own new queue slot (one atomic ``rename``).

    Returns None if the file vanished first (claimed by another process, or taken
    back by the department).
    """
    queue_dir = path.parent / QUEUE_DIR
    queue_dir.mkdir(exist_ok=True)
    slot = _new_slot(queue_dir, now)
    target = slot / path.name
    try:
        path.rename(target)
    except FileNotFoundError:
        slot.rmdir()
        return None
    log.info("claimed %s as %s", path, target)
    return QueueItem(folder=path.parent, slot=slot, path=target)


def queue(folder: Path) -> list[QueueItem]:
    """The claimed, unfinished files of a dataset folder, oldest claim first."""
    queue_dir = folder / QUEUE_DIR
    try:
        slots = sorted(p for p in queue_dir.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    items: list[QueueItem] = []
    for slot in slots:
        try:
            files = sorted(p for p in slot.iterdir() if p.is_file() and not p.name.startswith("."))
        except FileNotFoundError:  # finished by another process meanwhile
            continue
        if not files:
            _remove_if_stale(slot)
        items.extend(QueueItem(folder=folder, slot=slot, path=f) for f in files)
    return items


def head(folder: Path) -> QueueItem | None:
    """The queue's oldest item (the next to process)."""
    items = queue(folder)
    return items[0] if items else None


def item_from_id(folder: Path, item_id: str) -> QueueItem:
    """The queue item recorded as ``item_id`` (``<slot>/<name>``)."""
    slot_name, _, name = item_id.partition("/")
    slot = folder / QUEUE_DIR / slot_name
    return QueueItem(folder=folder, slot=slot, path=slot / name)


def _remove_if_stale(slot: Path) -> None:
    with contextlib.suppress(OSError):  # not empty or already gone: leave it
        if time.time() - slot.stat().st_mtime > STALE_SLOT_SECONDS:
            slot.rmdir()


def poll(folder: Path, watch: StabilityWatch) -> tuple[list[QueueItem], list[QueueItem]]:
    """One scan of a dataset folder: claim what is complete; returns (claimed, queue).

    This is all the Airflow trigger does (in a thread of the triggerer), so a
    dropped file is safe in the queue before any DAG run exists.
    """
    ensure_folders(folder)
    claimed = []
    for path in watch.stable(candidates(folder)):
        item = claim(path)
        if item is not None:
            claimed.append(item)
    return claimed, queue(folder)


# --------------------------------------------------------------------------- filing


def filed_name(item: QueueItem, sha256: str, mark: str | None = None) -> str:
    """``<stem>__<claim time, local>__<first 8 hex of sha256>[__<mark>]<suffix>``.

    The original name stays in front and the suffix at the end, so the file still
    opens by double-click; the time and hash tell versions of the same name apart.
    """
    path = Path(item.name)
    moment = item.claimed_at.astimezone(LOCAL_TIME).strftime("%Y-%m-%d_%H-%M-%S")
    parts = [path.stem, moment, sha256[:8], *([mark] if mark else [])]
    return "__".join(parts) + path.suffix


def _free_path(directory: Path, name: str) -> Path:
    """``directory/name``, or with ``__2``, ``__3`` … added if taken (never overwrite)."""
    target = directory / name
    counter = 2
    while target.exists():
        base = Path(name)
        target = directory / f"{base.stem}__{counter}{base.suffix}"
        counter += 1
    return target


def _move(item: QueueItem, target: Path) -> Path:
    """Rename the queued file to ``target`` (same file system) and drop its slot."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        item.path.rename(target)
    except OSError as exc:
        raise DropzoneStorageError(
            f"cannot move {item.path} to {target}: {exc.strerror or exc}; the file stays queued"
        ) from None
    with contextlib.suppress(OSError):
        item.slot.rmdir()
    return target


# --------------------------------------------------------------------------- processing

Status = Literal["published", "duplicate", "rejected", "queued", "dry_run"]

ACTIONS_DE = {
    "created": "neu angelegt",
    "updated": "aktualisiert",
    "unchanged": "unverändert",
    "failed": "fehlgeschlagen",
}


@dataclass
class Outcome:
    """What became of one dropped file (CLI output, DAG-run note, XCom)."""

    dataset: str
    file: str
    status: Status
    message: str
    exit_code: int = 0
    sha256: str | None = None
    filed_as: str | None = None
    reports: list[str] = field(default_factory=list)
    dataset_url: str | None = None
    notified: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note(self) -> str:
        """One line for the Airflow UI: file name and outcome."""
        text = f"Abgabe „{self.file}“: {self.message}"
        if self.notified:
            text += f" – benachrichtigt: {', '.join(self.notified)}"
        return text


Action = Literal["process", "duplicate", "resumed", "reject"]


@dataclass
class Prepared:
    """A queue item checked against the ledger: what to do with it and with which inputs.

    Attributes:
        inputs: ledger records of the run's input set (the item's record has
            ``origin: dropzone`` and ``queued_as``); ``path`` says where to read each.
        replaces: names of current members the item replaces (mode ``add``).
        portal_url: the portal of the publish that already holds the item (resumed,
            duplicate), for the link in the mail.
    """

    item: QueueItem
    sha256: str
    size: int
    action: Action
    inputs: list[dict[str, Any]] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    error: str | None = None
    portal_url: str | None = None

    @property
    def paths(self) -> list[Path]:
        return [Path(str(r["path"])) for r in self.inputs]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (XCom between the DAG's tasks)."""
        return {
            "folder": str(self.item.folder),
            "item": self.item.id,
            "sha256": self.sha256,
            "size": self.size,
            "action": self.action,
            "inputs": self.inputs,
            "replaces": self.replaces,
            "error": self.error,
            "portal_url": self.portal_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prepared:
        return cls(
            item=item_from_id(Path(data["folder"]), data["item"]),
            sha256=data["sha256"],
            size=data["size"],
            action=data["action"],
            inputs=list(data["inputs"]),
            replaces=list(data["replaces"]),
            error=data.get("error"),
            portal_url=data.get("portal_url"),
        )


def _current_set(dataset: Dataset, last: Attempt | None) -> list[dict[str, Any]]:
    """The input set a file dropped in mode ``add`` joins.

    The archived inputs of the last successful publish; without one (or if it
    predates input archiving and holds no dropped file), the registry's source paths.
    """
    from etl import pipeline

    if last is not None:
        records = pipeline.current_input_set(last)
        if records is not None:
            return records
    try:
        paths = pipeline.resolve_inputs(dataset)
    except InputError:
        return []
    return pipeline.describe_inputs(paths)


def prepare(dataset: Dataset, item: QueueItem, ledger: Ledger) -> Prepared:
    """Decide what to do with a queue item and with which input set.

    Raises:
        ConfigError: an archived input of the current set is missing or altered.
        OSError: the queued file cannot be read.
    """
    from etl.readers import sha256_file
    from etl.sources import partition_key

    sha256 = sha256_file(item.path)
    size = item.path.stat().st_size
    last = ledger.last_success(dataset.id)
    if last is not None and any(r.get("queued_as") == item.id for r in last.inputs):
        # published by a run that stopped before filing the file: only finish it
        return Prepared(item, sha256, size, "resumed", portal_url=last.portal_url)
    suffix = Path(item.name).suffix.lower()
    if suffix not in dataset.source.accept:
        error = (
            f"Dateityp {suffix or '(ohne Endung)'} wird für {dataset.id} nicht angenommen; "
            f"erlaubt: {', '.join(dataset.source.accept)}"
        )
        return Prepared(item, sha256, size, "reject", error=error)
    mine = {
        "name": item.name,
        "sha256": sha256,
        "path": str(item.path),
        "origin": "dropzone",
        "queued_as": item.id,
    }
    replaced: list[dict[str, Any]] = []
    if dataset.dropzone.mode == "add":
        key = partition_key(dataset, item.name)
        kept = []
        for record in _current_set(dataset, last):
            if partition_key(dataset, str(record["name"])) == key:
                replaced.append(record)
            else:
                kept.append(record)
        records = [*kept, mine]
    else:
        records = [mine]
    if last is not None and sorted(str(r.get("sha256")) for r in records) == sorted(
        str(r.get("sha256")) for r in last.inputs
    ):
        return Prepared(item, sha256, size, "duplicate", portal_url=last.portal_url)
    return Prepared(
        item,
        sha256,
        size,
        "process",
        inputs=records,
        replaces=[str(r["name"]) for r in replaced],
    )


def record_wrong_type(ledger: Ledger, dataset: Dataset, prepared: Prepared, run_id: str) -> None:
    """Record a file of a type the dataset does not take as a ``rejected`` attempt."""
    from etl import pipeline

    record = {
        "name": prepared.item.name,
        "sha256": prepared.sha256,
        "origin": "dropzone",
        "queued_as": prepared.item.id,
    }
    error = InputError(prepared.error or "Dateityp nicht erlaubt", file=prepared.item.name)
    pipeline.record_rejection(ledger, dataset, run_id, [record], error)


def _contact(dataset: Dataset | None, notifier: Notifier) -> str:
    team = notifier.settings.team
    text = "Bei Fragen hilft das Open-Data-Team"
    text += f" ({team})." if team else "."
    if dataset is not None:
        text += (
            f" Zuständig für den Datensatz: {dataset.package.maintainer} "
            f"({dataset.package.maintainer_email})."
        )
    return text


def reject(
    dataset: Dataset,
    prepared: Prepared,
    error: InputError | ValidationFailed | None,
    *,
    notifier: Notifier,
) -> Outcome:
    """File a queue item under ``abgelehnt/`` with its reports, then tell the department.

    ``error`` None means the file type is not accepted (``prepared.error``).

    Raises:
        DropzoneStorageError: the reports or the file could not be written/moved; the
            file stays queued.
    """
    from etl import notify, reports

    item = prepared.item
    target = _free_path(item.folder / REJECTED_DIR, filed_name(item, prepared.sha256))
    common: dict[str, Any] = {
        "dataset": dataset.id,
        "dataset_title": dataset.package.title,
        "file": item.name,
        "filed_as": target.name,
        "sha256": prepared.sha256,
        "size": prepared.size,
        "received_at": item.claimed_at,
        "contact": _contact(dataset, notifier),
    }
    accepted = list(dataset.source.accept)
    if isinstance(error, ValidationFailed):
        report = reports.for_validation(**common, report=error.report, accepted=accepted)
        others = [str(r["name"]) for r in prepared.inputs if r.get("queued_as") != item.id]
        if others:
            # mode add: the rules apply to the dataset as a whole, so the file was
            # checked together with the files it joins
            report.explanation = (
                f"Geprüft wurde die Datei zusammen mit den {len(others)} bisher "
                f"veröffentlichten Dateien des Datensatzes ({', '.join(others)}); die "
                "Spalte „Datei“ zeigt, in welcher Datei eine Fundstelle liegt."
            )
        exit_code = error.exit_code
        summary = (
            f"abgelehnt – {len(error.report.problems)} Fundstelle(n) in "
            f"{sum(1 for c in error.report.checks if not c.get('success'))} Regel(n)"
        )
    else:
        wrong_type = error is None
        input_error = error or InputError(prepared.error or "Dateityp nicht erlaubt")
        report = reports.for_input_error(
            **common, error=input_error, accepted=accepted, wrong_type=wrong_type
        )
        exit_code = input_error.exit_code
        summary = "abgelehnt – " + (
            "Dateityp nicht erlaubt" if wrong_type else "Datei nicht lesbar"
        )
    try:
        written = reports.write_reports(report, target.parent)
    except OSError as exc:
        raise DropzoneStorageError(
            f"cannot write the report for {item.path} into {target.parent}: "
            f"{exc.strerror or exc}; the file stays queued"
        ) from None
    filed = _move(item, target)
    recipients = notifier.deliver(
        notify.compose_rejected(
            notifier.settings,
            to=dataset.package.maintainer_email,
            dataset_title=dataset.package.title,
            file=item.name,
            headline=report.headline,
            advice=report.advice,
            reports=written,
        )
    )
    return Outcome(
        dataset=dataset.id,
        file=item.name,
        status="rejected",
        message=f"{summary}; Bericht: {REJECTED_DIR}/{filed.name}.bericht.html",
        exit_code=exit_code,
        sha256=prepared.sha256,
        filed_as=str(filed),
        reports=[str(p) for p in written],
        notified=recipients,
    )


def conclude_published(
    dataset: Dataset,
    prepared: Prepared,
    *,
    notifier: Notifier,
    result: Mapping[str, Any] | None = None,
    rows: int | None = None,
) -> Outcome:
    """File a published (or resumed) item under ``archiv/`` and tell the department.

    Args:
        result: ``PublishResult.as_dict()`` of the publish; None when an earlier,
            interrupted run published the file (``prepared.action == "resumed"``).
    """
    from etl import notify

    item = prepared.item
    filed = _move(item, _free_path(item.folder / ARCHIVE_DIR, filed_name(item, prepared.sha256)))
    portal_url = result["portal_url"] if result else prepared.portal_url
    link = notifier.settings.dataset_link(dataset.id, portal_url)
    changes = [
        f"{r['resource']}: {ACTIONS_DE.get(r['action'], r['action'])}"
        for r in (result or {}).get("resources", [])
    ]
    recipients = notifier.deliver(
        notify.compose_published(
            notifier.settings,
            to=dataset.package.maintainer_email,
            dataset_title=dataset.package.title,
            file=item.name,
            filed_as=filed.name,
            link=link,
            changes=changes,
            rows=rows,
        )
    )
    message = "veröffentlicht"
    if changes:
        message += f" ({', '.join(changes)})"
    if prepared.replaces:
        message += f"; ersetzt {', '.join(prepared.replaces)}"
    if link:
        message += f" – {link}"
    return Outcome(
        dataset=dataset.id,
        file=item.name,
        status="published",
        message=message,
        sha256=prepared.sha256,
        filed_as=str(filed),
        dataset_url=link,
        notified=recipients,
    )


def conclude_duplicate(dataset: Dataset, prepared: Prepared, *, notifier: Notifier) -> Outcome:
    """File an item whose input set equals the published one: nothing is published."""
    from etl import notify

    item = prepared.item
    name = filed_name(item, prepared.sha256, DUPLICATE_MARK)
    filed = _move(item, _free_path(item.folder / ARCHIVE_DIR, name))
    link = notifier.settings.dataset_link(dataset.id, prepared.portal_url)
    recipients = notifier.deliver(
        notify.compose_duplicate(
            notifier.settings,
            to=dataset.package.maintainer_email,
            dataset_title=dataset.package.title,
            file=item.name,
            filed_as=filed.name,
            link=link,
        )
    )
    return Outcome(
        dataset=dataset.id,
        file=item.name,
        status="duplicate",
        message="unverändert – identisch mit der veröffentlichten Fassung, als Duplikat archiviert",
        sha256=prepared.sha256,
        filed_as=str(filed),
        dataset_url=link,
        notified=recipients,
    )


def keep_queued(
    dataset: Dataset, item: QueueItem, error: HarvestError, *, notifier: Notifier
) -> Outcome:
    """Leave an item queued after a failure that is not the department's; tell the team."""
    text = (
        f"Die Datei „{item.name}“ für den Datensatz „{dataset.id}“ wurde nicht verarbeitet:\n\n"
        f"{type(error).__name__}: {error.message}\n\n"
        f"Sie bleibt in der Warteschlange ({item.path}) und wird beim nächsten Lauf "
        "erneut verarbeitet. Das Fachamt wurde nicht benachrichtigt."
    )
    recipients = notifier.team(f"{dataset.id}: {item.name} wartet ({type(error).__name__})", text)
    return Outcome(
        dataset=dataset.id,
        file=item.name,
        status="queued",
        message=f"nicht verarbeitet, bleibt in der Warteschlange ({type(error).__name__}: "
        f"{error.message[:300]})",
        exit_code=error.exit_code,
        notified=recipients,
    )


def process_item(
    dataset: Dataset,
    item: QueueItem,
    *,
    ledger: Ledger,
    portal: Portal | None,
    notifier: Notifier,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Run one queue item through the dataset's pipeline and file it (used by the CLI).

    Raises:
        PortalError, LockBusy, ConfigError, DropzoneStorageError: not the
            department's fault; the item stays queued (the caller tells the team).
    """
    import tempfile

    from etl import pipeline

    prepared = prepare(dataset, item, ledger)
    run_id = pipeline.new_run_id("dropzone")
    if prepared.action == "resumed":
        return conclude_published(dataset, prepared, notifier=notifier)
    if prepared.action == "duplicate":
        return conclude_duplicate(dataset, prepared, notifier=notifier)
    if prepared.action == "reject":
        if not dry_run:
            record_wrong_type(ledger, dataset, prepared, run_id)
        return reject(dataset, prepared, None, notifier=notifier)
    with tempfile.TemporaryDirectory(prefix="harvest-dropzone-") as tmp:
        try:
            checked = pipeline.check(dataset, prepared.paths, Path(tmp), progress=progress)
        except (InputError, ValidationFailed) as exc:
            if not dry_run:
                pipeline.record_rejection(ledger, dataset, run_id, prepared.inputs, exc)
            return reject(dataset, prepared, exc, notifier=notifier)
        if dry_run:
            plan = None
            if portal is not None:
                from etl.release import effective

                plan = pipeline.publish(
                    effective(dataset, ledger),
                    checked.files,
                    portal=portal,
                    dry_run=True,
                    facts=checked.facts,
                )
            name = filed_name(item, prepared.sha256, DRY_RUN_MARK)
            filed = _move(item, _free_path(item.folder / ARCHIVE_DIR, name))
            planned = (
                ", ".join(
                    f"{r.resource}: {ACTIONS_DE.get(r.action, r.action)}" for r in plan.resources
                )
                if plan
                else "ohne Portal"
            )
            return Outcome(
                dataset=dataset.id,
                file=item.name,
                status="dry_run",
                message=f"Probelauf: gültig ({checked.report.rows} Zeilen), nicht "
                f"veröffentlicht ({planned})",
                sha256=prepared.sha256,
                filed_as=str(filed),
            )
        assert portal is not None
        result = pipeline.publish_recorded(
            dataset,
            checked.files,
            portal=portal,
            ledger=ledger,
            run_id=run_id,
            inputs=prepared.inputs,
            validation=pipeline.validation_summary(checked.report),
            facts=checked.facts,
            progress=progress,
        )
    return conclude_published(
        dataset, prepared, notifier=notifier, result=result.as_dict(), rows=checked.report.rows
    )


def process_queue(
    dataset: Dataset,
    folder: Path,
    *,
    ledger: Ledger,
    portal: Portal | None,
    notifier: Notifier,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Process a dataset's queue oldest first; stop at the first item that must wait.

    Later items wait behind a failed one so that drop order is kept.
    """
    outcomes = []
    for item in queue(folder):
        try:
            outcome = process_item(
                dataset,
                item,
                ledger=ledger,
                portal=portal,
                notifier=notifier,
                dry_run=dry_run,
                progress=progress,
            )
        except HarvestError as exc:  # department errors were handled by process_item
            outcomes.append(keep_queued(dataset, item, exc, notifier=notifier))
            break
        except OSError as exc:
            error = DropzoneStorageError(f"{item.path}: {exc.strerror or exc}")
            outcomes.append(keep_queued(dataset, item, error, notifier=notifier))
            break
        outcomes.append(outcome)
    return outcomes


def reject_unknown(
    folder_name: str, path: Path, *, known: list[str], notifier: Notifier
) -> Outcome:
    """Set aside a file dropped into a folder that is no registered dataset; tell the team.

    Raises:
        DropzoneStorageError: the report or the file could not be written/moved.
    """
    from etl import notify, reports
    from etl.readers import sha256_file

    sha256 = sha256_file(path)
    moment = dt.datetime.now(dt.UTC)
    local = moment.astimezone(LOCAL_TIME).strftime("%Y-%m-%d_%H-%M-%S")
    target = _free_path(
        path.parent / REJECTED_DIR, "__".join([path.stem, local, sha256[:8]]) + path.suffix
    )
    report = reports.for_unknown_dataset(
        folder=folder_name,
        file=path.name,
        filed_as=target.name,
        sha256=sha256,
        size=path.stat().st_size,
        received_at=moment,
        known=known,
        contact=_contact(None, notifier),
    )
    try:
        written = reports.write_reports(report, target.parent)
        path.rename(target)
    except OSError as exc:
        raise DropzoneStorageError(f"cannot set aside {path}: {exc.strerror or exc}") from None
    recipients: list[str] = []
    if notifier.settings.team:
        recipients = notifier.deliver(
            notify.compose_rejected(
                notifier.settings,
                to=notifier.settings.team,
                dataset_title=f"Ordner {folder_name}",
                file=path.name,
                headline=report.headline,
                advice=report.advice,
                reports=written,
            )
        )
    return Outcome(
        dataset=folder_name,
        file=path.name,
        status="rejected",
        message=f"abgelehnt – unbekannter Datensatz; Bericht: {REJECTED_DIR}/{target.name}"
        ".bericht.html",
        exit_code=2,
        sha256=sha256,
        filed_as=str(target),
        reports=[str(p) for p in written],
        notified=recipients,
    )


@dataclass
class RunResult:
    """Everything one pass over the drop folders did."""

    outcomes: list[Outcome]
    waiting: list[Path]

    @property
    def exit_code(self) -> int:
        """The highest code of any outcome (0 when everything went through)."""
        return max((o.exit_code for o in self.outcomes), default=0)


def _look_twice(
    folders: list[Path], settle_seconds: float, sleep: Callable[[float], None]
) -> tuple[list[Path], list[Path]]:
    """Complete files in ``folders`` and those still being written, from two looks.

    The second look comes after the settle interval and only if some file is new.
    """
    watch = StabilityWatch(settle_seconds)

    def look() -> list[Path]:
        return watch.stable(path for folder in folders for path in candidates(folder))

    ready = look()
    if watch.waiting():
        sleep(settle_seconds)
        ready = look()
    return ready, watch.waiting()


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not is_ignored(p.name))


def _set_aside_unknown(
    folder: Path, paths: list[Path], known: list[str], notifier: Notifier
) -> list[Outcome]:
    outcomes = []
    for path in paths:
        try:
            outcomes.append(reject_unknown(folder.name, path, known=known, notifier=notifier))
        except DropzoneStorageError as exc:
            log.error("%s", exc)
            outcomes.append(Outcome(folder.name, path.name, "queued", exc.message, exc.exit_code))
    return outcomes


def set_aside_unknown(
    settings: Settings,
    known: Iterable[str],
    *,
    notifier: Notifier,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Report files dropped into folders under the root that belong to no dataset.

    Each complete file is moved to ``<folder>/abgelehnt/`` with its report and the
    team is mailed. The Airflow triggers watch only the registered datasets' folders;
    the ``harvest_dropzone`` DAG runs this on a schedule.
    """
    names = sorted(known)
    if not settings.root.is_dir():
        return RunResult(outcomes=[], waiting=[])
    unknown = [f for f in _folders(settings.root) if f.name not in set(names)]
    ready, waiting = _look_twice(unknown, settings.settle_seconds, sleep)
    outcomes = []
    for folder in unknown:
        outcomes += _set_aside_unknown(
            folder, [p for p in ready if p.parent == folder], names, notifier
        )
    return RunResult(outcomes=outcomes, waiting=waiting)


def run_once(
    settings: Settings,
    datasets: Mapping[str, Dataset],
    *,
    ledger: Ledger,
    portal: Portal | None,
    notifier: Notifier,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """One pass over every folder under the root: claim what is complete, process queues.

    Files still being written are left alone (``waiting``); they are claimed by a
    later pass. Queued items (left by a crash or a portal outage) go first. Files in
    folders that are no registered dataset are set aside with a report.
    """
    root = settings.root
    try:
        root.mkdir(parents=True, exist_ok=True)
        for dataset_id in datasets:
            ensure_folders(root / dataset_id)
    except OSError as exc:
        raise DropzoneStorageError(f"drop folders under {root} not usable: {exc}") from None
    folders = _folders(root)
    ready, waiting = _look_twice(folders, settings.settle_seconds, sleep)
    outcomes: list[Outcome] = []
    for folder in folders:
        mine = [p for p in ready if p.parent == folder]
        dataset = datasets.get(folder.name)
        if dataset is None:
            outcomes += _set_aside_unknown(folder, mine, sorted(datasets), notifier)
            continue
        for path in mine:
            claim(path)
        outcomes.extend(
            process_queue(
                dataset,
                folder,
                ledger=ledger,
                portal=portal,
                notifier=notifier,
                dry_run=dry_run,
                progress=progress,
            )
        )
    return RunResult(outcomes=outcomes, waiting=waiting)
