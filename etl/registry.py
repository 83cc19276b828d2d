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
from typing import Annotated, Any, Literal, get_args

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

    def package_notes(self) -> list[str]:
        """Paragraphs the family adds to the package description (default: none)."""
        return []

    @field_validator("accept")
    @classmethod
    def _lower_suffixes(cls, value: list[str]) -> list[str]:
        for suffix in value:
            if not suffix.startswith(".") or suffix != suffix.lower():
                raise ValueError(f"suffix {suffix!r} must be lower case and start with '.'")
        return value


class ArchiveLimits(StrictModel):
    """Limits for inputs that are zip archives inside (zipped Shapefiles, KMZ, .xlsx):
    checked on the archive's directory before anything is inflated (zip bombs)."""

    max_uncompressed_bytes: int = Field(
        1024 * 1024 * 1024, gt=0, description="Largest total size of a zip's extracted files."
    )
    max_compression_ratio: int = Field(
        200, gt=1, description="Largest uncompressed/compressed ratio of a zip entry (zip bombs)."
    )


class TextInput(StrictModel):
    """How delimited text files are decoded; ``auto`` detects per file."""

    encoding: str = Field("auto", description="'auto' or a Python codec name such as cp1252.")
    delimiter: Literal["auto", ";", ",", "\t", "|"] = "auto"


class FirstNamesSource(FileSource, TextInput):
    """Newborn first names of the registry office (per-gender or ranked lists)."""

    family: Literal["first_names"]
    withhold_below: dict[str, int] = Field(
        default_factory=lambda: {"d": 3},
        description="Per gender code: names counted fewer times are not published. A rare "
        "name together with the rare entry 'divers' can point to one child; the count of a "
        "common gender does not.",
    )

    @field_validator("withhold_below")
    @classmethod
    def _positive_thresholds(cls, value: dict[str, int]) -> dict[str, int]:
        for gender, threshold in value.items():
            if threshold < 1:
                raise ValueError(f"threshold for {gender!r} must be at least 1")
        return value

    def package_notes(self) -> list[str]:
        """The confidentiality rule, stated for users when it withholds anything."""
        labels = {"w": "weiblich", "m": "männlich", "d": "divers"}
        rules = [
            f"Geschlecht „{labels.get(g, g)}“: Vornamen, die seltener als {n}-mal vorkommen"
            for g, n in sorted(self.withhold_below.items())
            if n > 1
        ]
        if not rules:
            return []
        return [
            "Datenschutz: nicht veröffentlicht werden "
            + "; ".join(rules)
            + ". Die Summen der Tabelle sind deshalb etwas kleiner als die Zahl der Geburten."
        ]


# ------------------------------------------------------------- statistics tables

SNAKE_CASE = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
"""Published column names and status values: lower-case ASCII snake_case."""

HELPER_NAME = r"^_[a-z][a-z0-9_]*$"
"""Helper columns: seen by the suite, never published."""


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return patterns


class Marker(StrictModel):
    """A sign that stands in a number cell instead of a number (Zeichenerklärung)."""

    symbol: str = Field(min_length=1, description="The sign as written, e.g. 'x', '.', '-'.")
    status: str = Field(pattern=SNAKE_CASE, description="Status value published for the cell.")
    value: float | None = Field(
        default=None,
        description="Number published with the status (0 for '-' = exactly nothing); "
        "null leaves the value cell empty.",
    )
    meaning: str = Field(min_length=3, description="German explanation for users.")


DEFAULT_MARKERS: tuple[Marker, ...] = (
    Marker(
        symbol="x",
        status="gesperrt",
        meaning="Zahlenwert aus Gründen der Geheimhaltung gesperrt",
    ),
    Marker(symbol=".", status="unbekannt", meaning="Zahlenwert unbekannt oder nicht verfügbar"),
    Marker(symbol="-", status="nichts", value=0, meaning="genau nichts"),
)

VALUE_STATUS = "wert"
"""Status of a cell that holds a number as delivered."""

SUPPRESSED_STATUS = "gesperrt"
"""Status of a cell the pipeline suppressed under the dataset's privacy rule."""

