"""The DAG factory: one DAG per registry entry, tasks ``extract → transform → validate → publish``.

DAG files stay thin: they call :func:`build_family_dags`. Building a DAG reads the
registry (YAML) and nothing else; pandas, Great Expectations and the portal
client are imported inside the tasks, so parsing the DAG folder stays fast and
side-effect free.

Between tasks only paths and small summaries travel through XCom; the data itself
is staged in a run folder under ``HARVEST_WORK_DIR``.

Each DAG runs on its cron schedule **or** when a file is dropped into the dataset's
folder (``AssetOrTimeSchedule``): the asset ``dropzone-<id>`` is watched by a
:class:`~harvest_airflow.triggers.DropFolderTrigger` in the triggerer. An
asset-triggered run processes the oldest file of the drop-folder queue: ``extract``
takes it (or finishes it at once: duplicate, wrong type, already published),
``validate`` sets it aside with a German report if it breaks the rules, ``publish``
files it under ``archiv/``; the maintainer gets a mail and the run a note with the
file name and outcome.

Operational DAGs are named ``harvest_*`` (dataset ids cannot contain ``_``):
``harvest_dropzone`` (files in unknown folders), and the weekly rhythm:
``harvest_release`` (Wednesdays, the next queued dataset goes public) and
``harvest_freshness`` (daily, overdue updates are reported).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    Param,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from etl.errors import ConfigError, InputError, MetadataInvalid, ValidationFailed
from harvest_airflow.triggers import DropFolderTrigger

# etl.registry and etl.dropzone (pydantic models) are imported where they are used: the
# operational DAG files parse without them, each in a dag-processor child of its own.
if TYPE_CHECKING:
    from etl.registry import Dataset

log = logging.getLogger(__name__)

TIMEZONE = "Europe/Berlin"
CKAN_POOL = "ckan"
START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


PARAM_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
"""The JSON Schema dialect of the Params. Airflow checks a Param's schema against its
dialect's meta-schema each time it resolves the Param: at parse and about nine times per
DAG when the processor serializes it. The default dialect (2020-12) makes that ~5× as
expensive as draft-07, and the Params use nothing newer than draft-07."""


def _schema(**schema: Any) -> dict[str, Any]:
    """A Param schema in :data:`PARAM_SCHEMA_DIALECT`."""
    return {"$schema": PARAM_SCHEMA_DIALECT, **schema}


@contextmanager
def _fail_without_retry_on_bad_input() -> Iterator[None]:
    """Bad input, invalid data and metadata that breaks DCAT-AP.de fail the task at
    once: retrying cannot fix a file or a registry entry.

    Portal errors propagate unchanged, so Airflow retries them.
    """
    try:
        yield
    except ValidationFailed as exc:
        for problem in exc.report.problems[:50]:
            log.error(
                "%s Zeile %s Spalte %s: %s (gefunden: %r)",
                problem.file,
                problem.row,
                problem.column,
                problem.message,
                problem.found,
            )
        raise AirflowFailException(str(exc)) from None
    except MetadataInvalid as exc:
        for finding in exc.findings:
            log.error("DCAT-AP.de: %s", finding)
        raise AirflowFailException(str(exc)) from None
    except (InputError, ConfigError) as exc:
        raise AirflowFailException(str(exc)) from None


def _run_folder(dataset_id: str) -> Any:
    from etl.pipeline import run_dir

    context = get_current_context()
    return run_dir(dataset_id, context["run_id"])


# --------------------------------------------------------------------------- drop folder


def dropzone_asset(dataset: Dataset) -> Asset:
    """The asset that a file dropped into ``<HARVEST_DROPZONE>/<id>/`` updates.

    Reads only environment variables (root, poll, settle and retry seconds); the
    trigger touches the folder when it runs in the triggerer, never at parse time.
    """
    from etl import dropzone

    settings = dropzone.Settings.from_env()
    trigger = DropFolderTrigger(
        dataset_id=dataset.id,
        folder=str(settings.root / dataset.id),
        poll_seconds=settings.poll_seconds,
        settle_seconds=settings.settle_seconds,
        retry_seconds=settings.retry_seconds,
    )
    return Asset(
        name=f"dropzone-{dataset.id}",
        uri=f"x-harvest-dropzone://{dataset.id}",
        group="dropzone",
        watchers=[AssetWatcher(name=f"dropzone-{dataset.id}", trigger=trigger)],
    )


def _is_drop_run(context: Mapping[str, Any]) -> bool:
    """Runs started by a dropped file (or asked to process the queue) take the queue's head."""
    params = context["params"]
    if params.get("files"):
        return False
    run_type = context["dag_run"].run_type
    # the task SDK's DagRunType is a str enum whose str() is its name, not its value
    return getattr(run_type, "value", run_type) == "asset_triggered" or bool(params.get("dropzone"))


