"""The release queue: every Wednesday the next queued dataset goes public (#openwednesday).

A dataset registered with ``release: queued`` is built, validated and published like
any other, but kept **private** on the portal. :func:`release_next` (the DAG
``harvest_release`` every Wednesday morning, or ``harvest release`` by hand) makes the
next one public:

* **The order** (:func:`ordered`): ``release_order`` from the registry first (lower
  first; datasets without one after those with one), then first come first served (the
  dataset whose first successful build is oldest), then the dataset id. Datasets never
  built successfully come last.
* **Ready** (:func:`readiness`): its newest finished attempt in the ledger succeeded
  (the latest validation passed) and the package is on the portal, complete (no
  ``harvest_state=incomplete``) and holds exactly the files of that attempt. A dataset
  that is not ready is skipped with a German reason; the next one in order is taken.
* **Releasing**: under the dataset's publish lock the package is patched to
  ``private: false`` with ``issued`` set to the release time (the date of publication
  in DCAT-AP), and the release is recorded in the ledger (table ``releases``). From then
  on the release record wins over ``release: queued`` in the registry
  (:func:`effective`): later publishes keep the dataset public.
* **Announcement**: a German draft (title, short description, portal link,
  ``#openwednesday``) in ``<HARVEST_WORK_DIR>/ankuendigungen/<date>_<id>.md``, returned
  for the task log and XCom, and mailed to the team if SMTP is configured.

An empty queue is reported, not an error. A retried task (same run id) does not
release a second dataset: it finds its own release and repeats the announcement.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from etl.errors import HarvestError, PortalNotAuthorized
from etl.ledger import Attempt, Ledger, Release, work_dir
from etl.notify import MailSettings, Notifier, german_date
from etl.registry import Dataset

if TYPE_CHECKING:
    from etl.portal import Portal

log = logging.getLogger(__name__)

HASHTAG = "#openwednesday"
ANNOUNCEMENTS_DIR = "ankuendigungen"
QUEUE_LOCK = "_release-queue"
"""Lock name of the queue: two release calls at once would release the same dataset.
Dataset ids cannot start with ``_``, so it never collides with a dataset's lock."""
SHORT_DESCRIPTION_CHARS = 280
"""Length budget of the announcement's description (fits a social media post)."""


def announcements_dir() -> Path:
    """``<HARVEST_WORK_DIR>/ankuendigungen``: the announcement drafts."""
    return work_dir() / ANNOUNCEMENTS_DIR


# --------------------------------------------------------------------------- release state


def effective(dataset: Dataset, ledger: Ledger) -> Dataset:
    """``dataset`` as the portal must show it: a recorded release makes it public.

    The registry may still say ``queued`` after the release; the release record wins,
    so a later publish does not hide the dataset again.
    """
    if dataset.release == "queued" and ledger.released(dataset.id) is not None:
        return dataset.model_copy(update={"release": "public"})
    return dataset


def apply_releases(datasets: Mapping[str, Dataset], ledger: Ledger) -> dict[str, Dataset]:
    """Every dataset with its effective release (see :func:`effective`)."""
    released = ledger.released_ids()
    return {
        key: (
            dataset.model_copy(update={"release": "public"})
            if dataset.release == "queued" and dataset.id in released
            else dataset
        )
        for key, dataset in datasets.items()
    }


def ordered(datasets: Mapping[str, Dataset], ledger: Ledger) -> list[Dataset]:
    """The release queue in order: queued datasets not yet released (rule in the module doc)."""
    released = ledger.released_ids()
    waiting = [d for d in datasets.values() if d.release == "queued" and d.id not in released]
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    first_built = {d.id: ledger.first_success_at(d.id) or never for d in waiting}
    return sorted(
        waiting,
        key=lambda d: (
            d.release_order is None,
            d.release_order or 0,
            first_built[d.id],
            d.id,
        ),
    )


@dataclass
class QueueEntry:
    """A queued dataset, its place in the queue and whether it can be released."""

    dataset: str
    title: str
    position: int
    release_order: int | None
    queued_since: dt.datetime | None
    """The first successful build (kept private): the first-come-first-served key."""
    validated: bool
    on_portal: bool | None
    """None: the portal was not checked."""
    reason: str | None = None
    """Why it cannot be released now (German); None when ready."""
    attempt_id: int | None = None
    """The newest finished attempt (the validated one, when ``validated``)."""

    @property
    def ready(self) -> bool:
        return self.validated and self.on_portal is True and self.reason is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "position": self.position,
            "dataset": self.dataset,
            "title": self.title,
            "release_order": self.release_order,
            "queued_since": self.queued_since.isoformat() if self.queued_since else None,
            "validated": self.validated,
            "on_portal": self.on_portal,
            "ready": self.ready,
            "reason": self.reason,
            "attempt_id": self.attempt_id,
        }