DEFAULT_NOTE_PATTERNS = [
    r"^Quelle\b",
    r"^Stand\b",
    r"^\*",
    r"^\d{1,2}\)",
    r"^(Anmerkung|Hinweis|Fußnote|Fussnote)",
]
DEFAULT_SUMMARY_PATTERNS = [
    r"^Ver(ä|ae)nderung\b",
    r"^(Summe|Insgesamt|Zusammen|Gesamt)\s*$",
]
DEFAULT_END_PATTERNS = [r"^(Erläuterungen|Erlaeuterungen|Zeichenerklärung|Zeichenerklaerung)"]


class TableField(StrictModel):
    """One column of the delivered table and the published column it becomes."""

    name: str = Field(pattern=SNAKE_CASE, description="Published column name.")
    headers: list[str] = Field(
        default_factory=list,
        description="Headings that name this column in delivered files (compared "
        "case-, umlaut- and punctuation-insensitively); default: the name.",
    )
    position: int | None = Field(
        None,
        ge=1,
        description="1-based column number, only for columns without a heading "
        "(the label column of a print layout).",
    )
    type: Literal["code", "integer", "number", "text"]
    width: int | None = Field(
        None, ge=1, le=12, description="Codes: zero-padded to this many digits ('1' → '01')."
    )
    decimals: int | None = Field(
        None, ge=0, le=10, description="Numbers: rounded to this many decimal places."
    )
    status: str | None = Field(
        None,
        pattern=SNAKE_CASE,
        description="Published status column for this value; without one, markers "
        "in this column are errors.",
    )
    required: bool = Field(True, description="A file without this column is rejected.")

    @model_validator(mode="after")
    def _consistent(self) -> TableField:
        if self.width is not None and self.type != "code":
            raise ValueError(f"{self.name}: width applies to codes only")
        if self.decimals is not None and self.type != "number":
            raise ValueError(f"{self.name}: decimals apply to numbers only")
        if self.status and self.type not in ("integer", "number"):
            raise ValueError(f"{self.name}: only numeric columns have a status column")
        if self.position is not None and self.headers:
            raise ValueError(f"{self.name}: give headers or position, not both")
        return self

    def accepted_headers(self) -> list[str]:
        return self.headers or [self.name]


class CodeFromHeader(StrictModel):
    """A code column derived from a header text, e.g. '01' from 'Stadtbezirk 1'."""

    name: str = Field(pattern=SNAKE_CASE, description="Published code column.")
    pattern: str = Field(description="Regular expression with one group: the number.")
    width: int = Field(ge=1, le=12)

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        _check_patterns([value])
        if re.compile(value).groups != 1:
            raise ValueError(f"{value!r} must have exactly one group")
        return value


class HeaderLevel(StrictModel):
    """One heading line of the value columns of a wide table, published as a column."""

    name: str = Field(pattern=SNAKE_CASE, description="Published column for this heading.")
    values: dict[str, str] = Field(
        default_factory=dict,
        description="Heading as written → published value; headings not listed are "
        "published as written.",
    )
    code: CodeFromHeader | None = None


class WideToLong(StrictModel):
    """Turn one column per year/variant/area into rows (a tidy long table)."""

    levels: list[HeaderLevel] = Field(
        min_length=1, description="One entry per heading line (see header_rows)."
    )
    value: TableField = Field(description="The published value column (integer or number).")
    blank: Literal["skip", "error"] = Field(
        "error",
        description="Empty value cells: 'skip' (layouts that leave cells empty on "
        "purpose) or 'error'.",
    )

    @model_validator(mode="after")
    def _numeric_value(self) -> WideToLong:
        if self.value.type not in ("integer", "number"):
            raise ValueError("wide_to_long.value must be an integer or number column")
        if self.value.headers or self.value.position:
            raise ValueError("wide_to_long.value takes no headers or position")
        return self


class Sections(StrictModel):
    """Print layouts: section headings, 'davon'/'darunter' groups and block notes.

    A row with only a label is a section heading when a blank row follows, else it
    opens a group. ``Quelle:`` rows close a block; the notes of a block are
    published with its rows.
    """

    section: str = Field("abschnitt", pattern=SNAKE_CASE)
    group: str = Field("oberbegriff", pattern=SNAKE_CASE)
    group_words: list[str] = Field(
        default_factory=lambda: ["davon", "darunter"],
        description="A group heading starting with one of these words refers to the "
        "last row above that has a value in the first value column.",
    )
    source: str | None = Field("quelle", pattern=SNAKE_CASE)
    as_of: str | None = Field("stand", pattern=SNAKE_CASE)
    note: str | None = Field("hinweis", pattern=SNAKE_CASE)


