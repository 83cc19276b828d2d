"""Input files for the geodata tests, built from the real district polygons.

Everything is written into a folder the test owns (``tmp_path``); the sources are
in ``tests/fixtures/geodata`` (see its SOURCES.md).
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from tests.conftest import FIXTURES

GEODATA = FIXTURES / "geodata"


def districts() -> gpd.GeoDataFrame:
    """The 10 real districts (WGS84) with Nummer, Name and Stadtteile, as the office names them."""
    quarters: dict[str, list[str]] = {}
    with (GEODATA / "stadtteile_codes.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            quarters.setdefault(row["stadtbezirk_nr"], []).append(row["stadtteil_name"])
    features = []
    with zipfile.ZipFile(GEODATA / "Stadtbezirk.zip") as archive:
        for name in sorted(archive.namelist()):
            features.extend(json.loads(archive.read(name).decode("utf-8"))["features"])
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    number = frame["name"].str.removeprefix("Stadtbezirk ")
    return gpd.GeoDataFrame(
        {
            "Nummer": number.to_numpy(),
            "Name": ("Stadtbezirk " + number.astype(int).astype(str)).to_numpy(),
            "Stadtteile": [", ".join(quarters[n]) for n in number],
        },
        geometry=frame.geometry.to_numpy(),
        crs="EPSG:4326",
    )


def shapefile_zip(
    frame: gpd.GeoDataFrame,
    target: Path,
    *,
    encoding: str = "cp1252",
    drop: tuple[str, ...] = (".cpg",),
) -> Path:
    """A zipped Shapefile of ``frame`` in its CRS, without the parts in ``drop``."""
    folder = target.parent / f"{target.stem}-parts"
    folder.mkdir(parents=True)
    pyogrio.write_dataframe(frame, folder / f"{target.stem}.shp", encoding=encoding)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(folder.iterdir()):
            if part.suffix not in drop:
                archive.write(part, part.name)
    return target


def geopackage(frame: gpd.GeoDataFrame, target: Path, *, layer: str = "stadtbezirke") -> Path:
    pyogrio.write_dataframe(frame, target, driver="GPKG", layer=layer)
    return target


def geojson_with_bom(
    frame: gpd.GeoDataFrame, target: Path, *, geometries: dict[int, object] | None = None
) -> Path:
    """GeoJSON as the city's download portal writes it: UTF-8 with BOM, WGS84.

    ``geometries`` replaces the GeoJSON geometry of features by index (geopandas
    writes an empty polygon as ``null``; a real file can have ``"coordinates": []``).
    """
    collection = json.loads(frame.to_crs("EPSG:4326").to_json(drop_id=True))
    for index, geometry in (geometries or {}).items():
        collection["features"][index]["geometry"] = geometry
    text = json.dumps(collection, ensure_ascii=False)
    target.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return target


def with_geometry(frame: gpd.GeoDataFrame, index: int, geometry: object) -> gpd.GeoDataFrame:
    """A copy of ``frame`` with the geometry of row ``index`` replaced."""
    geoms = np.asarray(frame.geometry.array, dtype=object).copy()
    geoms[index] = geometry
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def bowtie(polygon: shapely.Polygon) -> shapely.Polygon:
    """``polygon`` with two far-apart vertices swapped: a self-intersecting ring."""
    ring = shapely.get_coordinates(polygon.exterior)[:-1].copy()
    far = len(ring) // 2
    ring[[5, far]] = ring[[far, 5]]
    return shapely.Polygon(ring)


def swapped_axes(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same features with x and y exchanged (lat/lon instead of lon/lat)."""
    geoms = shapely.transform(np.asarray(frame.geometry.array, dtype=object), lambda c: c[:, ::-1])
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
