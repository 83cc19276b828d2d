"""The dataset registry: one YAML file per dataset, validated by pydantic models.

The file name is the dataset's identity everywhere: CKAN package name, DAG id and
``expectations/<id>.json``. Files whose name starts with ``_`` are not datasets
(``_portal.yaml`` holds the portal-wide defaults).

Loading the registry reads these YAML files and nothing else: no network, no
database, no pandas. DAG files call it while being parsed.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl.errors import ConfigError, InputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DATASET_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,98}[a-z0-9]$")
"""CKAN package names: lowercase alphanumerics and ``-`` (``_`` is allowed by CKAN,
but Airflow DAG ids and URLs read better without it)."""


class StrictModel(BaseModel):
    """Base model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- sources


class FileSource(StrictModel):
    """Where input files come from and the limits every family applies."""

    paths: list[str] = Field(
        default_factory=list,
        description="Glob patterns of the input files a scheduled run reads, relative to "
        "HARVEST_SOURCE_ROOT (default: the project root).",
    )
    accept: list[str] = Field(
        default_factory=lambda: [".csv", ".txt"],
        description="File suffixes the dataset accepts (lower case, with dot).",
    )
    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest accepted input file.")

    @field_validator("accept")
    @classmethod
    def _lower_suffixes(cls, value: list[str]) -> list[str]:
        for suffix in value:
            if not suffix.startswith(".") or suffix != suffix.lower():
                raise ValueError(f"suffix {suffix!r} must be lower case and start with '.'")
        return value


class TextInput(StrictModel):
    """How delimited text files are decoded; ``auto`` detects per file."""

    encoding: str = Field("auto", description="'auto' or a Python codec name such as cp1252.")
    delimiter: Literal["auto", ";", ",", "\t", "|"] = "auto"


class FirstNamesSource(FileSource, TextInput):
    """Newborn first names of the registry office (per-gender or ranked lists)."""

    family: Literal["first_names"]
    genders: list[str] = Field(
        default_factory=lambda: ["w", "m", "d"],
        description="Allowed gender codes after normalisation.",
    )


GEODATA_SUFFIXES = [".zip", ".gpkg", ".geojson", ".json", ".shp"]


class GeodataSource(FileSource):
    """Vector geodata (surveying and cadastre office): Shapefile (zipped or not),
    GeoPackage or GeoJSON; one layer per file, published in WGS84."""

    family: Literal["geodata"]
    accept: list[str] = Field(
        default_factory=lambda: list(GEODATA_SUFFIXES),
        description="File suffixes the dataset accepts (lower case, with dot).",
    )
    expected_crs: list[str] = Field(
        default_factory=list,
        description="CRS an input may declare, e.g. EPSG:25832; any other CRS is refused. "
        "Empty: any CRS, but the file must declare one (it is never guessed).",
    )
    layer: str | None = Field(
        None, description="Layer (GeoPackage table or Shapefile name) when a file has several."
    )
    id_column: str | None = Field(
        None, description="Published column identifying a feature; features are sorted by it."
    )
    name_column: str | None = Field(
        None, description="Published column shown as the feature name in KML and GPX."
    )
    attributes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Published column -> other attribute names it may have in the input "
        "(compared like headers: case, umlauts and punctuation do not matter).",
    )
    allow_repair: bool = Field(
        False,
        description="Repair invalid geometries (reported as warnings) instead of refusing them.",
    )
    attribute_encoding: str = Field(
        "auto",
        description="Encoding of Shapefile attributes when the .cpg file is missing: "
        "'auto' (UTF-8 if valid, else Windows-1252) or a codec such as cp1252.",
    )
    max_uncompressed_bytes: int = Field(
        1024 * 1024 * 1024, gt=0, description="Largest total size of a zip's extracted files."
    )
    max_compression_ratio: int = Field(
        200, gt=1, description="Largest uncompressed/compressed ratio of a zip entry (zip bombs)."
    )

    @field_validator("expected_crs")
    @classmethod
    def _known_crs(cls, value: list[str]) -> list[str]:
        for crs in value:
            if not re.fullmatch(r"EPSG:\d{4,5}", crs):
                raise ValueError(f"CRS {crs!r} must be written as EPSG:<code>")
        return value


Source = Annotated[FirstNamesSource | GeodataSource, Field(discriminator="family")]


# --------------------------------------------------------------------------- portal side


class Organization(StrictModel):
    """The CKAN organization (department) that owns the dataset."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]+$")
    title: str
    description: str = ""


class Package(StrictModel):
    """Package metadata as the portal shows it."""

    title: str = Field(min_length=3)
    description: str = Field(min_length=10)
    tags: list[str] = Field(default_factory=list)
    license_id: str | None = None
    maintainer: str
    maintainer_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    url: str | None = None


class Column(StrictModel):
    """A published column and what it means (shown to users as data dictionary)."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    description: str
    unit: str | None = None