def _failed_reason(attempt: Attempt) -> str:
    when = german_date(attempt.finished_at or attempt.started_at)
    detail = (attempt.error or "").splitlines()[0][:200] if attempt.error else ""
    what = (
        "letzte Veröffentlichung fehlgeschlagen"
        if attempt.status == "failed"
        else "letzte Prüfung nicht bestanden"
    )
    return f"{what} (Lauf #{attempt.id} vom {when}, Status {attempt.status}" + (
        f": {detail})" if detail else ")"
    )


def _portal_reason(package: Mapping[str, Any], attempt: Attempt) -> str | None:
    """Why the package on the portal is not the validated version, or None."""
    from etl.portal import STATE_KEY

    extras = {e.get("key"): e.get("value") for e in package.get("extras") or []}
    if extras.get(STATE_KEY) == "incomplete":
        return f"auf dem Portal unvollständig ({STATE_KEY}=incomplete)"
    hashes = {r.get("name"): r.get("hash") for r in package.get("resources") or []}
    for output in attempt.outputs:
        if hashes.get(output.resource) != f"sha256:{output.sha256}":
            return (
                f"auf dem Portal nicht die zuletzt geprüfte Fassung ({output.resource} "
                f"fehlt oder hat anderen Inhalt als Lauf #{attempt.id})"
            )
    return None


def readiness(
    dataset: Dataset, *, position: int, ledger: Ledger, portal: Portal | None
) -> QueueEntry:
    """Whether ``dataset`` can be released now, and if not, why (German).

    Raises:
        PortalError: the portal is unreachable (not a property of the dataset).
    """
    import ckanapi

    entry = QueueEntry(
        dataset=dataset.id,
        title=dataset.package.title,
        position=position,
        release_order=dataset.release_order,
        queued_since=ledger.first_success_at(dataset.id),
        validated=False,
        on_portal=None,
    )
    latest = ledger.last_attempt(dataset.id, finished=True)
    if latest is None:
        entry.reason = "noch nie gebaut (kein abgeschlossener Lauf im Ledger)"
    else:
        entry.attempt_id = latest.id
        entry.validated = latest.status == "success"
        if not entry.validated:
            entry.reason = _failed_reason(latest)
    if portal is None:
        entry.reason = entry.reason or "Portal nicht geprüft (CKAN_URL nicht gesetzt)"
        return entry
    try:
        package: dict[str, Any] = portal.call("package_show", {"id": dataset.id})
    except ckanapi.NotFound:
        entry.on_portal = False
        entry.reason = entry.reason or "nicht auf dem Portal"
        return entry
    except PortalNotAuthorized:
        entry.on_portal = False
        entry.reason = entry.reason or "auf dem Portal für das Konto der Pipeline nicht sichtbar"
        return entry
    entry.on_portal = True
    if entry.reason is None and latest is not None:
        entry.reason = _portal_reason(package, latest)
    return entry


def queue(
    datasets: Mapping[str, Dataset], *, ledger: Ledger, portal: Portal | None
) -> list[QueueEntry]:
    """The release queue in order, each entry with its readiness."""
    return [
        readiness(dataset, position=position, ledger=ledger, portal=portal)
        for position, dataset in enumerate(ordered(datasets, ledger), start=1)
    ]


# --------------------------------------------------------------------------- announcement


def short_description(text: str, limit: int = SHORT_DESCRIPTION_CHARS) -> str:
    """The first sentences of ``text`` that fit ``limit`` characters (cut at a word if the
    first sentence alone is too long)."""
    flat = " ".join(text.split())
    kept = ""
    # a sentence ends at . ! ? before a capital; not after a digit ("Stichtag 1. Januar")
    for sentence in re.split(r"(?<=[^\d\s][.!?])\s+(?=[A-ZÄÖÜ])", flat):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:–-")
    return f"{cut}…"


def _hashtag(tag: str) -> str | None:
    words = re.findall(r"[0-9A-Za-zÄÖÜäöüß]+", tag)
    joined = "".join(w[:1].upper() + w[1:] for w in words)
    return f"#{joined}" if joined and not joined.isdigit() else None


def announcement(dataset: Dataset, link: str) -> str:
    """The German announcement draft of a release (Markdown, ready to post)."""
    tags = [HASHTAG, "#OpenData", "#Düsseldorf"]
    for tag in dataset.package.tags:
        hashtag = _hashtag(tag)
        if hashtag and hashtag.lower() not in {t.lower() for t in tags} and len(tags) < 6:
            tags.append(hashtag)
    return (
        "\n\n".join(
            [
                f"Neu im Open-Data-Portal Düsseldorf: {dataset.package.title}",
                short_description(dataset.package.description),
                f"Zum Datensatz: {link}",
                " ".join(tags),
            ]
        )
        + "\n"
    )


