"""The DAG factory: one DAG per registry entry, tasks ``extract → transform → validate → publish``.

DAG files stay thin: they call :func:`build_family_dags`. Building a DAG reads the
registry (YAML) and nothing else; pandas, Great Expectations and the portal
client are imported inside the tasks, so parsing the DAG folder stays fast and
side-effect free.

Between tasks only paths and small summaries travel through XCom; the data itself
is staged in a run folder under ``HARVEST_WORK_DIR``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from etl.errors import ConfigError, InputError, MetadataInvalid, ValidationFailed
from etl.registry import Dataset, get_dataset, load_registry

log = logging.getLogger(__name__)

TIMEZONE = "Europe/Berlin"
CKAN_POOL = "ckan"
START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


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
        'Trigger with config `{"files": ["/path/to/file.csv"]}` to publish specific files.',
    ]
    if family_doc:
        parts.append(family_doc.strip())
    return "\n\n".join(parts)


def build_dag(dataset: Dataset, *, family_doc: str | None = None) -> DAG:
    """The DAG of one dataset; its ``dag_id`` is the dataset id."""
    dataset_id = dataset.id
    schedule = (
        CronTriggerTimetable(dataset.schedule, timezone=TIMEZONE) if dataset.schedule else None
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
                type="array",
                items={"type": "string"},
                description="Input files; empty = the registry's source paths.",
            )
        },
    ) as dag:

        @task
        def extract() -> dict[str, Any]:
            """Read the input files into raw tables (fails at once on unreadable files)."""
            from etl import pipeline
            from etl.ledger import Ledger

            context = get_current_context()
            files = context["params"].get("files") or None
            with _fail_without_retry_on_bad_input():
                entry = get_dataset(dataset_id)
                ledger = Ledger()
                try:
                    paths = pipeline.resolve_inputs(entry, files)
                except InputError as exc:
                    inputs = [{"name": str(f), "sha256": None} for f in files or []]
                    pipeline.record_rejection(ledger, entry, context["run_id"], inputs, exc)
                    raise
                log.info("inputs: %s", [str(p) for p in paths])
                return pipeline.stage_extract(
                    entry, paths, _run_folder(dataset_id), ledger=ledger, run_id=context["run_id"]
                )

        @task
        def transform(extracted: dict[str, Any]) -> dict[str, Any]:
            """Map the raw tables to the published schema."""
            from etl import pipeline

            with _fail_without_retry_on_bad_input():
                entry = get_dataset(dataset_id)
                staged = pipeline.stage_transform(entry, extracted["raw"], _run_folder(dataset_id))
                return {**staged, "inputs": extracted["inputs"]}

        @task
        def validate(transformed: dict[str, Any]) -> dict[str, Any]:
            """Check the DCAT-AP.de record and run the Great Expectations suite; render the
            files only if both pass."""
            from etl import pipeline
            from etl.ledger import Ledger

            with _fail_without_retry_on_bad_input():
                entry = get_dataset(dataset_id)
                staged = pipeline.stage_validate(
                    entry,
                    transformed["tidy"],
                    _run_folder(dataset_id),
                    ledger=Ledger(),
                    run_id=get_current_context()["run_id"],
                    inputs=transformed["inputs"],
                )
                return {**staged, "inputs": transformed["inputs"]}

        # the pool bounds concurrent writes to the portal across all datasets and workers
        @task(pool=CKAN_POOL)
        def publish(validated: dict[str, Any]) -> dict[str, Any]:
            """Upsert package and resources on the portal (Connection ``ckan_default``)."""
            from etl import pipeline
            from etl.ledger import Ledger
            from harvest_airflow.hooks import CkanHook

            with _fail_without_retry_on_bad_input():
                entry = get_dataset(dataset_id)
                with CkanHook().get_conn() as portal:
                    result = pipeline.stage_publish(
                        entry,
                        validated,
                        portal=portal,
                        ledger=Ledger(),
                        run_id=get_current_context()["run_id"],
                        inputs=validated["inputs"],
                    )
            for resource in result["resources"]:
                log.info("%s: %s", resource["resource"], resource["action"])
            log.info(
                "%s (%d reads, %d writes)", result["dataset_url"], result["reads"], result["writes"]
            )
            return result

        # @task turns calls into XComArgs at DAG-build time; mypy sees the plain signatures
        publish(validate(transform(extract())))  # type: ignore[arg-type]
    return dag


def build_family_dags(family: str, namespace: dict[str, Any], *, doc: str | None = None) -> None:
    """Build the DAGs of every registered dataset of ``family`` into ``namespace``.

    Called from a DAG file with ``globals()``, so Airflow finds the DAG objects.
    """
    for dataset in load_registry().values():
        if dataset.family == family:
            namespace[dataset.id] = build_dag(dataset, family_doc=doc)
