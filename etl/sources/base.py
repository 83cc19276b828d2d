"""What every source family provides, and the tidy result they hand to validation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd

from etl.errors import Problem
from etl.readers import RawTable
from etl.registry import Dataset

T = TypeVar("T")

META_PREFIX = "_"
"""Columns starting with ``_`` are never published. ``_file`` and ``_line`` locate
rows in the inputs for reports (``_column``, where present, names the source column
of a long table's value: one input row becomes several rows); a family may add other
``_`` columns as facts for the suite to check (e.g. ``_geometry_valid``)."""

LOCATION_COLUMNS = ("_file", "_line", "_column")


@dataclass(frozen=True)
class InputFile:
    """One input file as it entered the pipeline."""

    name: str
    sha256: str


@dataclass
class Tidy:
    """The transformed table plus the problems found while building it.

    Problems found here (a count that is not a number, a required column missing)
    are reported together with the suite's findings, so a department gets one list.

    ``notes`` is JSON-safe. Known keys: ``headers`` (file -> published column ->
    header as written in that file, for reports) and ``package`` (package-level
    facts derived from the data, such as the spatial extent, published as extras),
    ``cell_columns`` (published columns whose source column differs per row and is
    given by ``_column``, so reports can name it).
    """

    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def published_frame(self) -> pd.DataFrame:
        """The frame without location columns: what users download."""
        keep = [c for c in self.frame.columns if not str(c).startswith(META_PREFIX)]
        return self.frame[keep]


class SourceFamily(Protocol):
    """A family of sources: how its files are read and turned into a tidy table."""

    def extract(self, dataset: Dataset, paths: Sequence[Path]) -> list[Any]:
        """Read input files into raw, family-specific objects (InputError if unreadable)."""
        ...

    def transform(self, dataset: Dataset, raws: list[Any]) -> Tidy:
        """Map raw objects to the published schema, collecting problems."""
        ...

    def save_raws(self, raws: list[Any], directory: Path) -> list[Path]:
        """Persist raw objects for the next task (Airflow passes only paths)."""
        ...

    def load_raws(self, paths: Sequence[Path]) -> list[Any]:
        """Inverse of :func:`save_raws`."""
        ...


def save_raw_records(raws: Sequence[Any], directory: Path) -> list[Path]:
    """Persist raw dataclass objects as JSON files, one per input, lossless for
    the strings and numbers they hold (Airflow tasks pass only the paths on)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, raw in enumerate(raws):
        path = directory / f"raw-{index:03d}.json"
        path.write_text(json.dumps(asdict(raw), ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def load_raw_records(kind: type[T], paths: Sequence[Path]) -> list[T]:
    """Inverse of :func:`save_raw_records` for dataclass ``kind``."""
    return [kind(**json.loads(Path(p).read_text(encoding="utf-8"))) for p in paths]


def save_raw_tables(raws: list[RawTable], directory: Path) -> list[Path]:
    """Persist :class:`RawTable` objects (see :func:`save_raw_records`)."""
    return save_raw_records(raws, directory)


def load_raw_tables(paths: Sequence[Path]) -> list[RawTable]:
    """Inverse of :func:`save_raw_tables`."""
    return load_raw_records(RawTable, paths)