def write_announcement(text: str, dataset_id: str, when: dt.datetime, folder: Path) -> Path:
    """Write the draft as ``<folder>/<YYYY-MM-DD>_<id>.md`` (date in Düsseldorf)."""
    from zoneinfo import ZoneInfo

    folder.mkdir(parents=True, exist_ok=True)
    day = when.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    path = folder / f"{day}_{dataset_id}.md"
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


# --------------------------------------------------------------------------- releasing


def make_public(portal: Portal, dataset_id: str, *, now: dt.datetime) -> bool:
    """Patch the package to public with ``issued`` = ``now``; False if it already was public.

    ``package_patch`` replaces the whole ``extras`` list, so all extras are sent back
    with ``issued`` changed; later publishes keep ``issued`` (it is set once).
    """
    from etl.metadata import utc_stamp

    package: dict[str, Any] = portal.call("package_show", {"id": dataset_id})
    if not package.get("private"):
        return False
    extras = [
        {"key": e["key"], "value": e["value"]}
        for e in package.get("extras") or []
        if e.get("key") != "issued"
    ]
    extras.append({"key": "issued", "value": utc_stamp(now)})
    portal.call("package_patch", {"id": package["id"], "private": False, "extras": extras})
    return True


OutcomeStatus = Literal["released", "planned", "empty", "none_ready"]


@dataclass
class ReleaseOutcome:
    """What a release call did (or, in a dry run, would do)."""

    status: OutcomeStatus
    queue_length: int
    dataset: str | None = None
    title: str | None = None
    link: str | None = None
    release_id: int | None = None
    announcement: str | None = None
    announcement_path: str | None = None
    skipped: list[QueueEntry] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    repeated: bool = False
    """A retry of a run that had already released: nothing new was released."""

    @property
    def message(self) -> str:
        """One German line for the CLI and the task log."""
        if self.status == "empty":
            return "Freigabe-Warteschlange leer: kein Datensatz freizugeben."
        if self.status == "none_ready":
            which = (
                "der einzige Datensatz in der Warteschlange ist nicht bereit"
                if self.queue_length == 1
                else f"keiner der {self.queue_length} Datensätze in der Warteschlange ist bereit"
            )
            return f"Kein Datensatz freigegeben: {which}."
        if self.status == "planned":
            return f"Probelauf: als Nächstes würde „{self.title}“ ({self.dataset}) freigegeben."
        again = " (in diesem Lauf bereits freigegeben)" if self.repeated else ""
        return f"Freigegeben: „{self.title}“ ({self.dataset}) ist öffentlich{again}: {self.link}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom, ``--json``)."""
        return {
            "status": self.status,
            "message": self.message,
            "queue_length": self.queue_length,
            "dataset": self.dataset,
            "title": self.title,
            "link": self.link,
            "release_id": self.release_id,
            "announcement": self.announcement,
            "announcement_path": self.announcement_path,
            "skipped": [e.as_dict() for e in self.skipped],
            "notified": self.notified,
            "repeated": self.repeated,
        }


def release_run_id(now: dt.datetime | None = None) -> str:
    """A run id for releases outside Airflow (Airflow runs keep Airflow's run id)."""
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"release__{stamp}__{os.getpid()}"


