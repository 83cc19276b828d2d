"""Geodata: 100,000 polygons from EPSG:25832 to WGS84 GeoJSON + KML, pipeline vs ``ogr2ogr``.

Both sides read the same GeoPackage (generated once into the scratch folder) and write
the same two files. The pipeline side is the project's code path for a geodata dataset:
:func:`etl.sources.geodata.extract` (content checks, CRS check, read with pyogrio),
:func:`etl.sources.geodata.transform` (reprojection, geometry checks, sorting) and
:func:`etl.geoformats.render` for the GEOJSON and KML resources. The ``ogr2ogr`` side is
Debian's ``gdal-bin`` doing the same with the same options (installed by
:func:`bench.tools.ensure_ogr2ogr`).

``python -m bench.geodata_bench pipeline <input.gpkg> <out-dir>`` is the pipeline side
as a process of its own; it prints its inner timings as JSON.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import Context, Section, Target, alternate, fmt_ratio, fmt_s, median, run_worker

if TYPE_CHECKING:
    import geopandas as gpd

    from etl.registry import Dataset

FULL_POLYGONS = 100_000
QUICK_POLYGONS = 2_000
VERTICES = 12
"""Corners of each generated polygon (13 coordinates with the closing one)."""

CITY = (6.68, 51.12, 6.94, 51.35)
"""Düsseldorf's extent in WGS84 (lon/lat): every output must lie inside."""
_MARGIN = 0.01
"""Degrees kept free inside :data:`CITY` when generating, so no polygon touches its edge."""

INPUT_CRS = "EPSG:25832"
INPUT_LAYER = "flaechen"
DATASET_ID = "flaechen"
"""The benchmark's dataset id, also the layer name of every output (no hyphen: KML
would turn it into an underscore)."""

_QUARTERS = (
    "Altstadt", "Carlstadt", "Düsseltal", "Flingern Süd", "Flingern Nord", "Golzheim",
    "Lörick", "Mörsenbroich", "Grafenberg", "Gerresheim", "Unterbach", "Hafen",
    "Oberkassel", "Benrath", "Wersten", "Holthausen", "Itter", "Himmelgeist",
    "Lichtenbroich", "Kaiserswerth",
)  # fmt: skip


# --------------------------------------------------------------------------- input


