"""Rebuild the sample input of `stadtbezirke` from the real district polygons (deterministic).

The polygons are the hackathon copy of the city's Stadtbezirke (WGS84, simplified) in
``tests/fixtures/geodata/Stadtbezirk.zip``; the Stadtteile per district come from
``tests/fixtures/geodata/stadtteile_codes.csv``. The sample is delivered the way the
surveying office's GIS exports it: a zipped Shapefile in ETRS89 / UTM 32N
(EPSG:25832), attributes in Windows-1252 **without** a ``.cpg`` file, plus an
internal ``OBJECTID`` that is not published.

Run: .venv/bin/python samples/stadtbezirke/make_samples.py
"""

from __future__ import annotations

import csv
import json
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio

HERE = Path(__file__).parent
FIXTURES = HERE.parent.parent / "tests" / "fixtures" / "geodata"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def districts() -> gpd.GeoDataFrame:
    """The 10 districts in WGS84 with Nummer, Name and Stadtteile."""
    quarters: dict[str, list[str]] = {}
    with (FIXTURES / "stadtteile_codes.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            quarters.setdefault(row["stadtbezirk_nr"], []).append(row["stadtteil_name"])
    features = []
    with zipfile.ZipFile(FIXTURES / "Stadtbezirk.zip") as archive:
        for name in sorted(archive.namelist()):
            collection = json.loads(archive.read(name).decode("utf-8"))
            features.extend(collection["features"])
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    number = frame["name"].str.removeprefix("Stadtbezirk ")
    return gpd.GeoDataFrame(
        {
            "OBJECTID": range(1, len(frame) + 1),
            "Nummer": number,
            "Name": "Stadtbezirk " + number.astype(int).astype(str),
            "Stadtteile": [", ".join(quarters[n]) for n in number],
        },
        geometry=frame.geometry,
        crs="EPSG:4326",
    )


def zip_folder(folder: Path, target: Path) -> None:
    """Zip the files of ``folder`` with fixed timestamps (stable bytes)."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.iterdir()):
            info = zipfile.ZipInfo(path.name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())


def write_shapefile(frame: gpd.GeoDataFrame, target: Path, *, encoding: str, cpg: bool) -> None:
    """A zipped Shapefile of ``frame`` (its CRS), stable bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pyogrio.write_dataframe(
            frame,
            folder / f"{target.stem}.shp",
            encoding=encoding,
            layer_options={"DBF_DATE_LAST_UPDATE": "2024-01-01"},
        )
        if not cpg:
            (folder / f"{target.stem}.cpg").unlink()
        zip_folder(folder, target)


def main() -> None:
    frame = districts().to_crs("EPSG:25832")
    frame = frame.set_geometry(frame.geometry.set_precision(0.01))  # cm, as the GIS stores it
    write_shapefile(frame, HERE / "Stadtbezirke_EPSG25832.zip", encoding="cp1252", cpg=False)


if __name__ == "__main__":
    main()