class Privacy(StrictModel):
    """Statistical confidentiality of counts (off unless configured)."""

    columns: list[str] = Field(min_length=1, description="Published count columns concerned.")
    min_count: int | None = Field(
        None, ge=2, description="Counts from 1 to min_count-1 are published as gesperrt."
    )
    round_to: int | None = Field(
        None, ge=2, description="Counts are rounded to a multiple of this number."
    )
    exact_columns: list[str] = Field(
        default_factory=list, description="Totals that stay exact when rounding."
    )
    mode: Literal["apply", "verify"] = Field(
        "apply",
        description="'apply': the pipeline suppresses/rounds; 'verify': the department "
        "delivers protected figures and files that break the rule are rejected.",
    )

    @model_validator(mode="after")
    def _some_rule(self) -> Privacy:
        if self.min_count is None and self.round_to is None:
            raise ValueError("privacy needs min_count and/or round_to")
        if not set(self.exact_columns) <= set(self.columns):
            raise ValueError("privacy.exact_columns must be among privacy.columns")
        return self

    def describe(self) -> str:
        """The rule in German, for the package description."""
        parts = []
        if self.min_count is not None:
            parts.append(
                f"Anzahlen unter {self.min_count} (außer 0) werden nicht veröffentlicht "
                f"(Status „{SUPPRESSED_STATUS}“, Wert leer)"
            )
        if self.round_to is not None:
            rounded = "Anzahlen werden auf ein Vielfaches von " + str(self.round_to) + " gerundet"
            if self.exact_columns:
                rounded += " (ausgenommen die Summen " + ", ".join(self.exact_columns) + ")"
            parts.append(rounded)
        who = (
            "vom Fachamt vor der Lieferung angewendet und bei jeder Veröffentlichung geprüft"
            if self.mode == "verify"
            else "bei jeder Veröffentlichung angewendet und geprüft"
        )
        return (
            f"Geheimhaltung: {'; '.join(parts)}. Betroffene Spalten: "
            f"{', '.join(self.columns)}. Die Regel wird {who}."
        )


class TotalCheck(StrictModel):
    """A total whose parts must add up (checked by the suite on a helper column)."""

    column: str = Field(pattern=SNAKE_CASE)
    parts: list[str] = Field(min_length=2)
    helper: str = Field(pattern=HELPER_NAME, description="Helper column with the sum.")


class SequenceCheck(StrictModel):
    """Steps between consecutive values (e.g. years), for 'contiguous' rules."""

    column: str = Field(pattern=SNAKE_CASE)
    within: list[str] = Field(default_factory=list, description="Columns that group the rows.")
    helper: str = Field(
        pattern=HELPER_NAME,
        description="Helper column: difference to the previous value in the group "
        "(empty for the first).",
    )