def polygons(count: int, *, seed: int = 25832) -> gpd.GeoDataFrame:
    """``count`` small irregular polygons on a grid over Düsseldorf, in EPSG:25832.

    Each polygon has :data:`VERTICES` corners at jittered angles and radii around a
    jittered cell centre (star-shaped, so always valid), coordinates in millimetres as
    a cadastre export has them. Attributes: ``Nummer`` (zero-padded text, the id),
    ``Name`` and ``Stadtteil`` (with umlauts) and ``Flaeche_m2``.
    """
    import geopandas as gpd
    import numpy as np
    import shapely
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", INPUT_CRS, always_xy=True)
    west, south, east, north = (
        CITY[0] + _MARGIN,
        CITY[1] + _MARGIN,
        CITY[2] - _MARGIN,
        CITY[3] - _MARGIN,
    )
    xs, ys = to_utm.transform([west, east, west, east], [south, south, north, north])
    # the largest UTM rectangle whose corners all lie inside the lon/lat box
    minx, maxx = max(xs[0], xs[2]), min(xs[1], xs[3])
    miny, maxy = max(ys[0], ys[1]), min(ys[2], ys[3])
    width, height = maxx - minx, maxy - miny
    cols = max(1, math.floor(width / math.sqrt(width * height / count)))
    rows = math.ceil(count / cols)
    step = min(width / cols, height / rows)

    rng = np.random.default_rng(seed)
    cells = np.arange(count)
    centres = np.column_stack(
        [minx + (cells % cols + 0.5) * step, miny + (cells // cols + 0.5) * step]
    )
    centres += rng.uniform(-0.05, 0.05, size=(count, 2)) * step
    spacing = 2 * np.pi / VERTICES
    angles = np.arange(VERTICES) * spacing + rng.uniform(-0.3, 0.3, (count, VERTICES)) * spacing
    radii = rng.uniform(0.3, 0.45, (count, VERTICES)) * step
    ring = np.stack(
        [
            centres[:, [0]] + radii * np.cos(angles),
            centres[:, [1]] + radii * np.sin(angles),
        ],
        axis=-1,
    )
    ring = np.round(np.concatenate([ring, ring[:, :1]], axis=1), 3)
    geometry = shapely.polygons(ring)
    quarters = np.array(_QUARTERS, dtype=object)[cells % len(_QUARTERS)]
    return gpd.GeoDataFrame(
        {
            "Nummer": [f"{n:06d}" for n in cells + 1],
            "Name": [f"Flurstück {n}" for n in cells + 1],
            "Stadtteil": quarters,
            "Flaeche_m2": np.round(shapely.area(geometry), 2),
        },
        geometry=geometry,
        crs=INPUT_CRS,
    )


def write_input(path: Path, count: int) -> Path:
    """Write :func:`polygons` as a GeoPackage (layer :data:`INPUT_LAYER`): both sides' input."""
    import pyogrio

    path.unlink(missing_ok=True)
    # GeoPackage 1.2: Debian's GDAL 3.6 warns that it supports 1.4 (GDAL's default) only partly
    pyogrio.write_dataframe(
        polygons(count), path, driver="GPKG", layer=INPUT_LAYER, dataset_options={"VERSION": "1.2"}
    )
    return path


def bench_dataset(input_bytes: int) -> Dataset:
    """The registry entry the pipeline side runs with.

    The districts' entry (``stadtbezirke``: EPSG:25832 accepted, ``name`` as the KML
    name, sorted by ``nummer``) with the benchmark's columns and only the two formats
    compared; validated by the registry's own model.
    """
    from etl.registry import Dataset, get_dataset

    data = get_dataset("stadtbezirke").model_dump(mode="json")
    data["id"] = DATASET_ID
    data["source"]["attributes"] = {}
    data["source"]["max_bytes"] = max(data["source"]["max_bytes"], 2 * input_bytes)
    data["columns"] = [
        {"name": "nummer", "type": "string", "description": "Nummer der Fläche"},
        {"name": "name", "type": "string", "description": "Bezeichnung"},
        {"name": "stadtteil", "type": "string", "description": "Stadtteil"},
        {"name": "flaeche_m2", "type": "number", "description": "Fläche in m²"},
    ]
    data["resources"] = [{"format": "GEOJSON"}, {"format": "KML"}]
    return Dataset.model_validate(data)


# --------------------------------------------------------------------------- the two sides


def render_pipeline(source: Path, out_dir: Path) -> dict[str, Any]:
    """The pipeline side: extract, transform, render GEOJSON and KML into ``out_dir``.

    Returns the seconds of each phase, the feature count and the output paths.
    """
    started = time.perf_counter()
    from etl import geoformats
    from etl.sources import geodata

    dataset = bench_dataset(source.stat().st_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {"imports": time.perf_counter() - started}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = now - since
        return now

    inner = time.perf_counter()
    raws = geodata.extract(dataset, [source])
    mark = lap("read", inner)
    tidy = geodata.transform(dataset, raws)
    if tidy.problems:
        raise RuntimeError(f"the generated input has problems: {tidy.problems[:3]}")
    frame = tidy.published_frame()
    mark = lap("transform", mark)
    outputs = {}
    for fmt, suffix in (("GEOJSON", "geojson"), ("KML", "kml")):
        path = out_dir / f"{DATASET_ID}.{suffix}"
        geoformats.render(fmt, frame, path, dataset)
        mark = lap(fmt.lower(), mark)
        outputs[fmt] = str(path)
    phases["inner"] = mark - inner
    return {"phases": phases, "features": len(frame), "outputs": outputs}


def ogr2ogr_outputs(out_dir: Path) -> dict[str, Path]:
    """The files the ``ogr2ogr`` side writes, by format."""
    return {"GEOJSON": out_dir / f"{DATASET_ID}.geojson", "KML": out_dir / f"{DATASET_ID}.kml"}


def ogr2ogr_commands(ogr2ogr: str, source: Path, out_dir: Path) -> dict[str, list[str]]:
    """The ``ogr2ogr`` calls doing the pipeline's job, by format (see :func:`ogr2ogr_outputs`).

    Same options as :mod:`etl.geoformats`: RFC 7946 GeoJSON with 7 decimals and no
    ``name`` member; KML with ``Name`` as ``<name>``.
    """
    from etl.geoformats import WGS84, WGS84_DECIMALS

    outputs = ogr2ogr_outputs(out_dir)
    common = ["-t_srs", WGS84, "-nln", DATASET_ID]
    return {
        "GEOJSON": [
            ogr2ogr, "-f", "GeoJSON", *common,
            "-lco", "RFC7946=YES",
            "-lco", f"COORDINATE_PRECISION={WGS84_DECIMALS}",
            "-lco", "WRITE_NAME=NO",
            str(outputs["GEOJSON"]), str(source), INPUT_LAYER,
        ],
        "KML": [
            ogr2ogr, "-f", "KML", *common, "-dsco", "NameField=Name",
            str(outputs["KML"]), str(source), INPUT_LAYER,
        ],
    }  # fmt: skip


def run_ogr2ogr(commands: dict[str, list[str]], outputs: dict[str, Path]) -> dict[str, float]:
    """Run the ``ogr2ogr`` calls one after the other; wall seconds of each, by format."""
    seconds = {}
    for fmt, command in commands.items():
        outputs[fmt].unlink(missing_ok=True)  # ogr2ogr refuses to overwrite a GeoJSON
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        seconds[fmt.lower()] = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"ogr2ogr ({fmt}) failed: {completed.stderr.strip()[-2000:]}")
    return seconds


# --------------------------------------------------------------------------- checks


def describe_output(path: Path) -> dict[str, Any]:
    """Feature count and WGS84 bounds of an output, read back with pyogrio."""
    import pyogrio

    info = pyogrio.read_info(path, force_feature_count=True, force_total_bounds=True)
    facts: dict[str, Any] = {
        "features": int(info["features"]),
        "bounds": [round(float(v), 7) for v in info["total_bounds"]],
        "mb": round(path.stat().st_size / 1e6, 1),
    }
    if path.suffix == ".geojson":
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
        facts["crs_member"] = '"crs"' in head.split('"features"')[0]
    return facts


def check_outputs(sides: dict[str, dict[str, Path]], count: int) -> dict[str, Any]:
    """Both sides wrote the same features inside the city, in lon/lat; else RuntimeError."""
    facts = {
        side: {fmt: describe_output(p) for fmt, p in files.items()} for side, files in sides.items()
    }
    wrong: list[str] = []
    for side, files in facts.items():
        for fmt, fact in files.items():
            minx, miny, maxx, maxy = fact["bounds"]
            if fact["features"] != count:
                wrong.append(f"{side} {fmt}: {fact['features']} features, expected {count}")
            if not (CITY[0] <= minx <= maxx <= CITY[2] and CITY[1] <= miny <= maxy <= CITY[3]):
                wrong.append(f"{side} {fmt}: bounds {fact['bounds']} not inside {CITY}")
            if fact.get("crs_member"):
                wrong.append(f"{side} {fmt}: has a crs member (not RFC 7946)")
    first, second = facts.values()
    for fmt in first:
        gap = max(
            abs(a - b) for a, b in zip(first[fmt]["bounds"], second[fmt]["bounds"], strict=True)
        )
        if gap > 2e-7:
            wrong.append(f"{fmt}: the sides' bounds differ by {gap:.1e}°")
    if wrong:
        raise RuntimeError("the two sides did not do the same work: " + "; ".join(wrong))
    return facts


# --------------------------------------------------------------------------- benchmark


def run(ctx: Context) -> Section:
    """Time the pipeline side and ``ogr2ogr`` alternately; the target is their ratio."""
    import pyogrio
    import pyproj

    from bench.tools import ensure_ogr2ogr, gdal_version

    section = Section(key="geodata", title="Geodata: EPSG:25832 → WGS84 GeoJSON + KML")
    count = FULL_POLYGONS if ctx.full else QUICK_POLYGONS
    target = Target("pipeline / ogr2ogr", None, 1.5, "×", "<=")
    section.targets.append(target)
    why = "it needs root and apt-get"
    try:
        ogr2ogr = ensure_ogr2ogr(ctx.say)
    except RuntimeError as exc:
        ogr2ogr, why = None, str(exc)
    if ogr2ogr is None:
        if ctx.full:
            raise RuntimeError(f"ogr2ogr is missing and could not be installed: {why}")
        section.notes.append(
            f"ogr2ogr is not installed and could not be installed here ({why}); "
            "no comparison in this run."
        )
        return section

    work = ctx.scratch / "geodata"
    work.mkdir(parents=True, exist_ok=True)
    source = work / "flaechen-25832.gpkg"
    ctx.say(f"writing {count:,} polygons (EPSG:25832) to {source.name}")
    write_input(source, count)
    out = {"pipeline": work / "pipeline", "ogr2ogr": work / "ogr2ogr"}
    out["ogr2ogr"].mkdir(exist_ok=True)
    commands = ogr2ogr_commands(ogr2ogr, source, out["ogr2ogr"])
    ogr_outputs = ogr2ogr_outputs(out["ogr2ogr"])
    inner: list[dict[str, Any]] = []
    per_format: list[dict[str, float]] = []

    def pipeline_side() -> None:
        inner.append(
            run_worker("bench.geodata_bench", "pipeline", str(source), str(out["pipeline"]))
        )

    def ogr2ogr_side() -> None:
        per_format.append(run_ogr2ogr(commands, ogr_outputs))

    ctx.say(f"{ctx.repeats} repetition(s), alternating")
    times = alternate(
        {"pipeline": pipeline_side, "ogr2ogr": ogr2ogr_side},
        ctx.repeats,
        say=ctx.say,
    )
    facts = check_outputs(
        {
            "pipeline": {fmt: Path(p) for fmt, p in inner[-1]["outputs"].items()},
            "ogr2ogr": ogr_outputs,
        },
        count,
    )

    pipeline_s = median(times["pipeline"])
    ogr_s = median(times["ogr2ogr"])
    phases = {name: median([r["phases"][name] for r in inner]) for name in inner[0]["phases"]}
    ogr_formats = {fmt: median([r[fmt] for r in per_format]) for fmt in per_format[0]}
    ratio = pipeline_s / ogr_s
    target.value = round(ratio, 3)
    debian_gdal = gdal_version(ogr2ogr)

    input_mb = source.stat().st_size / 1e6
    section.row(
        "Input", f"{count:,} polygons × {VERTICES + 1} coordinates, GeoPackage {input_mb:.1f} MB"
    )
    section.row("Pipeline (whole process), median", fmt_s(pipeline_s))
    section.row(
        "Pipeline inner (read / transform / GeoJSON / KML)",
        f"{fmt_s(phases['inner'])} ({fmt_s(phases['read'])} / {fmt_s(phases['transform'])} / "
        f"{fmt_s(phases['geojson'])} / {fmt_s(phases['kml'])})",
    )
    section.row(
        "ogr2ogr (GeoJSON + KML), median",
        f"{fmt_s(ogr_s)} ({fmt_s(ogr_formats['geojson'])} + {fmt_s(ogr_formats['kml'])})",
    )
    section.row("Ratio pipeline / ogr2ogr (whole processes)", fmt_ratio(ratio))
    section.row("Ratio pipeline inner time / ogr2ogr", fmt_ratio(phases["inner"] / ogr_s))
    section.row(
        "GDAL",
        f"pipeline: pyogrio {pyogrio.__version__} with GDAL {pyogrio.__gdal_version_string__}, "
        f"PROJ {pyproj.proj_version_str}; ogr2ogr: Debian gdal-bin, GDAL {debian_gdal}",
    )
    section.figures.update(
        {
            "polygons": count,
            "coordinates_per_polygon": VERTICES + 1,
            "input_mb": round(input_mb, 1),
            "repeats": ctx.repeats,
            "pipeline_s": [round(t, 3) for t in times["pipeline"]],
            "ogr2ogr_s": [round(t, 3) for t in times["ogr2ogr"]],
            "pipeline_median_s": round(pipeline_s, 3),
            "pipeline_inner_median_s": round(phases["inner"], 3),
            "pipeline_phases_median_s": {k: round(v, 3) for k, v in phases.items()},
            "ogr2ogr_median_s": round(ogr_s, 3),
            "ogr2ogr_formats_median_s": {k: round(v, 3) for k, v in ogr_formats.items()},
            "ratio": round(ratio, 3),
            "ratio_inner": round(phases["inner"] / ogr_s, 3),
            "outputs": facts,
            "gdal_pipeline": pyogrio.__gdal_version_string__,
            "pyogrio": pyogrio.__version__,
            "proj_pipeline": pyproj.proj_version_str,
            "gdal_ogr2ogr": debian_gdal,
        }
    )
    if not ctx.full:
        section.notes.append(
            f"Quick profile ({count:,} polygons): the pipeline's start (Python and its imports, "
            f"{fmt_s(phases['imports'])} of them) dominates; the target is meant for the full "
            f"{FULL_POLYGONS:,} polygons."
        )
    section.notes.extend(
        [
            "Both sides run as fresh processes in every repetition, alternating (A B, B A, …), "
            "and read the same GeoPackage; the figure is the median wall time of the whole "
            "process(es). The pipeline's process includes Python's start and its imports "
            "(geopandas, pyogrio, the registry); its inner time (read → written files) is "
            "shown too.",
            "Pipeline side: etl.sources.geodata.extract + transform (content and CRS checks, "
            "reprojection, geometry checks, sorting by nummer) and etl.geoformats.render for "
            "GEOJSON and KML — the functions a geodata dataset's run uses; the GE suite and "
            "the hashing of the files are not part of it. ogr2ogr side: two calls (it writes "
            "one format per call, so it reads the input twice) with the pipeline's options: "
            "-t_srs EPSG:4326, GeoJSON with RFC7946=YES, COORDINATE_PRECISION=7, "
            "WRITE_NAME=NO; KML with NameField=Name.",
            "The KML differs in one respect: the pipeline rounds KML coordinates to 7 "
            "decimals, ogr2ogr (GDAL 3.6 has no -xyRes) writes them unrounded, so its KML is "
            "larger.",
            "Checked once per run: both sides' GeoJSON and KML have every feature, bounds "
            "inside the city's extent and equal within 2e-7°, and no crs member in the GeoJSON.",
        ]
    )
    return section


def _main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "pipeline":
        print(
            "usage: python -m bench.geodata_bench pipeline <input.gpkg> <out-dir>", file=sys.stderr
        )
        return 2
    result = render_pipeline(Path(argv[1]), Path(argv[2]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
