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

from etl.errors import InputError, Problem, ValidationFailed, ValidationReport
from etl.formats import RenderedFile
from etl.formats import render as render_files
from etl.portal import Portal, PublishResult
from etl.portal import publish as publish_files
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


def resolve_inputs(dataset: Dataset, files: Sequence[str | Path] | None = None) -> list[Path]:
    """The input files of a run: the given ones, else the registry's source globs.

    Raises:
        InputError: no input, or a file type the dataset does not accept.
    """
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
        if path.suffix.lower() not in dataset.source.accept:
            raise InputError(
                f"Dateityp {path.suffix or '(ohne Endung)'} wird für {dataset.id} nicht "
                f"angenommen; erlaubt: {', '.join(dataset.source.accept)}",
                file=path.name,
            )
    return paths


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
) -> PublishResult:
    """Publish rendered files (see :func:`etl.portal.publish`; ``now`` is the clock of
    ``issued``/``modified``)."""
    return publish_files(
        dataset, files, portal=portal, dry_run=dry_run, facts=facts, progress=progress, now=now
    )


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
    """Inverse of :func:`save_tidy`."""
    side = json.loads((path.parent / "tidy.json").read_text(encoding="utf-8"))
    return Tidy(
        frame=pd.read_parquet(path),
        problems=[Problem(**p) for p in side["problems"]],
        inputs=[InputFile(**i) for i in side["inputs"]],
        notes=side["notes"],
    )


def stage_extract(dataset: Dataset, paths: Sequence[Path], directory: Path) -> dict[str, Any]:
    """Extract and persist raw inputs; returns paths and input hashes."""
    family = get_family(dataset.family)
    raws = family.extract(dataset, paths)
    raw_paths = family.save_raws(raws, directory / "raw")
    return {
        "raw": [str(p) for p in raw_paths],
        "inputs": [{"name": p.name, "path": str(p)} for p in paths],
    }


def stage_transform(dataset: Dataset, raw_paths: Sequence[str], directory: Path) -> dict[str, Any]:
    """Transform staged raw inputs and persist the tidy table."""
    family = get_family(dataset.family)
    tidy = family.transform(dataset, family.load_raws([Path(p) for p in raw_paths]))
    path = save_tidy(tidy, directory / "tidy")
    return {
        "tidy": str(path),
        "rows": len(tidy.frame),
        "problems": len(tidy.problems),
        "inputs": [asdict(i) for i in tidy.inputs],
    }


def stage_validate(
    dataset: Dataset, tidy_path: str, directory: Path, *, today: dt.date | None = None
) -> dict[str, Any]:
    """Check the dataset's metadata, validate the staged table and, if both pass,
    render the files to publish.

    The data report is written to ``report.json`` whenever the suite ran.

    Raises:
        MetadataInvalid: the dataset's DCAT-AP.de record breaks the shapes.
        ValidationFailed: with the report.
    """
    tidy = load_tidy(Path(tidy_path))
    facts = package_facts(dataset, tidy)
    check_metadata(dataset, facts)
    report = run_suite(dataset, tidy, today=today)
    (directory / "report.json").write_text(
        json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    if not report.success:
        raise ValidationFailed(report)
    files = render(dataset, tidy, directory / "out")
    return {
        "rows": report.rows,
        "report": str(directory / "report.json"),
        "files": [f.as_dict() for f in files],
        "facts": facts,
    }


def stage_publish(dataset: Dataset, validated: dict[str, Any], *, portal: Portal) -> dict[str, Any]:
    """Publish what :func:`stage_validate` staged; returns the publish result as a dict."""
    result = publish(
        dataset,
        [RenderedFile(**f) for f in validated["files"]],
        portal=portal,
        facts=validated.get("facts"),
    )
    return result.as_dict()
