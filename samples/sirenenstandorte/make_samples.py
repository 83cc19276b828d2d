"""Generate the SYNTHETIC sample input of `sirenenstandorte` (deterministic).

No real file of the fire brigade's siren locations is available to this project. This
script places made-up sirens inside the real district polygons of the `stadtbezirke`
sample (more in larger districts), with plausible attributes, and writes them the way
the fire brigade's GIS exports them: a GeoPackage in ETRS89 / UTM 32N (EPSG:25832),
coordinates in centimetres. Same script, same bytes (fixed seed, fixed GeoPackage
timestamp).

Run: .venv/bin/python samples/sirenenstandorte/make_samples.py
"""

from __future__ import annotations

import random
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
from shapely.geometry import Point

HERE = Path(__file__).parent
DISTRICTS = HERE.parent / "stadtbezirke" / "Stadtbezirke_EPSG25832.zip"
TARGET = HERE / "Sirenenstandorte_EPSG25832.gpkg"
SEED = 112  # the fire brigade's number, for a memorable seed
SIRENS_PER_KM2 = 0.37  # about 80 sirens for the city's 217 km²

MOUNTINGS = [
    "Dach Grundschule",
    "Dach Gesamtschule",
    "Dach Feuerwache",
    "Dach Bürgerhaus",
    "Dach Rathaus",
    "Dach Gemeindezentrum",
    "Dach Sporthalle",
    "Mast Grünanlage",
    "Mast Sportplatz",
    "Mast Parkplatz",
    "Mast Straßenbahn-Betriebshof",
    "Dach Städtische Kindertagesstätte",
]
KINDS = ["elektronisch", "elektronisch", "elektronisch", "motorbetrieben"]


def districts() -> gpd.GeoDataFrame:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(DISTRICTS) as archive:
        archive.extractall(tmp)
        shp = next(Path(tmp).glob("*.shp"))
        return pyogrio.read_dataframe(shp, encoding="cp1252")


def sirens() -> gpd.GeoDataFrame:
    rng = random.Random(SEED)
    rows = []
    for district in districts().sort_values("Nummer").itertuples():
        polygon = district.geometry
        # keep 150 m from the boundary: a siren stands well inside its district
        inner = polygon.buffer(-150)
        count = max(3, round(polygon.area / 1e6 * SIRENS_PER_KM2))
        minx, miny, maxx, maxy = polygon.bounds
        placed = 0
        while placed < count:
            x = round(rng.uniform(minx, maxx), 2)
            y = round(rng.uniform(miny, maxy), 2)
            point = Point(x, y)
            if not inner.contains(point):
                continue
            placed += 1
            rows.append(
                {
                    "KENNUNG": f"S-{district.Nummer}{placed:02d}",
                    "STANDORT": rng.choice(MOUNTINGS),
                    "STADTBEZ": district.Nummer,
                    "TYP": rng.choice(KINDS),
                    "BAUJAHR": rng.randint(2016, 2024),
                    "geometry": point,
                }
            )
    return gpd.GeoDataFrame(rows, crs="EPSG:25832")


def main() -> None:
    TARGET.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00.000Z"})
    pyogrio.write_dataframe(
        sirens(),
        TARGET,
        layer="sirenenstandorte",
        driver="GPKG",
        layer_options={"DESCRIPTION": "SYNTHETISCHE Beispieldaten, keine echten Standorte"},
    )


if __name__ == "__main__":
    main()
