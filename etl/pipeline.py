"""The pipeline steps, composed. The CLI and the Airflow tasks call these functions.

source files → extract (raw) → transform (tidy) → validate (suite and the dataset's
DCAT-AP.de record) → render (files with hashes) → publish (portal). Between Airflow
tasks the intermediate results are staged as files in a run folder and only paths and
small summaries travel through XCom; ``stage_*`` functions do that staging.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from etl.errors import (
    ConfigError,
    HarvestError,
    InputError,
    Problem,
    ValidationFailed,
    ValidationReport,
)
from etl.formats import MIMETYPES, RenderedFile
from etl.formats import render as render_files
from etl.ledger import Attempt, Kind, Ledger, OutputRecord
from etl.portal import UNREAD, Portal, PublishIncomplete, PublishResult, Unread
from etl.portal import publish as publish_files
from etl.readers import sha256_file
from etl.registry import PROJECT_ROOT, Dataset
from etl.sources import get_family
from etl.sources.base import InputFile, Tidy
from etl.validate import require_valid
from etl.validate import validate as run_suite


def source_root() -> Path:
    """Base of the registry's relative source paths: ``HARVEST_SOURCE_ROOT`` or the project."""
    return Path(os.environ.get("HARVEST_SOURCE_ROOT") or PROJECT_ROOT)


def work_dir() -> Path:
    """Where runs stage their files: ``HARVEST_WORK_DIR`` or ``<project>/.work``."""
    return Path(os.environ.get("HARVEST_WORK_DIR") or PROJECT_ROOT / ".work")


def resolve_inputs(
    dataset: Dataset,
    files: Sequence[str | Path] | None = None,
    *,
    ledger: Ledger | None = None,
) -> list[Path]:
    """The input files of a run.

    The rule: the given ``files``; else, when a ``ledger`` is given and the dataset's
    current input set holds a file a department dropped (see :func:`dropped_input_set`),
    the archived copies of that set; else the registry's source globs. ``harvest check``
    passes no ledger, so it always reads the source paths (the bundled samples).

    Raises:
        InputError: no input, or a file type the dataset does not accept.
        ConfigError: an archived input of the current set is missing or altered.
    """
    return run_inputs(dataset, files, ledger=ledger)[0]


def run_inputs(
    dataset: Dataset,
    files: Sequence[str | Path] | None = None,
    *,
    ledger: Ledger | None = None,
) -> tuple[list[Path], list[dict[str, Any]]]:
    """The input files of a run (rule in :func:`resolve_inputs`) and their ledger records.

    Records of a re-run from the current input set keep their ``origin``, so the set
    stays the dataset's current one after the run.
    """
    if not files and ledger is not None:
        records = dropped_input_set(ledger, dataset)
        if records:
            return [Path(r["path"]) for r in records], records
    paths = _source_paths(dataset, files)
    return paths, describe_inputs(paths)


def _source_paths(dataset: Dataset, files: Sequence[str | Path] | None) -> list[Path]:
    if files:
        paths = [Path(f) for f in files]
    else:
        root = source_root()
        found: set[Path] = set()
        for pattern in dataset.source.paths:
            base = Path(pattern).anchor if Path(pattern).is_absolute() else root
            relative = (
                str(Path(pattern).relative_to(base)) if Path(pattern).is_absolute() else pattern
            )
            found.update(p for p in Path(base).glob(relative) if p.is_file())
        paths = sorted(found)
        if not paths:
            raise InputError(
                f"{dataset.id}: no input files match {dataset.source.paths} under {root}"
            )
    for path in paths:
        suffix = path.suffix.lower()
        if suffix not in dataset.source.accept:
            what = f" ({SUFFIX_HINTS[suffix]})" if suffix in SUFFIX_HINTS else ""
            raise InputError(
                f"Dateityp {path.suffix or '(ohne Endung)'}{what} wird für {dataset.id} nicht "
                f"angenommen; erlaubt: {', '.join(dataset.source.accept)}",
                file=path.name,
            )
    return paths


SUFFIX_HINTS = {
    ".xlsm": "Excel-Arbeitsmappe mit Makros; bitte als .xlsx ohne Makros speichern",
    ".xlsb": "binäres Excel-Format; bitte als .xlsx speichern",
    ".xls": "altes Excel-Format (Excel 97–2003); bitte als .xlsx speichern",
    ".ods": "OpenDocument-Tabelle; bitte als .xlsx oder CSV speichern",
}
"""Why a commonly delivered but refused file type is refused, and what to send instead."""