def _note(dataset_id: str, text: str) -> None:
    from harvest_airflow.notes import set_run_note

    log.info("%s", text)
    set_run_note(dataset_id, get_current_context()["run_id"], text)


def _notifier() -> Any:
    from etl.notify import Notifier

    return Notifier()


@contextmanager
def _reject_dropped_file(entry: Dataset, staged: Mapping[str, Any]) -> Iterator[None]:
    """In a drop run, bad input sets the file aside with its report before the task fails."""
    from etl import dropzone

    try:
        yield
    except (InputError, ValidationFailed) as exc:
        dropped = staged.get("dropzone")
        if dropped:
            outcome = dropzone.reject(
                entry, dropzone.Prepared.from_dict(dropped), exc, notifier=_notifier()
            )
            _note(entry.id, outcome.note())
        raise


def _extract_dropped(entry: Dataset, ledger: Any, run_id: str) -> dict[str, Any]:
    """Take the oldest file of the dataset's queue; finish it at once where possible."""
    from etl import dropzone, pipeline

    folder = dropzone.Settings.from_env().root / entry.id
    item = dropzone.head(folder)
    if item is None:
        _note(entry.id, "Keine Abgabe in der Warteschlange (von einem früheren Lauf erledigt).")
        raise AirflowSkipException("the drop-folder queue is empty")
    log.info("processing dropped file %s", item.path)
    notifier = _notifier()
    try:
        prepared = dropzone.prepare(entry, item, ledger)
    except ConfigError as exc:  # e.g. the archived input set is damaged: the team's problem
        _note(entry.id, dropzone.keep_queued(entry, item, exc, notifier=notifier).note())
        raise
    if prepared.action in ("resumed", "duplicate"):
        if prepared.action == "resumed":
            outcome = dropzone.conclude_published(entry, prepared, notifier=notifier)
        else:
            outcome = dropzone.conclude_duplicate(entry, prepared, notifier=notifier)
        _note(entry.id, outcome.note())
        raise AirflowSkipException(outcome.note())
    if prepared.action == "reject":
        dropzone.record_wrong_type(ledger, entry, prepared, run_id)
        outcome = dropzone.reject(entry, prepared, None, notifier=notifier)
        _note(entry.id, outcome.note())
        raise AirflowFailException(outcome.note())
    staged = {"dropzone": prepared.as_dict()}
    with _reject_dropped_file(entry, staged):
        extracted = pipeline.stage_extract(
            entry,
            prepared.paths,
            _run_folder(entry.id),
            ledger=ledger,
            run_id=run_id,
            inputs=prepared.inputs,
        )
    return {**extracted, **staged}


def _doc_md(dataset: Dataset, family_doc: str | None) -> str:
    source = ", ".join(f"`{p}`" for p in dataset.source.paths) or "files passed at trigger time"
    parts = [
        f"# {dataset.package.title}",
        dataset.package.description,
        f"**Dataset id:** `{dataset.id}` (CKAN package, registry `registry/{dataset.id}.yaml`, "
        f"suite `expectations/{dataset.id}.json`)  \n"
        f"**Organization:** {dataset.organization.title}  \n"
        f"**Source family:** `{dataset.family}`, inputs: {source}  \n"
        f"**Maintainer:** {dataset.package.maintainer} <{dataset.package.maintainer_email}>",
        f"**Drop folder:** `<HARVEST_DROPZONE>/{dataset.id}/` (mode `{dataset.dropzone.mode}`): "
        "a file dropped there starts a run that publishes it (`archiv/`) or sets it aside "
        "with a German report (`abgelehnt/`); the run's note names the file and outcome.",
        'Trigger with config `{"files": ["/path/to/file.csv"]}` to publish specific files, '
        'or `{"dropzone": true}` to process the oldest file waiting in the drop-folder queue.',
    ]
    if family_doc:
        parts.append(family_doc.strip())
    return "\n\n".join(parts)


