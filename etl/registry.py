"""The dataset registry: one YAML file per dataset, validated by pydantic models.

The file name is the dataset's identity everywhere: CKAN package name, DAG id and
``expectations/<id>.json``. Files whose name starts with ``_`` are not datasets:
``_portal.yaml`` holds the portal-wide metadata defaults (:class:`PortalConfig`,
loaded by :func:`load_portal_config`).

Loading the registry reads these YAML files and nothing else: no network, no
database, no pandas. DAG files call it while being parsed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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


Source = Annotated[FirstNamesSource, Field(discriminator="family")]


# --------------------------------------------------------------------------- portal side


class Organization(StrictModel):
    """The CKAN organization (department) that owns the dataset."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]+$")
    title: str
    description: str = ""


# Codes of the EU vocabularies (http://publications.europa.eu/resource/authority/…);
# etl/shapes/vocabularies.ttl holds their IRIs and labels (a contract test keeps both equal).
ThemeCode = Literal[
    "AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL",
    "INTR", "JUST", "REGI", "SOCI", "TECH", "TRAN",
]  # fmt: skip
"""EU data themes (DCAT-AP ``dcat:theme``), e.g. SOCI = Bevölkerung und Gesellschaft."""

FrequencyCode = Literal[
    "UPDATE_CONT", "CONT", "HOURLY", "BIHOURLY", "TRIHOURLY", "DAILY", "DAILY_2",
    "WEEKLY", "WEEKLY_2", "WEEKLY_3", "BIWEEKLY", "MONTHLY", "MONTHLY_2", "MONTHLY_3",
    "BIMONTHLY", "QUARTERLY", "ANNUAL", "ANNUAL_2", "ANNUAL_3", "BIENNIAL", "TRIENNIAL",
    "QUADRENNIAL", "QUINQUENNIAL", "DECENNIAL", "IRREG", "NEVER", "OTHER", "UNKNOWN",
]  # fmt: skip
"""EU frequencies (``dct:accrualPeriodicity``): how often the *data* changes, which is
not the DAG schedule (a weekly check of an annual list is ANNUAL)."""

GeocodingLevel = Literal["federal", "state", "administrativeDistrict", "municipality"]
"""Terms of http://dcat-ap.de/def/politicalGeocoding/Level/."""

CONTRIBUTORS_BASE = "http://dcat-ap.de/def/contributors/"


