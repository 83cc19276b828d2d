"""Vector geodata, e.g. of the surveying and cadastre office (Vermessungs- und Katasteramt).

Inputs are zipped or plain Shapefiles, GeoPackages, GeoJSON, KML/KMZ and GPX files,
one layer per file. Whatever the input, the tidy table is a GeoDataFrame in WGS84 (EPSG:4326,
longitude/latitude) with the documented attributes; renderers in
:mod:`etl.geoformats` write the published formats from it.

What arrives, and how it is handled:

* **CRS.** Read from the file (``.prj``, GeoPackage SRS, GeoJSON ``crs`` member;
  GeoJSON without one is WGS84 by RFC 7946). A file without a CRS, or with one the
  registry does not list in ``expected_crs``, is refused as unusable input
  (:class:`~etl.errors.InputError`, exit 2): the coordinates cannot be interpreted,
  just as text in an unknown encoding cannot, and nothing is ever guessed. The same
  holds for "WGS84" coordinates beyond ±180°/±90° (projected metres without a CRS).
* **Attribute encoding.** A Shapefile's ``.cpg`` or DBF language id decides; without
  either, the registry's ``attribute_encoding`` does (``auto``: UTF-8 if the DBF is
  valid UTF-8, else Windows-1252, the encoding of German ArcGIS exports). GDAL on its
  own would read such a DBF as ISO-8859-1 and lose ``€`` and typographic quotes.
* **Zips** (and KMZ) are unpacked into a temporary folder with path and size checks
  (:mod:`etl.archives`); a Shapefile without ``.shx`` or ``.dbf`` is refused.
* **Content before GDAL.** GDAL picks its driver by content, not by name: a
  ``.geojson`` that really is an OGR VRT makes GDAL read any file the VRT names
  (``/etc/passwd``). So the content must match the ending (JSON object, SQLite
  header, Shapefile magic number, KML/GPX root element) before GDAL opens a file,
  and the driver GDAL then uses must be the one of the ending. Every XML file (KML,
  GPX, the ``*.shp.xml`` metadata in Shapefile zips, the KML in a KMZ) is first
  scanned with defusedxml, DTDs forbidden (:mod:`etl.xmlsafety`).
* **KML and GPX** are WGS84 by definition. The feature name (``<name>``) fills the
  registry's ``name_column`` when the file has no attribute of that name; GDAL names
  GPX ``<extensions>`` elements ``<prefix>_<element>`` (``ogr_standort``), which match
  without the prefix. GDAL reads number-like GPX extension values as numbers, so a
  code such as ``01`` arrives as ``1`` (reported by the suite, never padded here).
* **Geometry checks.** The transform reprojects (vectorized, pyproj through
  geopandas) and adds helper columns that the dataset's suite checks with standard
  expectations, so the suite file states the rules: ``_geometry_type`` (null when the
  geometry is missing), ``_geometry_empty``, ``_geometry_invalid_reason`` (null when
  valid, else GEOS' reason in German) and the WGS84 bounds ``_minx`` … ``_maxy``
  (the city's extent catches swapped axes and wrong CRS). Invalid geometries are
  repaired only if the registry sets ``allow_repair``; repairs are logged as
  warnings and listed in ``notes["repairs"]``. A swapped axis order is diagnosed
  here as a problem of its own.

Problems use the feature number (1-based, in file order) as ``row``; the column of
every geometry check is shown as ``Geometrie``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etl import filetypes
from etl.archives import copy_into, extract_zip
from etl.errors import InputError, Problem
from etl.numbers import parse_number
from etl.readers import check_input_file, normalize_header, sha256_file
from etl.registry import Column, Dataset, GeodataSource
from etl.sources.base import InputFile, Tidy
from etl.xmlsafety import check_xml_file, is_xml_name

if TYPE_CHECKING:
    import geopandas as gpd
    from pyproj import CRS

log = logging.getLogger(__name__)

TARGET_CRS = "EPSG:4326"
GEOMETRY_LABEL = "Geometrie"
"""How geometry checks name the column in reports (a clerk never sees ``_minx``)."""

HELPER_COLUMNS = (
    "_geometry_type",
    "_geometry_empty",
    "_geometry_invalid_reason",
    "_minx",
    "_miny",
    "_maxx",
    "_maxy",
)
"""Unpublished facts about each geometry, in WGS84, for the dataset's suite."""