def build_dag(dataset: Dataset, *, family_doc: str | None = None) -> DAG:
    """The DAG of one dataset; its ``dag_id`` is the dataset id."""
    dataset_id = dataset.id
    asset = dropzone_asset(dataset)
    schedule: Any = (
        AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(dataset.schedule, timezone=TIMEZONE), assets=asset
        )
        if dataset.schedule
        else asset
    )
    with DAG(
        dag_id=dataset_id,
        description=dataset.package.title,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        doc_md=_doc_md(dataset, family_doc),
        tags=["harvest", dataset.family, dataset.organization.name],
        default_args={
            "owner": dataset.owner,
            "retries": dataset.retries,
            "retry_delay": dt.timedelta(minutes=dataset.retry_delay_minutes),
            "retry_exponential_backoff": True,
        },
        params={
            "files": Param(
                [],
                description="Input files; empty = the current input set (see README).",
                schema=_schema(type="array", items={"type": "string"}),
            ),
            "dropzone": Param(
                False,
                description="Process the oldest file waiting in the drop-folder queue "
                "(what a dropped file does by itself).",
                schema=_schema(type="boolean"),
            ),
        },
    ) as dag:

        @task
        def extract() -> dict[str, Any]:
            """Read the input files into raw tables (fails at once on unreadable files).

            A drop run takes the oldest file of the drop-folder queue; other runs read
            ``params.files``, else the current input set (see ``pipeline.resolve_inputs``).
            """
            from etl import pipeline
            from etl.ledger import Ledger
            from etl.registry import get_dataset

            context = get_current_context()
            files = context["params"].get("files") or None
            with _fail_without_retry_on_bad_input():
                entry = get_dataset(dataset_id)
                ledger = Ledger()
                if _is_drop_run(context):
                    return _extract_dropped(entry, ledger, context["run_id"])
                try:
                    paths, inputs = pipeline.run_inputs(entry, files, ledger=ledger)
                except InputError as exc:
                    rejected = [{"name": str(f), "sha256": None} for f in files or []]
                    pipeline.record_rejection(ledger, entry, context["run_id"], rejected, exc)
                    raise
                log.info("inputs: %s", [str(p) for p in paths])
                return pipeline.stage_extract(
                    entry,
                    paths,
                    _run_folder(dataset_id),
                    ledger=ledger,
                    run_id=context["run_id"],
                    inputs=inputs,
                )

        @task
        def transform(extracted: dict[str, Any]) -> dict[str, Any]:
            """Map the raw tables to the published schema."""
            from etl import pipeline
            from etl.registry import get_dataset

            entry = get_dataset(dataset_id)
            with _fail_without_retry_on_bad_input(), _reject_dropped_file(entry, extracted):
                staged = pipeline.stage_transform(entry, extracted["raw"], _run_folder(dataset_id))
                return {
                    **staged,
                    "inputs": extracted["inputs"],
                    "dropzone": extracted.get("dropzone"),
                }

        @task
        def validate(transformed: dict[str, Any]) -> dict[str, Any]:
            """Check the DCAT-AP.de record and run the Great Expectations suite; render the
            files only if both pass.

            In a drop run an invalid file is set aside under ``abgelehnt/`` with its
            German report and the maintainer is mailed before the task fails.
            """
            from etl import pipeline
            from etl.ledger import Ledger
            from etl.registry import get_dataset

            entry = get_dataset(dataset_id)
            with _fail_without_retry_on_bad_input(), _reject_dropped_file(entry, transformed):
                staged = pipeline.stage_validate(
                    entry,
                    transformed["tidy"],
                    _run_folder(dataset_id),
                    ledger=Ledger(),
                    run_id=get_current_context()["run_id"],
                    inputs=transformed["inputs"],
                )
                return {
                    **staged,
                    "inputs": transformed["inputs"],
                    "dropzone": transformed.get("dropzone"),
                }

        # the pool bounds concurrent writes to the portal across all datasets and workers
        @task(pool=CKAN_POOL)
        def publish(validated: dict[str, Any]) -> dict[str, Any]:
            """Upsert package and resources on the portal (Connection ``ckan_default``).

            In a drop run the file is then filed under ``archiv/`` and the maintainer
            mailed. A portal failure leaves it queued (Airflow retries the task; after
            the last try the team is told, not the department).
            """
            from etl import dropzone, pipeline
            from etl.errors import HarvestError
            from etl.ledger import Ledger
            from etl.registry import get_dataset
            from harvest_airflow.hooks import CkanHook

            context = get_current_context()
            dropped = validated.get("dropzone")
            with _fail_without_retry_on_bad_input():
                entry = get_dataset(dataset_id)
                try:
                    with CkanHook().get_conn() as portal:
                        result = pipeline.stage_publish(
                            entry,
                            validated,
                            portal=portal,
                            ledger=Ledger(),
                            run_id=context["run_id"],
                            inputs=validated["inputs"],
                        )
                except HarvestError as exc:
                    if dropped:
                        _portal_failed(entry, dropped, exc, context)
                    raise
            for resource in result["resources"]:
                log.info("%s: %s", resource["resource"], resource["action"])
            log.info(
                "%s (%d reads, %d writes)", result["dataset_url"], result["reads"], result["writes"]
            )
            if dropped:
                outcome = dropzone.conclude_published(
                    entry,
                    dropzone.Prepared.from_dict(dropped),
                    notifier=_notifier(),
                    result=result,
                    rows=validated.get("rows"),
                )
                _note(dataset_id, outcome.note())
                result["dropzone"] = outcome.as_dict()
            return result

        # @task turns calls into XComArgs at DAG-build time; mypy sees the plain signatures
        publish(validate(transform(extract())))  # type: ignore[arg-type]
    return dag


