"""Rendering geodata: GeoJSON, KML, KMZ, GPX, GeoPackage, and the geometry of CSV/JSON.

The tidy frame is a GeoDataFrame in WGS84. Every format is written by GDAL's own
driver through pyogrio (no hand-written writers, no per-feature Python), and every
file is deterministic: the same frame gives the same bytes, so the content hash
decides whether the portal needs an upload.

Format decisions:

* **Coordinate precision.** WGS84 outputs carry 7 decimals (1e-7° ≈ 1.1 cm north–south,
  0.7 cm east–west in Düsseldorf): the cadastre's centimetre accuracy survives, float
  noise does not. GeoJSON lets GDAL round (``COORDINATE_PRECISION``); KML and GPX
  have no such option, so coordinates are rounded with numpy before writing.
* **GeoJSON**: RFC 7946 (``RFC7946=YES``): lon/lat, no ``crs`` member, exterior rings
  counter-clockwise. GDAL adds the foreign member ``xy_coordinate_resolution``.
* **KML** (Google Earth): GDAL's KML driver; the registry's ``name_column`` becomes
  ``<name>``, the other attributes ``ExtendedData``.
* **KMZ** is a zip holding ``doc.kml``. Written with :mod:`zipfile` rather than the
  LIBKML driver because the zip entry's timestamp must be fixed for stable bytes.
* **GPX** (GPS devices) exists for points (waypoints) and lines (tracks) only; asking
  for GPX of polygons is a registry mistake (:class:`~etl.errors.ConfigError`).
* **GeoPackage** in ETRS89 / UTM 32N (EPSG:25832) for GIS users: the official
  system in NRW, so no one has to reproject back. Chosen over a zipped Shapefile
  because it is one file, stores text as UTF-8 (no ``.cpg`` guessing), has no
  10-character limit on attribute names and no 2 GB limit. Coordinates rounded to
  millimetres. GDAL stamps ``gpkg_contents.last_change`` with the current time;
  ``OGR_CURRENT_DATE`` fixes it, and the rest of the SQLite file is then byte-stable
  for the same GDAL/SQLite versions.
* **CSV/JSON** of geodata: points as ``longitude``/``latitude`` columns (WGS84, 7
  decimals, the names the city's portal uses), other geometries as a ``wkt`` column
  (WKT, lon/lat). Excel shows at most 32,767 characters per cell; large polygons
  are better opened from the GeoJSON.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etl.errors import ConfigError
from etl.registry import Dataset, GeodataSource

if TYPE_CHECKING:
    import geopandas as gpd

WGS84 = "EPSG:4326"
WGS84_DECIMALS = 7
GIS_CRS = "EPSG:25832"
GIS_DECIMALS = 3
GPKG_TIMESTAMP = "2000-01-01T00:00:00.000Z"
"""Fixed ``last_change`` of the GeoPackage (the content hash tells what changed)."""
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""The earliest date a zip entry can carry; fixed for stable bytes."""

GEO_FORMATS = frozenset({"GEOJSON", "KML", "KMZ", "GPX", "GPKG"})