def extract(dataset: Dataset, paths: Sequence[Path]) -> list[Any]:
    """Read the inputs with the dataset's source family."""
    return get_family(dataset.family).extract(dataset, paths)


def transform(dataset: Dataset, raws: list[Any]) -> Tidy:
    """Map raw inputs to the published schema."""
    return get_family(dataset.family).transform(dataset, raws)


def validate(dataset: Dataset, tidy: Tidy, *, today: dt.date | None = None) -> ValidationReport:
    """Run the suite; raise :class:`ValidationFailed` if anything breaks a rule."""
    return require_valid(run_suite(dataset, tidy, today=today))


def render(dataset: Dataset, tidy: Tidy, out_dir: Path) -> list[RenderedFile]:
    """Write the published files of a validated table."""
    return render_files(dataset, tidy.published_frame(), out_dir)


def package_facts(dataset: Dataset, tidy: Tidy) -> dict[str, Any]:
    """Package-level facts of a run: the family's notes plus the temporal coverage.

    With ``package.temporal.column`` the coverage is the column's range in this run's
    data: years (integer column) span 1 January to 31 December.
    """
    facts: dict[str, Any] = dict(tidy.notes.get("package", {}))
    temporal = dataset.package.temporal
    if temporal is None or temporal.column is None or temporal.column not in tidy.frame:
        return facts
    values = tidy.frame[temporal.column].dropna()
    if values.empty:
        return facts
    if dataset.column(temporal.column).type == "integer":
        facts["temporal_start"] = f"{int(values.min()):04d}-01-01"
        facts["temporal_end"] = f"{int(values.max()):04d}-12-31"
    else:
        dates = pd.to_datetime(values, errors="coerce").dropna()
        if not dates.empty:
            facts["temporal_start"] = dates.min().date().isoformat()
            facts["temporal_end"] = dates.max().date().isoformat()
    return facts


def check_metadata(dataset: Dataset, facts: dict[str, Any]) -> None:
    """The dataset's own DCAT-AP.de record must pass the shapes before anything is written.

    Raises:
        MetadataInvalid: with the German findings (exit 1, failed task).
    """
    from etl.conformance import require_conformant

    require_conformant(dataset, facts=facts)


@dataclass
class CheckOutcome:
    """Result of extract → transform → validate → render without the portal."""

    report: ValidationReport
    files: list[RenderedFile]
    inputs: list[InputFile]
    facts: dict[str, Any]