def _portal_failed(
    entry: Dataset, dropped: Mapping[str, Any], error: Exception, context: Mapping[str, Any]
) -> None:
    """Note the failure; after the last try also tell the team. The file stays queued."""
    from etl import dropzone
    from etl.errors import HarvestError

    prepared = dropzone.Prepared.from_dict(dropped)
    ti = context["ti"]
    if ti.try_number > ti.max_tries and isinstance(error, HarvestError):
        outcome = dropzone.keep_queued(entry, prepared.item, error, notifier=_notifier())
        _note(entry.id, outcome.note())
    else:
        _note(
            entry.id,
            f"Abgabe „{prepared.item.name}“: Portal-Fehler in Versuch {ti.try_number}, wird "
            f"wiederholt ({error})",
        )


DROPZONE_DAG_ID = "harvest_dropzone"
UNKNOWN_FOLDERS_SCHEDULE = "*/15 * * * *"


def build_dropzone_dag(*, doc: str | None = None) -> DAG:
    """``harvest_dropzone``: sets aside files dropped into folders that are no dataset.

    The datasets' folders are watched by their triggers; a folder under the root that
    matches no registered dataset (a typo, a dataset not yet created) is looked at
    every 15 minutes: its complete files move to its ``abgelehnt/`` with a report and
    the team gets a mail.
    """
    with DAG(
        dag_id=DROPZONE_DAG_ID,
        description="Drop folders: set aside files in folders that are no dataset",
        schedule=CronTriggerTimetable(UNKNOWN_FOLDERS_SCHEDULE, timezone=TIMEZONE),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        doc_md=doc,
        tags=["harvest", "dropzone"],
        default_args={"owner": "opendata", "retries": 1},
    ) as dag:

        @task
        def set_aside_unknown() -> list[dict[str, Any]]:
            """Report and move files in folders that belong to no registered dataset."""
            from etl import dropzone
            from etl.notify import Notifier
            from etl.registry import load_registry

            result = dropzone.set_aside_unknown(
                dropzone.Settings.from_env(), load_registry(), notifier=Notifier()
            )
            for outcome in result.outcomes:
                log.info("%s/%s: %s", outcome.dataset, outcome.file, outcome.message)
            return [o.as_dict() for o in result.outcomes]

        set_aside_unknown()
    return dag


# --------------------------------------------------------------------------- weekly rhythm

RELEASE_DAG_ID = "harvest_release"
RELEASE_SCHEDULE = "0 8 * * 3"
"""Wednesdays 08:00 Europe/Berlin (#openwednesday): the team posts the announcement later
that morning."""
FRESHNESS_DAG_ID = "harvest_freshness"
FRESHNESS_SCHEDULE = "0 7 * * *"
"""Daily 07:00 Europe/Berlin: after the Friday 06:00 update runs have finished."""
RHYTHM_ARGS: dict[str, Any] = {
    "owner": "opendata",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=10),
}