READABLE_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".kml", ".gpx")
ARCHIVE_SUFFIXES = (".zip", ".kmz")

DRIVERS: dict[str, frozenset[str]] = {
    ".shp": frozenset({"ESRI Shapefile"}),
    ".gpkg": frozenset({"GPKG"}),
    ".geojson": frozenset({"GeoJSON"}),
    ".json": frozenset({"GeoJSON"}),
    ".kml": frozenset({"LIBKML", "KML"}),
    ".gpx": frozenset({"GPX"}),
}
"""The GDAL drivers a file with this ending may be read with (GDAL itself goes by
content: without this, a '.geojson' could be read as an OGR VRT)."""

FORMAT_NAMES = {
    ".shp": "ein Shapefile",
    ".gpkg": "ein GeoPackage (SQLite)",
    ".geojson": "GeoJSON (ein JSON-Objekt)",
    ".json": "GeoJSON (ein JSON-Objekt)",
    ".kml": "KML",
    ".gpx": "GPX",
}

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SHP_MAGIC = b"\x00\x00\x27\x0a"

# The attributes GDAL's GPX driver reports for waypoints, routes and tracks; other
# fields come from <extensions> and carry a namespace prefix.
_GPX_FIELDS = frozenset(
    {
        "ele", "time", "magvar", "geoidheight", "name", "cmt", "desc", "src", "sym", "type",
        "fix", "sat", "hdop", "vdop", "pdop", "ageofdgpsdata", "dgpsid", "number",
    }
)  # fmt: skip
_GPX_LAYERS = ("waypoints", "routes", "tracks")

# A box around Germany: only used to recognise swapped axes, not as a rule.
_GERMANY = (5.5, 47.0, 15.5, 55.5)

_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
        None,
    ],
    dtype=object,
)

# GEOS' validity reasons, German for the department.
_REASONS = {
    "self-intersection": "Selbstüberschneidung",
    "ring self-intersection": "Ring berührt oder schneidet sich selbst",
    "too few points in geometry component": "zu wenige Punkte",
    "hole lies outside shell": "Loch liegt außerhalb der Außengrenze",
    "nested holes": "Loch liegt in einem anderen Loch",
    "interior is disconnected": "Fläche zerfällt in getrennte Teile",
    "nested shells": "Teilfläche liegt in einer anderen Teilfläche",
    "duplicate rings": "doppelter Ring",
    "invalid coordinate": "ungültige Koordinate (NaN oder unendlich)",
    "ring is not closed": "Ring ist nicht geschlossen",
}
_REASON = re.compile(r"^(?P<what>[^\[]+?)\s*(?:\[(?P<x>\S+) (?P<y>\S+)(?: \S+)?\])?$")

_TRUE = {"1", "true", "wahr", "ja", "j", "yes", "y", "x"}
_FALSE = {"0", "false", "falsch", "nein", "n", "no", ""}


@dataclass
class RawLayer:
    """One input file's layer as read: attributes and geometry in the file's CRS."""

    source: str
    sha256: str
    frame: Any  # geopandas.GeoDataFrame (kept untyped: geopandas has no type hints)
    crs: str
    driver: str
    layer: str
    encoding: str | None = None


# --------------------------------------------------------------------------- extract


def extract(dataset: Dataset, paths: Sequence[Path]) -> list[RawLayer]:
    """Read every file's layer (InputError if a file is unusable)."""
    source = dataset.source
    assert isinstance(source, GeodataSource)
    return [read_layer(path, source) for path in paths]


