"""Geodata (surveying and cadastre office, fire brigade, …).

One DAG per registry entry of the `geodata` family. Inputs are zipped or plain
Shapefiles, GeoPackages or GeoJSON files in ETRS89 / UTM 32N (EPSG:25832), the same
with zone prefix (EPSG:4647) or WGS84; a file without a CRS or with an unexpected one
is refused. The pipeline reprojects to WGS84, checks geometry (present, non-empty,
valid, inside the city) with the dataset's Great Expectations suite and upserts
GeoJSON, KML, KMZ, GPX (points and lines), CSV and a GeoPackage in EPSG:25832 into CKAN.
"""

from harvest_airflow.factory import build_family_dags

build_family_dags("geodata", globals(), doc=__doc__)