def _absolute_iri(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
        raise ValueError(f"{value!r} is not an absolute http(s) IRI")
    return value


Iri = Annotated[str, AfterValidator(_absolute_iri)]


class Temporal(StrictModel):
    """Temporal coverage: fixed dates, or the range of a column in each run's data."""

    start: dt.date | None = None
    end: dt.date | None = None
    column: str | None = Field(
        None,
        description="A documented column of type integer (years) or date: each run publishes "
        "its minimum and maximum as the coverage (temporal_start/temporal_end).",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Temporal:
        if self.column and (self.start or self.end):
            raise ValueError("give either column or start/end, not both")
        if not (self.column or self.start or self.end):
            raise ValueError("give column, or start and/or end")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class Spatial(StrictModel):
    """Spatial coverage beyond the portal default (the whole city)."""

    political_geocoding: list[Iri] | None = Field(
        None,
        description="IRIs of http://dcat-ap.de/def/politicalGeocoding/… "
        "(default: _portal.yaml political_geocoding.uris).",
    )
    level: GeocodingLevel | None = None
    description: str | None = Field(
        None, description="Coverage in words (dcatde:geocodingDescription), e.g. Stadtbezirk 3."
    )


class Package(StrictModel):
    """Package metadata as the portal shows it and as DCAT-AP.de harvesters read it.

    Portal-wide values (publisher, contributor ids, licence default, political
    geocoding, formats) come from ``_portal.yaml``; see :class:`PortalConfig`.
    """

    title: str = Field(min_length=3)
    description: str = Field(min_length=10)
    tags: list[str] = Field(default_factory=list, description="Keywords (dcat:keyword).")
    license_id: str | None = Field(
        None,
        description="Licence as a term of http://dcat-ap.de/def/licenses/ (e.g. dl-zero-de/2.0) "
        "or its full IRI; default: _portal.yaml license.default.",
    )
    license_attribution: str | None = Field(
        None,
        description="Attribution text for licences with 'Namensnennung' (dl-by-de, cc-by …); "
        "default: _portal.yaml license.attribution.",
    )
    maintainer: str = Field(description="Department that answers questions (contact point).")
    maintainer_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    url: str | None = None
    themes: list[ThemeCode] = Field(min_length=1, description="EU data themes (dcat:theme).")
    frequency: FrequencyCode = Field(description="EU frequency of the data's updates.")
    temporal: Temporal | None = None
    spatial: Spatial | None = None


class Column(StrictModel):
    """A published column and what it means (shown to users as data dictionary)."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    description: str
    unit: str | None = None


FORMAT_EXTENSIONS: dict[str, str] = {
    "CSV": "csv",
    "JSON": "json",
}


class Resource(StrictModel):
    """One published file. ``name`` is its stable key on the portal."""

    format: Literal["CSV", "JSON"]
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
    def _temporal_column_is_documented(self) -> Dataset:
        temporal = self.package.temporal
        if temporal is None or temporal.column is None:
            return self
        found = [c for c in self.columns if c.name == temporal.column]
        if not found:
            raise ValueError(
                f"package.temporal.column {temporal.column!r} is not a documented column"
            )
        if found[0].type not in ("integer", "date"):
            raise ValueError(
                f"package.temporal.column {temporal.column!r} must be of type integer (years) "
                f"or date, not {found[0].type}"
            )
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


# --------------------------------------------------------------------------- portal defaults


class Publisher(StrictModel):
    """The publishing body (``dct:publisher``) of every dataset."""

    name: str = Field(min_length=2)
    iri: Iri
    type: str | None = Field(
        "LocalAuthority",
        pattern=r"^[A-Za-z]+$",
        description="Term of the ADMS publisher types (http://purl.org/adms/publishertype/).",
    )


class CatalogInfo(StrictModel):
    """The harvestable catalogue (``dcat:Catalog``) as a whole."""

    title: str = Field(min_length=3)
    description: str = Field(min_length=10)
    homepage: Iri | None = Field(None, description="Default: base_url.")


class GeocodingDefaults(StrictModel):
    """Political geocoding of datasets that do not say otherwise."""

    uris: list[Iri] = Field(min_length=1)
    level: GeocodingLevel


class LicenseDefaults(StrictModel):
    """The licence of datasets that name none, and the attribution for 'by' licences."""

    default: str | None = Field(
        None, description="Term of http://dcat-ap.de/def/licenses/ or its full IRI."
    )
    attribution: str | None = Field(
        None, description="Attribution text (dcatde:licenseAttributionByText) for 'by' licences."
    )


class FileFormat(StrictModel):
    """A published format as DCAT-AP.de names it."""

    iri: Iri = Field(description="Term of the EU file-type vocabulary.")
    media_type: str | None = Field(
        None,
        pattern=r"^[a-z]+/[A-Za-z0-9.+-]+$",
        description="IANA media type (dcat:mediaType); leave empty when IANA registers none.",
    )


class PortalConfig(StrictModel):
    """Portal-wide metadata defaults: ``registry/_portal.yaml``.

    Everything a DCAT-AP.de record needs that is the same for every dataset of the
    city lives here once, instead of in every registry file.
    """

    base_url: Iri = Field(
        description="Public base URL of the portal: dataset IRIs and landing pages derive from it."
    )
    catalog: CatalogInfo
    publisher: Publisher
    contributor_ids: list[Iri] = Field(
        min_length=1,
        description="dcatde:contributorID: the portal's own IRI and exactly one IRI of "
        f"{CONTRIBUTORS_BASE} (the system that delivers to GovData).",
    )
    political_geocoding: GeocodingDefaults
    languages: list[str] = Field(
        default_factory=lambda: ["DEU"],
        description="Codes of the EU language vocabulary (dct:language), e.g. DEU.",
    )
    license: LicenseDefaults = Field(
        default_factory=lambda: LicenseDefaults(default=None, attribution=None)
    )
    formats: dict[str, FileFormat] = Field(
        description="Registry format code (CSV, JSON, GEOJSON …) -> EU file type and media type."
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("contributor_ids")
    @classmethod
    def _one_govdata_contributor(cls, value: list[str]) -> list[str]:
        listed = [iri for iri in value if iri.startswith(CONTRIBUTORS_BASE)]
        if len(listed) != 1:
            raise ValueError(
                f"exactly one contributor id must come from {CONTRIBUTORS_BASE} "
                f"(found {len(listed)}); GovData convention K12/K13"
            )
        return value

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[A-Z]{3}", code):
                raise ValueError(f"language {code!r} must be a 3-letter EU code such as DEU")
        return value

    @property
    def homepage(self) -> str:
        return self.catalog.homepage or self.base_url


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


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        # _Loader is a *safe* loader (C or Python variant), which ruff cannot see
        data: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_dataset_file(path: Path) -> Dataset:
    """Read and validate one registry file.

    Raises:
        ConfigError: the YAML is malformed, breaks the model, or its ``id`` differs
            from the file name.
    """
    data = _read_mapping(path)
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


PORTAL_FILE = "_portal.yaml"


def load_portal_file(path: Path) -> PortalConfig:
    """Read and validate a portal defaults file.

    Raises:
        ConfigError: the file is missing, malformed or breaks the model.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: portal defaults missing (every registry needs {PORTAL_FILE})")
    try:
        return PortalConfig.model_validate(_read_mapping(path))
    except ValidationError as exc:
        raise ConfigError(
            _format_validation_error(path, exc).replace("registry entry", "portal defaults")
        ) from None


@lru_cache(maxsize=8)
def _load_portal(directory: Path) -> PortalConfig:
    return load_portal_file(directory / PORTAL_FILE)


def load_portal_config(directory: Path | None = None) -> PortalConfig:
    """The portal-wide defaults ``<registry>/_portal.yaml`` (read once per process)."""
    return _load_portal((directory or registry_dir()).resolve())