def read_layer(path: Path, source: GeodataSource) -> RawLayer:
    """Read one input file: unpack if zipped, find its layer, check its CRS.

    The input is never written to: zips are unpacked and other files (a Shapefile
    with its sibling parts) copied into a temporary folder before GDAL opens them
    (SQLite may create journal files next to a GeoPackage even when reading).

    Raises:
        InputError: unreadable, unsafe zip, incomplete Shapefile, no or several
            layers, attributes not decodable, CRS missing or not the expected one.
    """
    name = path.name
    check_input_file(path, max_bytes=source.max_bytes)
    try:
        sha256 = sha256_file(path)  # chunked: geodata can be hundreds of MB
    except OSError as exc:
        raise InputError(f"Datei nicht lesbar: {exc.strerror}", file=name) from None
    with tempfile.TemporaryDirectory(prefix="harvest-geo-") as tmp:
        work = Path(tmp)
        suffix = path.suffix.lower()
        if suffix in ARCHIVE_SUFFIXES:
            files = extract_zip(
                path,
                work,
                max_bytes=source.max_uncompressed_bytes,
                max_ratio=source.max_compression_ratio,
            )
            target = _pick_dataset(files, source.layer, name=name)
        elif suffix == ".shp":
            target = copy_into(path, work)
            files = [target]
            for sibling in path.parent.glob(f"{glob_escape(path.stem)}.*"):
                if sibling != path and sibling.is_file():
                    files.append(copy_into(sibling, work))
        else:
            target = copy_into(path, work)
            files = [target]
        # every XML file, also the ones GDAL reads on the side (*.shp.xml metadata)
        for file in files:
            if is_xml_name(file.name) and file != target:
                check_xml_file(file, file=name, part=_part(file, work, path))
        _check_content(target, name=name, part=_part(target, work, path))
        if target.suffix.lower() == ".shp":
            _check_shapefile_parts(target, name=name)
        return _read(target, source, name=name, sha256=sha256)


def _part(file: Path, work: Path, delivered: Path) -> str | None:
    """The name of ``file`` inside the delivered archive (None for the delivered file)."""
    if delivered.suffix.lower() not in ARCHIVE_SUFFIXES:
        return None if file.name == delivered.name else file.name
    return file.relative_to(work).as_posix()