FORMAT_EXTENSIONS: dict[str, str] = {
    "CSV": "csv",
    "JSON": "json",
    "GEOJSON": "geojson",
    "KML": "kml",
    "KMZ": "kmz",
    "GPX": "gpx",
    "GPKG": "gpkg",
}
"""Format codes are those of the EU file-type vocabulary (DCAT-AP.de convention K32)."""


class Resource(StrictModel):
    """One published file. ``name`` is its stable key on the portal."""

    format: Literal["CSV", "JSON", "GEOJSON", "KML", "KMZ", "GPX", "GPKG"]
    name: str | None = None
    description: str = ""

    def resource_name(self, dataset_id: str) -> str:
        """The stable resource name, by default ``<dataset-id>.<ext>``."""
        return self.name or f"{dataset_id}.{FORMAT_EXTENSIONS[self.format]}"


class Dataset(StrictModel):
    """One registry entry."""

    id: str
    schedule: str | None = Field(
        "0 6 * * 5",
        description="Cron expression in Europe/Berlin time, or null for runs only on demand.",
    )
    owner: str = Field(min_length=2)
    retries: int = Field(2, ge=0, le=10)
    retry_delay_minutes: int = Field(5, ge=1)
    release: Literal["public", "queued"] = "public"
    source: Source
    organization: Organization
    package: Package
    columns: list[Column] = Field(min_length=1)
    resources: list[Resource] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not DATASET_ID.match(value):
            raise ValueError(f"{value!r} is not a valid dataset id (a-z, 0-9, '-'; 3–100 chars)")
        return value

    @model_validator(mode="after")
    def _unique_resource_names(self) -> Dataset:
        names = [r.resource_name(self.id) for r in self.resources]
        if len(names) != len(set(names)):
            raise ValueError(f"resource names are not unique: {names}")
        columns = [c.name for c in self.columns]
        if len(columns) != len(set(columns)):
            raise ValueError(f"column names are not unique: {columns}")
        return self

    @model_validator(mode="after")
    def _source_columns_are_documented(self) -> Dataset:
        source = self.source
        if isinstance(source, GeodataSource):
            named = [c for c in (source.id_column, source.name_column) if c]
            unknown = sorted(set(named + list(source.attributes)) - {c.name for c in self.columns})
            if unknown:
                raise ValueError(f"source refers to undocumented columns: {unknown}")
        return self

    @property
    def family(self) -> str:
        return self.source.family

    def column(self, name: str) -> Column:
        """The documented column ``name`` (KeyError if undocumented)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


# --------------------------------------------------------------------------- loading


def registry_dir() -> Path:
    """The registry folder: ``HARVEST_REGISTRY`` or ``<project>/registry``."""
    return Path(os.environ.get("HARVEST_REGISTRY") or PROJECT_ROOT / "registry")


def _format_validation_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid registry entry"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        lines.append(f"  - {location}: {item['msg']}")
    return "\n".join(lines)


def load_dataset_file(path: Path) -> Dataset:
    """Read and validate one registry file.

    Raises:
        ConfigError: the YAML is malformed, breaks the model, or its ``id`` differs
            from the file name.
    """
    try:
        # _Loader is a *safe* loader (C or Python variant), which ruff cannot see
        data: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        dataset = Dataset.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
    if dataset.id != path.stem:
        raise ConfigError(f"{path}: id {dataset.id!r} must equal the file name {path.stem!r}")
    return dataset


# The C loader is ~10× faster; DAG parsing loads every registry file.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=8)
def _load_registry(directory: Path) -> dict[str, Dataset]:
    if not directory.is_dir():
        raise ConfigError(f"registry folder {directory} does not exist")
    datasets: dict[str, Dataset] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        dataset = load_dataset_file(path)
        datasets[dataset.id] = dataset
    return datasets


def load_registry(directory: Path | None = None) -> dict[str, Dataset]:
    """All registered datasets by id, sorted by id."""
    return dict(_load_registry((directory or registry_dir()).resolve()))


def get_dataset(dataset_id: str, directory: Path | None = None) -> Dataset:
    """One dataset by id.

    Raises:
        InputError: no dataset with that id is registered.
    """
    datasets = load_registry(directory)
    try:
        return datasets[dataset_id]
    except KeyError:
        known = ", ".join(datasets) or "none"
        raise InputError(f"unknown dataset {dataset_id!r} (registered: {known})") from None