class StatisticsTablesSource(FileSource, TextInput, ArchiveLimits):
    """Tables of the statistics office and department reports, made for print.

    The options describe the layout so that a new yearbook table needs only YAML:
    which headings name which columns, what the markers mean, which rows are notes
    or summaries, whether one column per year/variant becomes rows, and the
    confidentiality rule.
    """

    family: Literal["statistics_tables"]
    sheet: str | int | None = Field(
        None, description="Excel: sheet name or 0-based index (default: the first)."
    )
    header_rows: int = Field(
        1, ge=1, le=5, description="Heading lines above the data (merged cells count)."
    )
    decimal: Literal[",", "."] = ","
    markers: list[Marker] = Field(default_factory=lambda: list(DEFAULT_MARKERS))
    note_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NOTE_PATTERNS),
        description="Rows whose first text matches are footnotes/sources, not data.",
    )
    summary_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SUMMARY_PATTERNS),
        description="Rows whose first text matches are sums or changes, not data.",
    )
    end_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_END_PATTERNS),
        description="A row whose first text matches ends the table (legend below).",
    )
    fields: list[TableField] = Field(min_length=1)
    wide_to_long: WideToLong | None = None
    sections: Sections | None = None
    privacy: Privacy | None = None
    totals: list[TotalCheck] = Field(default_factory=list)
    sequences: list[SequenceCheck] = Field(default_factory=list)
    drop_duplicates: bool = Field(
        False,
        description="Rows equal in every published column are kept once (e.g. the "
        "whole-city column repeated in every district file).",
    )
    sort_by: list[str] = Field(default_factory=list, description="Published order of rows.")

    @field_validator("note_patterns", "summary_patterns", "end_patterns")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @model_validator(mode="after")
    def _consistent(self) -> StatisticsTablesSource:
        symbols = [m.symbol for m in self.markers]
        if len(symbols) != len(set(symbols)):
            raise ValueError(f"marker symbols are not unique: {symbols}")
        if self.wide_to_long and len(self.wide_to_long.levels) != self.header_rows:
            raise ValueError("wide_to_long.levels needs one entry per header row")
        if self.header_rows > 1 and not self.wide_to_long:
            raise ValueError("several header rows need wide_to_long (one level per row)")
        columns = self.published_columns()
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"published columns are not unique: {duplicates}")
        counts = {f.name for f in self.value_fields() if f.type == "integer" and f.status}
        if self.privacy and not set(self.privacy.columns) <= counts:
            raise ValueError("privacy.columns must be integer columns with a status column")
        if self.sections and not any(f.type == "text" for f in self.fields):
            raise ValueError("sections need a text field (the label column)")
        for total in self.totals:
            if not {total.column, *total.parts} <= set(columns):
                raise ValueError(f"totals: unknown column in {total.column}")
        for sequence in self.sequences:
            if not {sequence.column, *sequence.within} <= set(columns):
                raise ValueError(f"sequences: unknown column in {sequence.column}")
        if not set(self.sort_by) <= set(columns):
            raise ValueError("sort_by names a column the table does not publish")
        return self

    def value_fields(self) -> list[TableField]:
        """Numeric published columns (the fields, plus the long table's value)."""
        fields = [f for f in self.fields if f.type in ("integer", "number")]
        if self.wide_to_long:
            fields.append(self.wide_to_long.value)
        return fields

    def published_columns(self) -> list[str]:
        """Every column the family publishes for these options (unordered contract)."""
        columns: list[str] = []
        for table_field in self.fields:
            columns.append(table_field.name)
            if table_field.status:
                columns.append(table_field.status)
        if self.wide_to_long:
            for level in self.wide_to_long.levels:
                columns.append(level.name)
                if level.code:
                    columns.append(level.code.name)
            columns.append(self.wide_to_long.value.name)
            if self.wide_to_long.value.status:
                columns.append(self.wide_to_long.value.status)
        if self.sections:
            s = self.sections
            columns.extend(c for c in (s.section, s.group, s.source, s.as_of, s.note) if c)
        return columns

    def helper_columns(self) -> list[str]:
        """Columns the suite sees but users do not."""
        return [t.helper for t in self.totals] + [s.helper for s in self.sequences]

    def package_notes(self) -> list[str]:
        """Paragraphs for the package description: markers and confidentiality."""
        notes = []
        if self.markers and any(f.status for f in self.value_fields()):
            legend = "; ".join(
                f"„{m.symbol}“ = {m.meaning} (Status „{m.status}“"
                + (", Wert leer)" if m.value is None else f", Wert {m.value:g})")
                for m in self.markers
            )
            notes.append(f"Zeichen in der Quelle: {legend}.")
        if self.privacy:
            notes.append(self.privacy.describe())
        return notes


# ------------------------------------------------------------------- geodata

GEODATA_SUFFIXES = [".zip", ".gpkg", ".geojson", ".json", ".shp", ".kml", ".kmz", ".gpx"]


class GeodataSource(FileSource, ArchiveLimits):
    """Vector geodata (surveying and cadastre office): Shapefile (zipped or not),
    GeoPackage, GeoJSON, KML/KMZ or GPX; one layer per file, published in WGS84."""

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

    @field_validator("expected_crs")
    @classmethod
    def _known_crs(cls, value: list[str]) -> list[str]:
        for crs in value:
            if not re.fullmatch(r"EPSG:\d{4,5}", crs):
                raise ValueError(f"CRS {crs!r} must be written as EPSG:<code>")
        return value


Source = Annotated[
    FirstNamesSource | StatisticsTablesSource | GeodataSource, Field(discriminator="family")
]


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