def check(
    dataset: Dataset,
    paths: Sequence[Path],
    out_dir: Path,
    *,
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> CheckOutcome:
    """Everything up to the files that would be published; no portal access.

    Raises:
        InputError: an input is unreadable.
        MetadataInvalid: the dataset's DCAT-AP.de record breaks the shapes.
        ValidationFailed: the data breaks the dataset's rules (nothing is rendered).
    """
    say = progress or (lambda _m: None)
    say(f"reading {len(paths)} file(s)")
    raws = extract(dataset, paths)
    say("transforming")
    tidy = transform(dataset, raws)
    facts = package_facts(dataset, tidy)
    say("checking the DCAT-AP.de metadata")
    check_metadata(dataset, facts)
    say(f"validating {len(tidy.frame):,} rows")
    report = validate(dataset, tidy, today=today)
    say("rendering")
    files = render(dataset, tidy, out_dir)
    return CheckOutcome(report=report, files=files, inputs=tidy.inputs, facts=facts)


def publish(
    dataset: Dataset,
    files: list[RenderedFile],
    *,
    portal: Portal,
    dry_run: bool = False,
    facts: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    now: dt.datetime | None = None,
    current: dict[str, Any] | Unread | None = UNREAD,
) -> PublishResult:
    """Publish rendered files (see :func:`etl.portal.publish`; ``now`` is the clock of
    ``issued``/``modified``, ``current`` the package if the caller read it already)."""
    return publish_files(
        dataset,
        files,
        portal=portal,
        dry_run=dry_run,
        facts=facts,
        progress=progress,
        now=now,
        current=current,
    )


# --------------------------------------------------------------------------- the ledger


def new_run_id(prefix: str = "cli") -> str:
    """A run id for runs outside Airflow (Airflow runs keep Airflow's run id)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{prefix}__{now}__{os.getpid()}"


def describe_inputs(paths: Sequence[Path], *, origin: str = "source") -> list[dict[str, Any]]:
    """Input records for the ledger: name, sha256, where it was read from, origin.

    An unreadable file is listed without hash. ``origin`` is ``source`` (registry
    paths or files given to the CLI) or ``dropzone`` (dropped by a department).
    ``path`` is transient: a successful publish replaces it by the archived copy.
    """
    described: list[dict[str, Any]] = []
    for path in paths:
        try:
            sha256: str | None = sha256_file(path)
        except OSError:
            sha256 = None
        described.append({"name": path.name, "sha256": sha256, "path": str(path), "origin": origin})
    return described


def archived_input_set(attempt: Attempt) -> list[dict[str, Any]] | None:
    """The input records of ``attempt`` with ``path`` set to their verified archived copy.

    ``None`` when an input was never archived (attempts recorded before inputs were
    archived, or an input that changed while it was read).

    Raises:
        ConfigError: an archived copy is missing or altered (an operator must look).
    """
    if not attempt.inputs or not all(i.get("archived_path") for i in attempt.inputs):
        return None
    records = []
    for record in attempt.inputs:
        path = Path(str(record["archived_path"]))
        if not path.is_file() or sha256_file(path) != record.get("sha256"):
            raise ConfigError(
                f"{attempt.dataset}: archived input {record.get('name')} of attempt "
                f"{attempt.id} is missing or altered ({path})"
            )
        records.append({**record, "path": str(path)})
    return records


def current_input_set(attempt: Attempt) -> list[dict[str, Any]] | None:
    """The archived input set of a successful ``attempt`` (see :func:`archived_input_set`).

    Raises:
        ConfigError: an archived copy is missing or altered, or the set holds dropped
            files but was not archived completely (falling back to the source paths
            would silently undo the department's files).
    """
    records = archived_input_set(attempt)
    if records is None and any(i.get("origin") == "dropzone" for i in attempt.inputs):
        raise ConfigError(
            f"{attempt.dataset}: the current input set (attempt {attempt.id}) holds dropped "
            "files but not all of its inputs were archived; publish the complete set with "
            "`harvest publish DATASET FILE...`"
        )
    return records


def dropped_input_set(ledger: Ledger, dataset: Dataset) -> list[dict[str, Any]] | None:
    """The dataset's current input set if a department's dropped file is part of it.

    The current input set is the inputs of the last successful publish. Once a file
    from the drop folder is part of it, the drop folder is the dataset's source: a
    scheduled run re-publishes that set instead of the registry's source paths (which
    would undo what the department delivered).

    Raises:
        ConfigError: see :func:`current_input_set`.
    """
    last = ledger.last_success(dataset.id)
    if last is None or not any(i.get("origin") == "dropzone" for i in last.inputs):
        return None
    return current_input_set(last)


def validation_summary(report: ValidationReport) -> dict[str, Any]:
    """What the ledger keeps of a validation: counts and the first findings."""
    return {
        "success": report.success,
        "rows": report.rows,
        "checks": len(report.checks),
        "failed_checks": sum(1 for c in report.checks if not c["success"]),
        "problems": len(report.problems),
        "examples": [p.as_dict() for p in report.problems[:5]],
    }


def record_rejection(
    ledger: Ledger,
    dataset: Dataset,
    run_id: str,
    inputs: Sequence[dict[str, Any]],
    error: HarvestError,
) -> None:
    """Record an attempt that ended before publishing (invalid or unreadable input)."""
    attempt = ledger.begin(dataset.id, run_id, inputs=inputs)
    if isinstance(error, ValidationFailed):
        ledger.finish(
            attempt,
            status="invalid",
            validation=validation_summary(error.report),
            error=error.message,
        )
    else:
        ledger.finish(attempt, status="rejected", error=error.message)


def _output_records(
    ledger: Ledger, dataset: Dataset, files: Sequence[RenderedFile], result: PublishResult
) -> list[OutputRecord]:
    actions = {r.resource: r for r in result.resources}
    records = []
    for file in files:
        outcome = actions.get(file.resource)
        archived = ledger.archive(dataset.id, Path(file.path), file.sha256, file.resource)
        records.append(
            OutputRecord(
                resource=file.resource,
                format=file.format,
                sha256=file.sha256,
                size=file.size,
                action=outcome.action if outcome else "failed",
                archived_path=str(archived),
                resource_id=outcome.resource_id if outcome else None,
            )
        )
    return records


def publish_recorded(
    dataset: Dataset,
    files: list[RenderedFile],
    *,
    portal: Portal,
    ledger: Ledger,
    run_id: str,
    inputs: Sequence[dict[str, Any]] = (),
    validation: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    kind: Kind = "publish",
    source_attempt: int | None = None,
    lock_wait_seconds: float = 600.0,
    progress: Callable[[str], None] | None = None,
    current: dict[str, Any] | Unread | None = UNREAD,
) -> PublishResult:
    """Publish under the dataset's lock and record the attempt in the ledger.

    The outputs are archived (content-addressed) so a later rollback can bring them
    back. A second publish of the same dataset waits for the lock. A dataset the
    Wednesday release made public stays public although the registry may still say
    ``release: queued`` (see :func:`etl.release.effective`). ``current`` is the package
    if the caller already read it (see :func:`etl.portal.publish`).

    Raises:
        PortalError / PublishIncomplete: recorded as ``failed`` first.
        LockBusy: another publish held the lock for longer than ``lock_wait_seconds``.
    """
    from etl.release import effective

    with ledger.lock(dataset.id, wait_seconds=lock_wait_seconds):
        # read under the lock: a release holds it while it makes the package public
        dataset = effective(dataset, ledger)
        attempt = ledger.begin(
            dataset.id,
            run_id,
            inputs=inputs,
            kind=kind,
            portal_url=portal.url,
            source_attempt=source_attempt,
        )
        try:
            result = publish(
                dataset, files, portal=portal, facts=facts, progress=progress, current=current
            )
        except PublishIncomplete as exc:
            ledger.finish(
                attempt,
                status="failed",
                outputs_=_output_records(ledger, dataset, files, exc.result),
                validation=validation,
                facts=facts,
                error=exc.message,
            )
            raise
        except HarvestError as exc:
            ledger.finish(
                attempt, status="failed", validation=validation, facts=facts, error=exc.message
            )
            raise
        ledger.finish(
            attempt,
            status="success",
            outputs_=_output_records(ledger, dataset, files, result),
            validation=validation,
            facts=facts,
            # the published input set is kept: mode ``add`` and scheduled re-runs build on it
            inputs=[ledger.archive_input(dataset.id, record) for record in inputs],
        )
        return result


def rollback_target(ledger: Ledger, dataset: Dataset, to: str | None = None) -> Attempt:
    """The successful attempt a rollback returns to.

    Default: the newest success whose outputs differ from the newest success (the
    version before the current one). ``to`` picks an attempt by ledger id or run id.

    Raises:
        InputError: no such attempt, not successful, or nothing earlier to return to.
    """
    successes = [a for a in ledger.successes(dataset.id, limit=500) if a.outputs]
    if not successes:
        raise InputError(f"{dataset.id}: the ledger has no successful publish to roll back to")
    if to is not None:
        for attempt in ledger.history(dataset.id, limit=100_000):
            if str(attempt.id) == to or attempt.run_id == to:
                if attempt.status != "success" or not attempt.outputs:
                    raise InputError(
                        f"{dataset.id}: attempt {to} did not publish successfully "
                        f"(status {attempt.status}); choose one from `harvest history`"
                    )
                return attempt
        raise InputError(f"{dataset.id}: no attempt {to!r} in the ledger (see `harvest history`)")
    current = {(o.resource, o.sha256) for o in successes[0].outputs}
    for attempt in successes[1:]:
        if {(o.resource, o.sha256) for o in attempt.outputs} != current:
            return attempt
    raise InputError(f"{dataset.id}: no earlier version than the current one in the ledger")


def archived_files(attempt: Attempt) -> list[RenderedFile]:
    """The archived outputs of an attempt as files ready to publish.

    Raises:
        InputError: an archived file is missing or was altered.
    """
    files = []
    for output in attempt.outputs:
        path = Path(output.archived_path or "")
        if not path.is_file() or sha256_file(path) != output.sha256:
            raise InputError(
                f"archived output {output.resource} of attempt {attempt.id} is missing or "
                f"altered ({path})"
            )
        files.append(
            RenderedFile(
                resource=output.resource,
                format=output.format,
                path=str(path),
                sha256=output.sha256,
                size=output.size,
                mimetype=MIMETYPES.get(output.format, "application/octet-stream"),
            )
        )
    return files


def rollback(
    dataset: Dataset,
    *,
    portal: Portal,
    ledger: Ledger,
    to: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Attempt, PublishResult]:
    """Republish an earlier version of every resource from the archive; recorded as ``rollback``."""
    target = rollback_target(ledger, dataset, to)
    result = publish_recorded(
        dataset,
        archived_files(target),
        portal=portal,
        ledger=ledger,
        run_id=new_run_id("rollback"),
        inputs=target.inputs,
        facts=target.facts,
        kind="rollback",
        source_attempt=target.id,
        progress=progress,
    )
    return target, result


# --------------------------------------------------------------------------- staging


def run_dir(dataset_id: str, run_id: str) -> Path:
    """The staging folder of one run (created)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)
    path = work_dir() / "runs" / dataset_id / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_tidy(tidy: Tidy, directory: Path) -> Path:
    """Persist a tidy table (Parquet) with its problems and notes (JSON)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tidy.parquet"
    tidy.frame.to_parquet(path, index=False)
    (directory / "tidy.json").write_text(
        json.dumps(
            {
                "problems": [p.as_dict() for p in tidy.problems],
                "inputs": [asdict(i) for i in tidy.inputs],
                "notes": tidy.notes,
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def load_tidy(path: Path) -> Tidy:
    """Inverse of :func:`save_tidy`; a GeoDataFrame comes back as one (GeoParquet)."""
    side = json.loads((path.parent / "tidy.json").read_text(encoding="utf-8"))
    return Tidy(
        frame=_read_frame(path),
        problems=[Problem(**p) for p in side["problems"]],
        inputs=[InputFile(**i) for i in side["inputs"]],
        notes=side["notes"],
    )


def _read_frame(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if b"geo" in metadata:  # GeoParquet, written by GeoDataFrame.to_parquet
        import geopandas

        frame: pd.DataFrame = geopandas.read_parquet(path)
        return frame
    return pd.read_parquet(path)


def stage_extract(
    dataset: Dataset,
    paths: Sequence[Path],
    directory: Path,
    *,
    ledger: Ledger,
    run_id: str,
    inputs: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Open the run's ledger attempt, extract and persist raw inputs.

    Args:
        inputs: the input records (default: :func:`describe_inputs` of ``paths``).

    Raises:
        InputError: an input is unreadable (recorded as ``rejected`` first).
    """
    inputs = list(inputs) if inputs is not None else describe_inputs(paths)
    ledger.begin(dataset.id, run_id, inputs=inputs)
    family = get_family(dataset.family)
    try:
        raws = family.extract(dataset, paths)
    except HarvestError as exc:
        record_rejection(ledger, dataset, run_id, inputs, exc)
        raise
    raw_paths = family.save_raws(raws, directory / "raw")
    return {"raw": [str(p) for p in raw_paths], "inputs": inputs}