def is_geoframe(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is a GeoDataFrame (without importing geopandas if unused)."""
    import sys

    geopandas = sys.modules.get("geopandas")
    return geopandas is not None and isinstance(frame, geopandas.GeoDataFrame)


def render(fmt: str, frame: pd.DataFrame, path: Path, dataset: Dataset) -> None:
    """Write ``frame`` as geodata format ``fmt`` (a registry format code) to ``path``.

    Raises:
        ConfigError: the dataset is not geodata, or the format does not fit its
            geometry (GPX of polygons).
    """
    if not is_geoframe(frame):
        raise ConfigError(f"{dataset.id}: {fmt} needs geodata (a geometry column)")
    source = dataset.source
    name_column = source.name_column if isinstance(source, GeodataSource) else None
    layer = dataset.id
    if path.exists():
        path.unlink()
    if fmt == "GEOJSON":
        render_geojson(frame, path, layer=layer)
    elif fmt == "KML":
        render_kml(frame, path, layer=layer, name_column=name_column)
    elif fmt == "KMZ":
        render_kmz(frame, path, layer=layer, name_column=name_column)
    elif fmt == "GPX":
        render_gpx(frame, path, name_column=name_column)
    elif fmt == "GPKG":
        render_gpkg(frame, path, layer=layer)
    else:
        raise ConfigError(f"no geodata renderer for {fmt}")


def _wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(WGS84)
    return frame


def rounded(frame: gpd.GeoDataFrame, decimals: int) -> gpd.GeoDataFrame:
    """A copy with every coordinate rounded to ``decimals`` (vectorized)."""
    import shapely

    geoms = shapely.transform(
        np.asarray(frame.geometry.array, dtype=object), lambda xy: np.round(xy, decimals)
    )
    return frame.set_geometry(pd.Series(geoms, index=frame.index), crs=frame.crs)


def render_geojson(frame: gpd.GeoDataFrame, path: Path, *, layer: str) -> None:
    """RFC 7946 GeoJSON, 7 decimals."""
    import pyogrio

    pyogrio.write_dataframe(
        _wgs84(frame),
        path,
        driver="GeoJSON",
        layer=layer,
        use_arrow=True,
        layer_options={
            "RFC7946": "YES",
            "COORDINATE_PRECISION": str(WGS84_DECIMALS),
            "WRITE_NAME": "NO",
        },
    )


def render_kml(frame: gpd.GeoDataFrame, path: Path, *, layer: str, name_column: str | None) -> None:
    """KML 2.2 with GDAL's KML driver."""
    import pyogrio

    options = {"NameField": name_column} if name_column else {}
    pyogrio.write_dataframe(
        rounded(_wgs84(frame), WGS84_DECIMALS),
        path,
        driver="KML",
        layer=layer,
        use_arrow=True,
        dataset_options=options,
    )


def render_kmz(frame: gpd.GeoDataFrame, path: Path, *, layer: str, name_column: str | None) -> None:
    """KMZ: the KML as ``doc.kml`` in a zip with a fixed timestamp."""
    with tempfile.TemporaryDirectory(prefix="harvest-kmz-") as tmp:
        kml = Path(tmp) / "doc.kml"
        render_kml(frame, kml, layer=layer, name_column=name_column)
        info = zipfile.ZipInfo("doc.kml", date_time=ZIP_TIMESTAMP)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # Unix; the default depends on the platform
        info.external_attr = 0o644 << 16
        info.file_size = kml.stat().st_size  # lets zipfile choose zip64 for huge files
        with (
            zipfile.ZipFile(path, "w") as archive,
            archive.open(info, "w") as sink,
            kml.open("rb") as handle,
        ):
            shutil.copyfileobj(handle, sink, 1 << 20)


def render_gpx(frame: gpd.GeoDataFrame, path: Path, *, name_column: str | None) -> None:
    """GPX 1.1: points as waypoints, lines as tracks; other attributes as extensions."""
    import pyogrio

    types = set(frame.geom_type.dropna().unique())
    if types <= {"Point"}:
        layer_options: dict[str, str] = {}
    elif types <= {"LineString", "MultiLineString"}:
        layer_options = {"FORCE_GPX_TRACK": "YES"}
    else:
        raise ConfigError(
            f"GPX holds points and lines only, this layer has {', '.join(sorted(types))}; "
            "remove the GPX resource from the registry entry"
        )
    gpx = rounded(_wgs84(frame), WGS84_DECIMALS)
    if name_column and name_column != "name" and "name" not in gpx.columns:
        gpx = gpx.rename(columns={name_column: "name"})
    pyogrio.write_dataframe(
        gpx,
        path,
        driver="GPX",
        layer_options=layer_options,
        dataset_options={"GPX_USE_EXTENSIONS": "YES"},
    )


@contextmanager
def _gdal_config(**options: str) -> Iterator[None]:
    """Set GDAL config options for the block and restore the previous values."""
    import pyogrio

    before = {key: pyogrio.get_gdal_config_option(key) for key in options}
    pyogrio.set_gdal_config_options(dict(options))
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def render_gpkg(frame: gpd.GeoDataFrame, path: Path, *, layer: str) -> None:
    """GeoPackage in EPSG:25832, millimetre coordinates, fixed timestamp."""
    import pyogrio

    gis = rounded(frame.to_crs(GIS_CRS), GIS_DECIMALS)
    with _gdal_config(OGR_CURRENT_DATE=GPKG_TIMESTAMP):
        pyogrio.write_dataframe(gis, path, driver="GPKG", layer=layer, use_arrow=True)
    # SQLite's journal files exist only while the file is open; never publish one
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def to_table(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """A plain table for CSV/JSON: points as longitude/latitude, else a WKT column."""
    import shapely

    frame = _wgs84(frame)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    type_ids = shapely.get_type_id(geoms)
    columns: dict[str, Any]
    if np.isin(type_ids, (-1, 0)).all():
        columns = {
            "longitude": pd.array(np.round(shapely.get_x(geoms), WGS84_DECIMALS), dtype="Float64"),
            "latitude": pd.array(np.round(shapely.get_y(geoms), WGS84_DECIMALS), dtype="Float64"),
        }
    else:
        wkt = shapely.to_wkt(geoms, rounding_precision=WGS84_DECIMALS, trim=True)
        columns = {"wkt": pd.array(wkt, dtype="string")}
    for name, values in columns.items():
        table[name] = values
    return table