def build_release_dag(*, doc: str | None = None) -> DAG:
    """``harvest_release``: every Wednesday the next ready queued dataset goes public.

    One task, ``release``, calls :func:`etl.release.release_next` (the same function as
    ``harvest release``). A retry of the task does not release a second dataset (the
    release is keyed by the run id). Param ``dry_run`` shows the plan only.
    """
    with DAG(
        dag_id=RELEASE_DAG_ID,
        description="#openwednesday: the next queued dataset goes public, with a draft",
        schedule=CronTriggerTimetable(RELEASE_SCHEDULE, timezone=TIMEZONE),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        doc_md=doc,
        tags=["harvest", "weekly-rhythm", "release"],
        default_args=RHYTHM_ARGS,
        params={
            "dry_run": Param(
                False,
                description="Only show which dataset would go public and its draft.",
                schema=_schema(type="boolean"),
            ),
        },
    ) as dag:

        @task(pool=CKAN_POOL)
        def release() -> dict[str, Any]:
            """Make the next ready dataset public, record it, write and mail the draft."""
            from etl import release as releases
            from etl.ledger import Ledger
            from etl.notify import Notifier
            from etl.registry import load_registry
            from harvest_airflow.hooks import CkanHook

            context = get_current_context()
            dry_run = bool(context["params"].get("dry_run"))
            with _fail_without_retry_on_bad_input(), CkanHook().get_conn() as portal:
                outcome = releases.release_next(
                    load_registry(),
                    ledger=Ledger(),
                    portal=portal,
                    run_id=context["run_id"],
                    dry_run=dry_run,
                    notifier=Notifier(enabled=not dry_run),
                )
            for entry in outcome.skipped:
                log.warning("übersprungen: %s: %s", entry.dataset, entry.reason)
            log.info("%s", outcome.message)
            if outcome.announcement:
                log.info(
                    "Ankündigung (%s):\n%s",
                    outcome.announcement_path or "Probelauf, nicht geschrieben",
                    outcome.announcement,
                )
            return outcome.as_dict()

        release()
    return dag


def build_freshness_dag(*, doc: str | None = None) -> DAG:
    """``harvest_freshness``: daily, overdue datasets are reported to maintainers and team.

    One task, ``report_overdue``, calls :func:`etl.freshness.report_overdue`.
    """
    with DAG(
        dag_id=FRESHNESS_DAG_ID,
        description="Daily: datasets whose update is overdue by their update frequency",
        schedule=CronTriggerTimetable(FRESHNESS_SCHEDULE, timezone=TIMEZONE),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        doc_md=doc,
        tags=["harvest", "weekly-rhythm", "freshness"],
        default_args=RHYTHM_ARGS,
    ) as dag:

        @task
        def report_overdue() -> dict[str, Any]:
            """List overdue datasets; mail their maintainers and the team."""
            from etl import freshness
            from etl.ledger import Ledger
            from etl.notify import Notifier
            from etl.registry import load_registry
            from harvest_airflow.hooks import CkanHook

            try:
                portal_url: str | None = CkanHook().portal_url()
            except AirflowNotFoundException:
                # links only: the check itself needs no portal (HARVEST_PORTAL_PUBLIC_URL
                # gives the links too)
                log.warning("Connection ckan_default missing: mails without portal links")
                portal_url = None
            with _fail_without_retry_on_bad_input():
                report = freshness.report_overdue(
                    load_registry(),
                    ledger=Ledger(),
                    notifier=Notifier(),
                    portal_url=portal_url,
                )
            if not report.overdue:
                log.info("keine überfälligen Aktualisierungen (%d geprüft)", report.checked)
            return report.as_dict()

        report_overdue()
    return dag


def build_family_dags(family: str, namespace: dict[str, Any], *, doc: str | None = None) -> None:
    """Build the DAGs of every registered dataset of ``family`` into ``namespace``.

    Called from a DAG file with ``globals()``, so Airflow finds the DAG objects. The
    registry files of other families are left to their own DAG files
    (:func:`etl.registry.load_family`).
    """
    from etl.registry import load_family

    for dataset in load_family(family).values():
        namespace[dataset.id] = build_dag(dataset, family_doc=doc)