def stage_transform(dataset: Dataset, raw_paths: Sequence[str], directory: Path) -> dict[str, Any]:
    """Transform staged raw inputs and persist the tidy table."""
    family = get_family(dataset.family)
    tidy = family.transform(dataset, family.load_raws([Path(p) for p in raw_paths]))
    path = save_tidy(tidy, directory / "tidy")
    return {
        "tidy": str(path),
        "rows": len(tidy.frame),
        "problems": len(tidy.problems),
    }


def stage_validate(
    dataset: Dataset,
    tidy_path: str,
    directory: Path,
    *,
    ledger: Ledger,
    run_id: str,
    inputs: Sequence[dict[str, Any]] = (),
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Check the dataset's metadata, validate the staged table and, if both pass,
    render the files to publish.

    The data report is written to ``report.json`` whenever the suite ran.

    Raises:
        MetadataInvalid: the dataset's DCAT-AP.de record breaks the shapes.
        ValidationFailed: with the report (recorded as ``invalid`` first).
    """
    tidy = load_tidy(Path(tidy_path))
    facts = package_facts(dataset, tidy)
    check_metadata(dataset, facts)
    report = run_suite(dataset, tidy, today=today)
    (directory / "report.json").write_text(
        json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    if not report.success:
        error = ValidationFailed(report)
        record_rejection(ledger, dataset, run_id, inputs, error)
        raise error
    files = render(dataset, tidy, directory / "out")
    return {
        "rows": report.rows,
        "report": str(directory / "report.json"),
        "validation": validation_summary(report),
        "files": [f.as_dict() for f in files],
        "facts": facts,
    }


def stage_publish(
    dataset: Dataset,
    validated: dict[str, Any],
    *,
    portal: Portal,
    ledger: Ledger,
    run_id: str,
    inputs: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Publish what :func:`stage_validate` staged, recorded in the ledger."""
    result = publish_recorded(
        dataset,
        [RenderedFile(**f) for f in validated["files"]],
        portal=portal,
        ledger=ledger,
        run_id=run_id,
        inputs=inputs,
        validation=validated.get("validation"),
        facts=validated.get("facts"),
    )
    return result.as_dict()