class DropZone(StrictModel):
    """What a file dropped into the dataset's watched folder means (see ``etl/dropzone.py``)."""

    mode: Literal["replace", "add"] = Field(
        default="replace",
        description="'replace': a dropped file is the complete new input of the dataset. "
        "'add': it joins the current input set (the inputs of the last successful "
        "publish) and replaces the member with the same partition key (first names: "
        "year and gender from the file name; default: the file name).",
    )


DEFAULT_SCHEDULE = "0 6 * * 5"
"""Update runs: Fridays 06:00 Europe/Berlin (#stayuptodata), unless a dataset says otherwise."""


class Dataset(StrictModel):
    """One registry entry."""

    id: str
    schedule: str | None = Field(
        DEFAULT_SCHEDULE,
        description="Cron expression in Europe/Berlin time (default: Fridays 06:00, the "
        "team's weekly update day), or null for runs only on demand.",
    )
    owner: str = Field(min_length=2)
    retries: int = Field(2, ge=0, le=10)
    retry_delay_minutes: int = Field(5, ge=1)
    release: Literal["public", "queued"] = Field(
        "public",
        description="'queued': built, validated and kept private on the portal until the "
        "Wednesday release (harvest_release) makes it public; once released, the release "
        "record in the ledger wins over this value (switch it to 'public' when convenient).",
    )
    release_order: int | None = Field(
        None,
        ge=1,
        description="Position in the release queue: lower goes first; datasets without one "
        "follow, first come first served (oldest first successful build first), then by id.",
    )
    source: Source
    organization: Organization
    package: Package
    columns: list[Column] = Field(min_length=1)
    resources: list[Resource] = Field(min_length=1)
    dropzone: DropZone = Field(default_factory=lambda: DropZone())

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


@lru_cache(maxsize=4096)
def _load_file(path: Path, mtime_ns: int, size: int) -> Dataset:
    return load_dataset_file(path)


def _dataset(path: Path) -> Dataset:
    """:func:`load_dataset_file`, read once per process while the file is unchanged."""
    stat = path.stat()
    return _load_file(path, stat.st_mtime_ns, stat.st_size)


def _dataset_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError(f"registry folder {directory} does not exist")
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("_"))


@lru_cache(maxsize=8)
def _load_registry(directory: Path) -> dict[str, Dataset]:
    datasets: dict[str, Dataset] = {}
    for path in _dataset_files(directory):
        dataset = _dataset(path)
        datasets[dataset.id] = dataset
    return datasets


FAMILIES: tuple[str, ...] = tuple(
    get_args(model.model_fields["family"].annotation)[0] for model in get_args(get_args(Source)[0])
)
"""The source families (``source.family``); ``dags/`` has one DAG file per family."""

# In a double-quoted YAML scalar, \x.. \u.... \U........ and an escaped line break can
# spell a family name without its plain text.
_SPELLING_ESCAPES = re.compile(r"\\[xuU\r\n]")


def _of_other_families(text: str, family: str) -> bool:
    """Whether a registry file's text shows that it belongs to a family other than ``family``.

    ``source.family`` is a YAML scalar, so a file of ``family`` holds that name as text
    (an alias repeats the text of its anchor in the same file) unless an escape
    sequence spells it, and then the file is not judged by its text.
    """
    if family in text or _SPELLING_ESCAPES.search(text):
        return False
    return any(other in text for other in FAMILIES if other != family)


def load_registry(directory: Path | None = None) -> dict[str, Dataset]:
    """All registered datasets by id, sorted by id."""
    return dict(_load_registry((directory or registry_dir()).resolve()))


def load_family(family: str, directory: Path | None = None) -> dict[str, Dataset]:
    """The registered datasets of one source family by id, sorted by id.

    For DAG parsing, where each family's DAG file is parsed in a process of its own:
    a file whose text names other families but not this one is left to their DAG files
    and not parsed here. Every other file is read and validated as by
    :func:`load_registry`, so a broken entry fails at least its family's DAG file, and
    an entry of an unknown family fails every family's DAG file.

    Raises:
        ConfigError: ``family`` is unknown, or a file read is invalid (as
            :func:`load_registry`).
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown source family {family!r} (known: {', '.join(FAMILIES)})")
    datasets: dict[str, Dataset] = {}
    for path in _dataset_files((directory or registry_dir()).resolve()):
        if _of_other_families(path.read_text(encoding="utf-8"), family):
            continue
        dataset = _dataset(path)
        if dataset.family == family:
            datasets[dataset.id] = dataset
    return datasets


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
