"""Rendering the published files.

Renderers are deterministic: the same table gives the same bytes, so the
content hash decides whether the portal needs an upload at all.

CSV conventions (documented for users in the README):

* UTF-8 with byte-order mark and ``;`` as separator: that is what German Excel
  opens correctly by double-click, and pandas/R/LibreOffice read it as well;
* decimal point (not comma) and no thousands separator, so numbers stay
  machine-readable; missing values are empty cells;
* text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are
  prefixed with ``'`` so a spreadsheet never evaluates them as formulas (CSV
  injection, OWASP); numeric columns are never touched.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl.readers import sha256_file
from etl.registry import FORMAT_EXTENSIONS, Dataset, Resource

CSV_SEPARATOR = ";"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

MIMETYPES: dict[str, str] = {
    "CSV": "text/csv",
    "JSON": "application/json",
    "GEOJSON": "application/geo+json",
    "KML": "application/vnd.google-earth.kml+xml",
    "KMZ": "application/vnd.google-earth.kmz",
    "GPX": "application/gpx+xml",
    "GPKG": "application/geopackage+sqlite3",
}


@dataclass(frozen=True)
class RenderedFile:
    """A file ready to publish as one resource."""

    resource: str
    format: str
    path: str
    sha256: str
    size: int
    mimetype: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def neutralize_formulas(series: pd.Series) -> pd.Series:
    """Prefix text cells that a spreadsheet would evaluate as a formula with ``'``."""
    text = series.astype("string")
    risky = text.str.startswith(FORMULA_PREFIXES, na=False)
    if not risky.any():
        return series
    return text.where(~risky, "'" + text)


def render_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV following the module's conventions."""
    safe = frame.copy()
    for name in safe.columns:
        if pd.api.types.is_string_dtype(safe[name]) or safe[name].dtype == object:
            safe[name] = neutralize_formulas(safe[name])
    safe.to_csv(
        path,
        sep=CSV_SEPARATOR,
        index=False,
        encoding="utf-8-sig",
        lineterminator="\r\n",
        na_rep="",
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def render_json(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as a JSON array of objects (UTF-8, missing values as null).

    ``json`` rather than ``DataFrame.to_json``: the latter escapes ``/`` and
    writes floats in a platform-dependent shortest form.
    """
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        json.dump(records, handle, ensure_ascii=False, default=_json_default, indent=None)
        handle.write("\n")


RENDERERS = {
    "CSV": render_csv,
    "JSON": render_json,
}
"""Tabular renderers; the geodata formats are in :mod:`etl.geoformats`."""


def _tabular(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` itself, or for geodata a table with the geometry as columns."""
    from etl import geoformats

    return geoformats.to_table(frame) if geoformats.is_geoframe(frame) else frame


def render(dataset: Dataset, frame: pd.DataFrame, out_dir: Path) -> list[RenderedFile]:
    """Write every resource of ``dataset`` into ``out_dir`` and hash it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for resource in dataset.resources:
        rendered.append(render_resource(dataset, resource, frame, out_dir))
    return rendered


def render_resource(
    dataset: Dataset, resource: Resource, frame: pd.DataFrame, out_dir: Path
) -> RenderedFile:
    """Write one resource file."""
    name = resource.resource_name(dataset.id)
    path = out_dir / name
    if not path.suffix:
        path = path.with_suffix("." + FORMAT_EXTENSIONS[resource.format])
    if resource.format in RENDERERS:
        RENDERERS[resource.format](_tabular(frame), path)
    else:
        # geodata formats: geopandas/pyogrio are imported only when a dataset has them
        from etl import geoformats

        geoformats.render(resource.format, frame, path, dataset)
    return RenderedFile(
        resource=name,
        format=resource.format,
        path=str(path),
        sha256=sha256_file(path),
        size=path.stat().st_size,
        mimetype=MIMETYPES[resource.format],
    )