def _check_content(target: Path, *, name: str, part: str | None) -> None:
    """InputError unless the content of ``target`` is what its ending says.

    KML and GPX are scanned completely (:func:`etl.xmlsafety.check_xml_file`); the
    other formats by their first bytes.
    """
    suffix = target.suffix.lower()
    where = f"{part}: " if part else ""
    if suffix in (".kml", ".gpx"):
        root = check_xml_file(target, file=name, part=part)
        expected = suffix.removeprefix(".")
        if root.casefold() != expected:
            raise InputError(
                f"{where}das ist kein {FORMAT_NAMES[suffix]}: das XML-Wurzelelement ist "
                f"<{root}>, erwartet <{expected}>",
                file=name,
            )
        return
    head = filetypes.read_head(target)
    if suffix in (".geojson", ".json"):
        fits = filetypes.looks_like_json(head)
    elif suffix == ".gpkg":
        fits = head.startswith(_SQLITE_MAGIC)
    elif suffix == ".shp":
        fits = head.startswith(_SHP_MAGIC)
    else:
        return
    if fits:
        return
    signature = filetypes.identify(head)
    if signature is not None:
        what = signature.description
    elif filetypes.looks_like_xml(head):
        what = "XML"
    else:
        what = "Text oder unbekannte Daten"
    raise InputError(
        f"{where}der Inhalt passt nicht zur Endung {suffix}: die Datei ist {what}, erwartet "
        f"{FORMAT_NAMES[suffix]}; bitte die Datei im richtigen Format bzw. mit der richtigen "
        "Endung liefern",
        file=name,
    )


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped (file names may contain ``[``)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _pick_dataset(files: list[Path], layer: str | None, *, name: str) -> Path:
    candidates = sorted(
        f
        for f in files
        if f.suffix.lower() in READABLE_SUFFIXES
        and "__MACOSX" not in f.parts
        and not f.name.startswith(".")
    )
    if layer is not None and len(candidates) > 1:
        named = [f for f in candidates if f.stem.casefold() == layer.casefold()]
        if len(named) == 1:
            return named[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        found = ", ".join(sorted(f.name for f in files)) or "nichts"
        raise InputError(
            f"die ZIP-Datei enthält keine Geodaten (gefunden: {found}); erwartet wird ein "
            "Shapefile (.shp mit .shx, .dbf, .prj), eine GeoPackage-, GeoJSON-, KML- oder "
            "GPX-Datei",
            file=name,
        )
    raise InputError(
        "die ZIP-Datei enthält mehrere Geodatensätze ("
        + ", ".join(f.name for f in candidates)
        + "); bitte je Lieferung genau einen packen (oder 'layer' im Register angeben)",
        file=name,
    )


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in path.parent.iterdir():
        if candidate.stem == path.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def _check_shapefile_parts(shp: Path, *, name: str) -> None:
    parts = {".shx": "Index der Geometrien", ".dbf": "Sachdaten (Attribute)"}
    for suffix, meaning in parts.items():
        if _sibling(shp, suffix) is None:
            raise InputError(
                f"Shapefile unvollständig: zu {shp.name} fehlt {shp.stem}{suffix} ({meaning}); "
                "bitte alle Teile (.shp, .shx, .dbf, .prj, möglichst .cpg) gemeinsam liefern",
                file=name,
            )
    prj = _sibling(shp, ".prj")
    if prj is None or not prj.read_bytes().strip():
        raise InputError(
            f"kein Koordinatensystem: zu {shp.name} fehlt die Datei {shp.stem}.prj (oder sie "
            "ist leer); das Koordinatensystem wird nicht geraten – bitte die .prj mitliefern",
            file=name,
        )


def shapefile_encoding(shp: Path, option: str) -> str | None:
    """The encoding to read a Shapefile's attributes with; None lets GDAL decide.

    GDAL decides when a ``.cpg`` file or a DBF language id (byte 29) states the
    encoding. Otherwise ``option`` does; ``auto`` means UTF-8 if the DBF's records
    are valid UTF-8, else Windows-1252.
    """
    if _sibling(shp, ".cpg") is not None:
        return None
    dbf = _sibling(shp, ".dbf")
    assert dbf is not None
    data = dbf.read_bytes()
    if len(data) > 29 and data[29] != 0:
        return None
    if option != "auto":
        return option
    header_length = int.from_bytes(data[8:10], "little") if len(data) >= 10 else 0
    try:
        data[header_length:].decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _read(target: Path, source: GeodataSource, *, name: str, sha256: str) -> RawLayer:
    import pyogrio
    from pyogrio import errors as ogr_errors

    readable = (
        ogr_errors.DataSourceError,
        ogr_errors.DataLayerError,
        ogr_errors.FieldError,
        ogr_errors.GeometryError,
        ogr_errors.CRSError,
    )
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(target)]
        if target.suffix.lower() == ".gpx":
            # GDAL always lists all five GPX layers; only the filled ones are deliveries
            layers = [
                layer
                for layer in _GPX_LAYERS
                if layer in layers
                and pyogrio.read_info(target, layer=layer, force_feature_count=True)["features"]
            ]
    except readable as exc:
        raise InputError(
            f"keine lesbare Geodatendatei (GDAL: {_gdal_message(exc, target)}); erwartet: "
            "Shapefile, GeoPackage, GeoJSON, KML oder GPX",
            file=name,
        ) from None
    if source.layer is not None and source.layer in layers:
        layer = source.layer
    elif len(layers) == 1:
        layer = layers[0]
    elif not layers:
        raise InputError("die Datei enthält keine Ebene (Layer) mit Geodaten", file=name)
    else:
        raise InputError(
            f"die Datei enthält mehrere Ebenen ({', '.join(layers)}); welche veröffentlicht "
            "wird, muss im Register stehen ('layer')",
            file=name,
        )

    encoding = (
        shapefile_encoding(target, source.attribute_encoding)
        if target.suffix.lower() == ".shp"
        else None
    )
    try:
        info = pyogrio.read_info(target, layer=layer, encoding=encoding)
        driver = str(info.get("driver") or "")
        allowed = DRIVERS.get(target.suffix.lower(), frozenset())
        if driver not in allowed:
            raise InputError(
                f"GDAL liest die Datei als {driver or 'unbekanntes Format'}, erwartet "
                f"{FORMAT_NAMES.get(target.suffix.lower(), target.suffix)}; sie wird aus "
                "Sicherheitsgründen nicht gelesen",
                file=name,
            )
        # not the Arrow path: it passes undecodable attribute bytes on instead of failing
        frame = pyogrio.read_dataframe(target, layer=layer, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"Sachdaten nicht als {encoding or 'UTF-8'} lesbar (Byte 0x{exc.object[exc.start]:02x})"
            "; bitte die Kodierung in einer .cpg-Datei angeben oder als UTF-8 exportieren",
            file=name,
        ) from None
    except readable as exc:
        raise InputError(
            f"Geodaten nicht lesbar (GDAL: {_gdal_message(exc, target)})", file=name
        ) from None
    if "geometry" not in frame.columns or not hasattr(frame, "crs"):
        raise InputError(f"die Ebene {layer!r} enthält keine Geometrien", file=name)
    crs = _check_crs(frame, source, name=name)
    return RawLayer(
        source=name,
        sha256=sha256,
        frame=frame,
        crs=crs,
        driver=driver,
        layer=layer,
        encoding=encoding or info.get("encoding"),
    )


def _gdal_message(exc: Exception, target: Path) -> str:
    """GDAL's message without the temporary path and its generic advice.

    A position GDAL names (``At line 1, character 63: …``, GeoJSON syntax errors)
    is kept: it tells the department where the file is broken.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.replace(f"'{target}' ", "").replace(str(target), target.name)
    first, *rest = text.split(";")
    positions = [
        _AT_LINE.sub(_german_position, r.strip()) for r in rest if _AT_LINE.match(r.strip())
    ]
    return first.rstrip(".") + (f"; {positions[0]}" if positions else "")


_AT_LINE = re.compile(r"^At line (\d+), character (\d+)")


def _german_position(match: re.Match[str]) -> str:
    return f"Zeile {match[1]}, Zeichen {match[2]}"


def describe_crs(crs: CRS) -> str:
    """``ETRS89 / UTM zone 32N (EPSG:25832)`` or the CRS' name if it has no code."""
    code = crs.to_epsg(min_confidence=90)
    return f"{crs.name} (EPSG:{code})" if code else str(crs.name)


def _check_crs(frame: gpd.GeoDataFrame, source: GeodataSource, *, name: str) -> str:
    from pyproj import CRS

    crs = frame.crs
    expected = " oder ".join(source.expected_crs) or "ein angegebenes Koordinatensystem"
    if crs is None:
        raise InputError(
            "die Datei gibt kein Koordinatensystem an; es wird nicht geraten – erwartet: "
            f"{expected}",
            file=name,
        )
    if source.expected_crs and not any(
        _same_crs(crs, CRS.from_user_input(code)) for code in source.expected_crs
    ):
        raise InputError(
            f"Koordinatensystem {describe_crs(crs)} ist für diesen Datensatz nicht vorgesehen; "
            f"erwartet: {expected}. Bitte im richtigen System exportieren (oder, wenn die "
            "Angabe in der Datei falsch ist, die .prj korrigieren)",
            file=name,
        )
    minx, miny, maxx, maxy = frame.total_bounds if len(frame) else (np.nan,) * 4
    degrees = -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    if crs.is_geographic and np.isfinite([minx, miny, maxx, maxy]).all() and not degrees:
        raise InputError(
            f"laut Datei sind die Koordinaten Länge/Breite ({describe_crs(crs)}), die Werte "
            f"({minx:.0f} … {maxx:.0f}, {miny:.0f} … {maxy:.0f}) sind aber keine "
            "Gradangaben; vermutlich Meter (z. B. UTM) ohne Angabe des Koordinatensystems",
            file=name,
        )
    return describe_crs(crs)


def _same_crs(crs: CRS, expected: CRS) -> bool:
    if crs.equals(expected, ignore_axis_order=True):
        return True
    code = crs.to_epsg(min_confidence=90)
    return code is not None and code == expected.to_epsg()


def save_raws(raws: list[RawLayer], directory: Path) -> list[Path]:
    """Persist raw layers as GeoParquet (CRS included) with a JSON side file each."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, raw in enumerate(raws):
        path = directory / f"raw-{index:03d}.parquet"
        raw.frame.to_parquet(path, index=False)
        meta = {f.name: getattr(raw, f.name) for f in fields(raw) if f.name != "frame"}
        path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        paths.append(path)
    return paths


def load_raws(paths: Sequence[Path]) -> list[RawLayer]:
    """Inverse of :func:`save_raws`."""
    import geopandas as gpd

    raws = []
    for path in paths:
        meta = json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))
        raws.append(RawLayer(frame=gpd.read_parquet(path), **meta))
    return raws


# --------------------------------------------------------------------------- transform


def transform(dataset: Dataset, raws: list[RawLayer]) -> Tidy:
    """Build the tidy GeoDataFrame: documented attributes, geometry in WGS84, helpers.

    Features are sorted by the registry's ``id_column`` (then file and feature
    number), so the same features give the same output whatever the input format.
    """
    import geopandas as gpd

    source = dataset.source
    assert isinstance(source, GeodataSource)
    problems: list[Problem] = []
    headers: dict[str, dict[str, str]] = {}
    repairs: list[dict[str, Any]] = []
    parts = []
    for raw in raws:
        part = _transform_one(dataset, source, raw, problems, headers, repairs)
        if part is not None:
            parts.append(part)
    order = [c.name for c in dataset.columns]
    if parts:
        frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=TARGET_CRS)
    else:
        frame = _empty_frame(dataset)
    sort_by = ([source.id_column] if source.id_column else []) + ["_file", "_line"]
    frame = frame.sort_values(sort_by, na_position="first", kind="mergesort").reset_index(drop=True)
    frame = frame[[*order, "geometry", *HELPER_COLUMNS, "_file", "_line"]]
    notes: dict[str, Any] = {"headers": headers, "package": {}}
    spatial = spatial_extent(frame)
    if spatial is not None:
        notes["package"]["spatial"] = spatial
    if repairs:
        notes["repairs"] = repairs
    notes["crs"] = {raw.source: raw.crs for raw in raws}
    return Tidy(
        frame=frame,
        problems=problems,
        inputs=[InputFile(raw.source, raw.sha256) for raw in raws],
        notes=notes,
    )


def _empty_frame(dataset: Dataset) -> gpd.GeoDataFrame:
    import geopandas as gpd

    dtypes: dict[str, Any] = {c.name: _DTYPES[c.type] for c in dataset.columns} | {
        "_geometry_type": "string",
        "_geometry_empty": bool,
        "_geometry_invalid_reason": "string",
        "_minx": float,
        "_miny": float,
        "_maxx": float,
        "_maxy": float,
        "_file": "string",
        "_line": "Int64",
    }
    columns = {name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()}
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=TARGET_CRS), crs=TARGET_CRS)


_DTYPES = {
    "string": "string",
    "integer": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "date": "string",
}


def _transform_one(
    dataset: Dataset,
    source: GeodataSource,
    raw: RawLayer,
    problems: list[Problem],
    headers: dict[str, dict[str, str]],
    repairs: list[dict[str, Any]],
) -> pd.DataFrame | None:
    file = raw.source
    fields = [str(c) for c in raw.frame.columns if c != raw.frame.geometry.name]
    keys = {f: _field_keys(f, raw.driver) for f in fields}
    mapping: dict[str, str] = {}
    for column in dataset.columns:
        wanted = {column.name} | {
            normalize_header(a) for a in source.attributes.get(column.name, [])
        }
        matches = [f for f in fields if keys[f] & wanted]
        if not matches and column.name == source.name_column and raw.driver in _NAMED_DRIVERS:
            # KML and GPX carry the feature name in <name>, not in an attribute
            matches = [f for f in fields if normalize_header(f) == "name"]
        if len(matches) > 1:
            problems.append(
                Problem(
                    check="Attribute",
                    message=f"mehrere Attribute passen zu '{column.name}': {', '.join(matches)}",
                    file=file,
                    column=column.name,
                    found=", ".join(fields),
                    expected="jedes Attribut nur einmal",
                )
            )
            return None
        if matches:
            mapping[column.name] = matches[0]
    missing = [c.name for c in dataset.columns if c.name not in mapping]
    if missing:
        problems.append(
            Problem(
                check="Attribute",
                message="Pflichtattribut fehlt: " + ", ".join(missing),
                file=file,
                column=", ".join(missing),
                found=", ".join(fields) or "(keine Attribute)",
                expected="Attribute " + ", ".join(c.name for c in dataset.columns),
            )
        )
        return None
    unused = [f for f in fields if f not in mapping.values()]
    if unused:
        log.info("%s: attributes not published: %s", file, ", ".join(unused))
    headers[file] = {published: header for published, header in mapping.items()} | {
        helper: GEOMETRY_LABEL for helper in HELPER_COLUMNS
    }

    lines = np.arange(1, len(raw.frame) + 1)
    columns: dict[str, Any] = {}
    for column in dataset.columns:
        values = raw.frame[mapping[column.name]]
        columns[column.name] = _convert(values, column, mapping[column.name], file, lines, problems)
    geometry = _geometry(raw, source, problems, repairs)
    columns |= geometry
    columns["_file"] = pd.array([file] * len(lines), dtype="string")
    columns["_line"] = pd.array(lines, dtype="Int64")
    return pd.DataFrame(columns)


_NAMED_DRIVERS = frozenset({"LIBKML", "KML", "GPX"})


def _field_keys(field: str, driver: str) -> set[str]:
    """The names an input field matches: its own, and for GPX extensions without prefix."""
    key = normalize_header(field)
    if driver == "GPX" and key not in _GPX_FIELDS and "_" in key and not key.startswith("link"):
        return {key, key.split("_", 1)[1]}
    return {key}


# ------------------------------------------------------------------ attribute values


def _convert(
    values: pd.Series,
    column: Column,
    header: str,
    file: str,
    lines: np.ndarray,
    problems: list[Problem],
) -> Any:
    """Attribute values as the documented type; unparseable cells become problems."""
    values = values.reset_index(drop=True)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        # a blank cell is a missing value, whatever the type
        values = values.map(_blank_to_none, na_action="ignore")
    present = values.notna().to_numpy()
    if column.type == "string" or column.type == "date":
        text = values.map(_as_text, na_action="ignore").astype("string").str.strip()
        text = text.mask(text == "")
        if column.type == "string":
            return text.array
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=True)
        _report(text.notna() & parsed.isna(), text, column, header, file, lines, problems)
        return parsed.dt.strftime("%Y-%m-%d").astype("string").array
    if column.type == "boolean":
        folded = values.map(lambda v: str(v).strip().casefold(), na_action="ignore")
        result = pd.array([pd.NA] * len(values), dtype="boolean")
        result[folded.isin(_TRUE).to_numpy()] = True
        result[(folded.isin(_FALSE) & values.notna()).to_numpy()] = False
        unknown = values.notna() & ~folded.isin(_TRUE | _FALSE)
        _report(unknown, values, column, header, file, lines, problems)
        return result
    numeric = pd.api.types.is_numeric_dtype(values.dtype)
    if numeric and not pd.api.types.is_bool_dtype(values.dtype):
        floats = values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    else:
        floats = np.array(
            [_parse_number(v) if p else np.nan for v, p in zip(values, present, strict=True)],
            dtype=float,
        )
    bad = present & ~np.isfinite(floats)
    if column.type == "integer":
        with np.errstate(invalid="ignore"):
            bad |= np.isfinite(floats) & (floats != np.round(floats))
    _report(bad, values, column, header, file, lines, problems)
    floats[bad] = np.nan
    if column.type == "integer":
        return pd.Series(np.round(floats)).astype("Int64").array
    return pd.array(floats, dtype="Float64")


def _blank_to_none(value: Any) -> Any:
    return (value.strip() or None) if isinstance(value, str) else value


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_number(value: Any) -> float:
    try:
        return float(parse_number(str(value)))
    except ValueError:
        return math.nan


_EXPECTED = {
    "integer": "eine ganze Zahl, z. B. 12",
    "number": "eine Zahl, z. B. 3,5",
    "boolean": "ja/nein, wahr/falsch oder 1/0",
    "date": "ein Datum, z. B. 31.12.2023 oder 2023-12-31",
}


def _report(
    bad: Any,
    values: pd.Series,
    column: Column,
    header: str,
    file: str,
    lines: np.ndarray,
    problems: list[Problem],
) -> None:
    for index in np.flatnonzero(np.asarray(bad, dtype=bool)):
        problems.append(
            Problem(
                check="Attributwert",
                message=f"'{header}' ist nicht lesbar als {column.type}",
                file=file,
                row=int(lines[index]),
                column=header,
                found=str(values.iloc[index]),
                expected=_EXPECTED.get(column.type, column.type),
            )
        )


# ------------------------------------------------------------------ geometry


def _geometry(
    raw: RawLayer,
    source: GeodataSource,
    problems: list[Problem],
    repairs: list[dict[str, Any]],
) -> dict[str, Any]:
    """WGS84 geometry and the helper columns, all vectorized."""
    import geopandas as gpd
    import shapely

    file = raw.source
    original = np.asarray(raw.frame.geometry.array, dtype=object)
    if shapely.has_z(original).any() or shapely.has_m(original).any():
        # heights are not part of any published format here; KML/GPX would misread them
        original = shapely.force_2d(original)
    series = gpd.GeoSeries(original, crs=raw.frame.crs).to_crs(TARGET_CRS)
    geoms = np.asarray(series.array, dtype=object)
    missing = shapely.is_missing(geoms)
    valid = shapely.is_valid(geoms) | missing
    reasons = np.full(len(geoms), None, dtype=object)
    invalid = np.flatnonzero(~valid)
    if invalid.size:
        german = [_german_reason(r) for r in shapely.is_valid_reason(geoms[invalid])]
        if source.allow_repair:
            geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure")
            for index, reason in zip(invalid, german, strict=True):
                log.warning(
                    "%s, Objekt %d: ungültige Geometrie repariert (%s)", file, index + 1, reason
                )
                repairs.append({"file": file, "row": int(index) + 1, "reason": reason})
            still = np.flatnonzero(~(shapely.is_valid(geoms) | missing))
            reasons[still] = [_german_reason(r) for r in shapely.is_valid_reason(geoms[still])]
        else:
            reasons[invalid] = german
    # 7 decimals (~1 cm) as published; reports then show 4.1, not 4.099999999999999
    bounds = np.round(shapely.bounds(geoms), 7)
    _diagnose_swapped_axes(raw, original, bounds, problems)
    type_ids = shapely.get_type_id(geoms)
    return {
        "geometry": gpd.GeoSeries(geoms, crs=TARGET_CRS).array,
        "_geometry_type": pd.array(_TYPE_NAMES[type_ids], dtype="string"),
        "_geometry_empty": shapely.is_empty(geoms) & ~missing,
        "_geometry_invalid_reason": pd.array(reasons, dtype="string"),
        "_minx": bounds[:, 0],
        "_miny": bounds[:, 1],
        "_maxx": bounds[:, 2],
        "_maxy": bounds[:, 3],
    }


def _german_reason(reason: str) -> str:
    match = _REASON.match(reason.strip())
    if not match:
        return reason
    what = _REASONS.get(match["what"].strip().casefold(), match["what"].strip())
    if match["x"] is None:
        return what
    try:
        x, y = float(match["x"]), float(match["y"])
    except ValueError:
        return what
    return f"{what} bei Länge {x:.6f}, Breite {y:.6f}"


def _inside(bounds: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.asarray(
            (bounds[:, 0] >= box[0])
            & (bounds[:, 2] <= box[2])
            & (bounds[:, 1] >= box[1])
            & (bounds[:, 3] <= box[3]),
            dtype=bool,
        )


def _diagnose_swapped_axes(
    raw: RawLayer, original: np.ndarray, bounds: np.ndarray, problems: list[Problem]
) -> None:
    """A problem for each feature outside Germany that lies inside with x and y swapped."""
    import geopandas as gpd
    import shapely

    finite = np.isfinite(bounds).all(axis=1)
    suspect = np.flatnonzero(finite & ~_inside(bounds, _GERMANY))
    if not suspect.size:
        return
    swapped_source = shapely.transform(original[suspect], lambda xy: xy[:, ::-1])
    swapped = gpd.GeoSeries(swapped_source, crs=raw.frame.crs).to_crs(TARGET_CRS)
    hits = _inside(shapely.bounds(np.asarray(swapped.array, dtype=object)), _GERMANY)
    for index in suspect[hits]:
        x, y = shapely.get_coordinates(original[index])[0]
        problems.append(
            Problem(
                check="Achsenreihenfolge",
                message="Koordinaten liegen außerhalb Deutschlands, mit vertauschten Achsen "
                "aber darin: Rechts- und Hochwert (bzw. Länge und Breite) sind vertauscht",
                file=raw.source,
                row=int(index) + 1,
                column=GEOMETRY_LABEL,
                found=f"erste Koordinate x={x:.6f}, y={y:.6f} ({raw.crs})",
                expected="x = Rechtswert bzw. Länge (Ost), y = Hochwert bzw. Breite (Nord)",
            )
        )


def spatial_extent(frame: gpd.GeoDataFrame, decimals: int = 6) -> dict[str, Any] | None:
    """The bounding box of all geometries as a GeoJSON Polygon (WGS84).

    Rounded outwards, so the box still contains every feature; the ring runs
    counter-clockwise (RFC 7946). None when there is no geometry.
    """
    import shapely

    bounds = shapely.bounds(np.asarray(frame.geometry.array, dtype=object))
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    if not len(bounds):
        return None
    scale = 10**decimals
    minx = math.floor(bounds[:, 0].min() * scale) / scale
    miny = math.floor(bounds[:, 1].min() * scale) / scale
    maxx = math.ceil(bounds[:, 2].max() * scale) / scale
    maxy = math.ceil(bounds[:, 3].max() * scale) / scale
    return {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
    }