def release_next(
    datasets: Mapping[str, Dataset],
    *,
    ledger: Ledger,
    portal: Portal,
    run_id: str,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    notifier: Notifier | None = None,
    folder: Path | None = None,
) -> ReleaseOutcome:
    """Make the next ready dataset of the queue public and announce it (the Wednesday step).

    Args:
        run_id: the Airflow run id, or :func:`release_run_id`; a second call with the
            same run id repeats that run's announcement instead of releasing another.
        now: the clock (release time, ``issued``, the announcement's date).
        dry_run: say what would be released and show its draft; write nothing to the
            portal, the ledger or the folder, send no mail.
        notifier: mails the draft (or "nothing ready") to the team; default from the
            environment (``HARVEST_SMTP_*``).
        folder: where drafts go (default :func:`announcements_dir`).

    Raises:
        PortalError: the portal is unreachable or refused (recorded as a failed release
            when it happened while releasing); nothing else was changed.
        LockBusy: another release or a publish of the dataset held its lock too long.
    """
    moment = now or dt.datetime.now(dt.UTC)
    notifier = notifier or Notifier(enabled=not dry_run)
    settings = notifier.settings
    target = folder or announcements_dir()
    with _locked(ledger, QUEUE_LOCK, dry_run):
        done = None if dry_run else ledger.release_of_run(run_id)
        if done is not None and done.dataset in datasets:
            return _announce(
                datasets[done.dataset], done, ledger, portal, notifier, target, repeated=True
            )
        waiting = ordered(datasets, ledger)
        if not waiting:
            log.info("release queue empty: nothing to release")
            return ReleaseOutcome(status="empty", queue_length=0)
        skipped: list[QueueEntry] = []
        for position, dataset in enumerate(waiting, start=1):
            with _locked(ledger, dataset.id, dry_run):
                entry = readiness(dataset, position=position, ledger=ledger, portal=portal)
                if not entry.ready:
                    log.warning("release: skipping %s: %s", dataset.id, entry.reason)
                    skipped.append(entry)
                    continue
                if dry_run:
                    link = _link(settings, dataset.id, portal)
                    return ReleaseOutcome(
                        status="planned",
                        queue_length=len(waiting),
                        dataset=dataset.id,
                        title=dataset.package.title,
                        link=link,
                        announcement=announcement(dataset, link),
                        skipped=skipped,
                    )
                release_id = ledger.begin_release(
                    dataset.id,
                    run_id,
                    attempt_id=entry.attempt_id,
                    portal_url=portal.url,
                    at=moment,
                )
                try:
                    make_public(portal, dataset.id, now=moment)
                except HarvestError as exc:
                    ledger.finish_release(release_id, status="failed", error=exc.message)
                    raise
                ledger.finish_release(release_id, status="released", at=moment)
                release = ledger.get_release(release_id)
                assert release is not None
            return _announce(
                dataset,
                release,
                ledger,
                portal,
                notifier,
                target,
                skipped=skipped,
                queue_length=len(waiting),
            )
    outcome = ReleaseOutcome(status="none_ready", queue_length=len(waiting), skipped=skipped)
    if not dry_run:
        outcome.notified = notifier.team(
            f"{HASHTAG}: kein Datensatz freigegeben",
            "\n".join(
                [
                    f"{outcome.message} Gründe, in der Reihenfolge der Warteschlange:",
                    "",
                    *(f"  {e.position}. {e.title} ({e.dataset}): {e.reason}" for e in skipped),
                    "",
                    "Sobald ein Datensatz bereit ist, gibt ihn `harvest release` sofort frei.",
                ]
            ),
        )
    return outcome


@contextlib.contextmanager
def _locked(ledger: Ledger, name: str, dry_run: bool) -> Iterator[None]:
    # a dry run changes nothing, so it neither waits for nor blocks anyone
    if dry_run:
        yield
        return
    with ledger.lock(name):
        yield


def _link(settings: MailSettings, dataset_id: str, portal: Portal) -> str:
    return settings.dataset_link(dataset_id, portal.url) or f"{portal.url}/dataset/{dataset_id}"


def _announce(
    dataset: Dataset,
    release: Release,
    ledger: Ledger,
    portal: Portal,
    notifier: Notifier,
    folder: Path,
    *,
    skipped: list[QueueEntry] | None = None,
    queue_length: int = 0,
    repeated: bool = False,
) -> ReleaseOutcome:
    """Write the draft, record it with the release, mail it to the team."""
    link = _link(notifier.settings, dataset.id, portal)
    text = announcement(dataset, link)
    path = write_announcement(text, dataset.id, release.released_at or release.started_at, folder)
    ledger.set_announcement(release.id, str(path))
    outcome = ReleaseOutcome(
        status="released",
        queue_length=queue_length,
        dataset=dataset.id,
        title=dataset.package.title,
        link=link,
        release_id=release.id,
        announcement=text,
        announcement_path=str(path),
        skipped=skipped or [],
        repeated=repeated,
    )
    registry_note = (
        f"Im Register steht noch `release: queued`; bitte `registry/{dataset.id}.yaml` bei "
        "Gelegenheit auf `release: public` umstellen (die Freigabe gilt auch so)."
        if dataset.release == "queued"
        else ""
    )
    outcome.notified = notifier.team(
        f"{HASHTAG}: „{dataset.package.title}“ ist öffentlich – Entwurf der Ankündigung",
        "\n".join(
            [
                f"Der Datensatz „{dataset.package.title}“ ({dataset.id}) wurde heute "
                f"freigegeben und ist jetzt öffentlich: {link}",
                "",
                f"Entwurf der Ankündigung (auch in {path}); bitte vor dem Posten prüfen:",
                "",
                text,
                *(
                    [
                        "Übersprungen, weil nicht bereit:",
                        *(f"  - {e.title} ({e.dataset}): {e.reason}" for e in outcome.skipped),
                        "",
                    ]
                    if outcome.skipped
                    else []
                ),
                registry_note,
            ]
        ).rstrip(),
    )
    log.info("%s\n%s", outcome.message, text)
    return outcome
