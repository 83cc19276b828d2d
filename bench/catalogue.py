"""A generated catalogue shaped like the city's: 341 datasets with 2,653 resources.

Titles, descriptions and themes come from the Musterdatenkatalog's 220 real Düsseldorf
records (``tests/fixtures/musterdatenkatalog/``); datasets beyond those reuse a record
with a district or year qualifier. Every dataset is a real registry entry (YAML, loaded
by :func:`etl.registry.load_registry`, so the DAG factory and the publisher see the
same identity) with small CSV, JSON and GeoJSON resources of realistic sizes.
"""

from __future__ import annotations

import csv
import html
import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.harness import PROJECT
from etl.formats import MIMETYPES, RenderedFile
from etl.readers import sha256_file
from etl.registry import Dataset, load_registry

MDK = PROJECT / "tests" / "fixtures" / "musterdatenkatalog" / "mdk_2.1_nrw_subset_duesseldorf.csv"
FULL_DATASETS = 341
FULL_RESOURCES = 2653
"""The portal in December 2021."""

THEMES = {
    "Bevölkerung und Gesellschaft": "SOCI",
    "Regierung und öffentlicher Sektor": "GOVE",
    "Umwelt": "ENVI",
    "Verkehr": "TRAN",
    "Bildung, Kultur und Sport": "EDUC",
    "Justiz, Rechtssystem und öffentliche Sicherheit": "JUST",
    "Gesundheit": "HEAL",
    "Wirtschaft und Finanzen": "ECON",
    "Wissenschaft und Technologie": "TECH",
}
ORGANIZATIONS = {
    "SOCI": ("amt-fuer-statistik-und-wahlen", "Amt für Statistik und Wahlen"),
    "GOVE": ("hauptamt", "Hauptamt"),
    "ENVI": ("umweltamt", "Umweltamt"),
    "TRAN": ("amt-fuer-verkehrsmanagement", "Amt für Verkehrsmanagement"),
    "EDUC": ("kulturamt", "Kulturamt"),
    "JUST": ("feuerwehr", "Feuerwehr"),
    "HEAL": ("gesundheitsamt", "Gesundheitsamt"),
    "ECON": ("stadtkaemmerei", "Stadtkämmerei"),
    "TECH": ("ito", "IT-Amt"),
}
DISTRICTS = [f"{n:02d}" for n in range(1, 11)]


@dataclass
class Entry:
    """One generated dataset: its registry entry and the files it publishes."""

    dataset: Dataset
    files: list[RenderedFile]


def _text(raw: str) -> str:
    text = re.sub(r"<[^>]+>", " ", html.unescape(raw or ""))
    return re.sub(r"\s+", " ", text).strip()


def _tag(raw: str) -> str | None:
    # CKAN accepts letters, digits, space, - _ . in tags of 2–100 characters
    tag = re.sub(r"[^\w \-.]", " ", raw)
    tag = re.sub(r"\s+", " ", tag).strip()
    return tag[:100] if len(tag) >= 2 else None


def _slug(text: str) -> str:
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.lower().replace(a, b)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80].strip("-")


def _records() -> list[dict[str, str]]:
    with MDK.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _resource_counts(datasets: int, resources: int, rng: random.Random) -> list[int]:
    """Resources per dataset: at least one, skewed like a real portal (few large ones)."""
    weights = [rng.lognormvariate(0, 0.8) for _ in range(datasets)]
    spare = resources - datasets
    counts = [1 + int(spare * w / sum(weights)) for w in weights]
    for index in rng.sample(range(datasets), resources - sum(counts)):
        counts[index] += 1
    return counts


def registry_entries(
    datasets: int = FULL_DATASETS, resources: int = FULL_RESOURCES, *, seed: int = 2021
) -> list[dict[str, Any]]:
    """The registry entries as mappings (what the YAML files hold)."""
    rng = random.Random(seed)
    records = _records()
    counts = _resource_counts(datasets, resources, rng)
    used: set[str] = set()
    entries = []
    for index in range(datasets):
        record = records[index % len(records)]
        title = _text(record["dct:title"]) or f"Datensatz {index}"
        if index >= len(records):
            title = f"{title} – Stadtbezirk {DISTRICTS[index % len(DISTRICTS)]}"
        ident = _slug(title) or f"datensatz-{index}"
        while ident in used or len(ident) < 3:
            ident = f"{ident[:90]}-{index}"
        used.add(ident)
        themes = sorted(
            {
                THEMES[t.strip()]
                for t in re.split(r",(?! )", record["dcat:theme"])
                if t.strip() in THEMES
            }
        ) or ["GOVE"]
        org_name, org_title = ORGANIZATIONS[themes[0]]
        description = _text(record["dct:description"]) or title
        tags = [t for t in (_tag(record["THEMA"]), _tag(record["BEZEICHNUNG"])) if t]
        formats = ["CSV"] + [
            rng.choice(["CSV", "CSV", "JSON", "GEOJSON"]) for _ in range(counts[index] - 1)
        ]
        resources_ = []
        for number, fmt in enumerate(formats, 1):
            ext = {"CSV": "csv", "JSON": "json", "GEOJSON": "geojson"}[fmt]
            year = 2022 - number
            resources_.append(
                {
                    "format": fmt,
                    "name": f"{ident}-{year}-{number}.{ext}",
                    "description": f"{title}, Stand {year}, als {fmt}",
                }
            )
        entries.append(
            {
                "id": ident,
                "owner": org_name,
                "schedule": "0 6 * * 5",
                "source": {
                    "family": "statistics_tables",
                    "paths": [f"samples/{ident}/*.csv"],
                    "accept": [".csv"],
                    "fields": [
                        {
                            "name": "stadtbezirk",
                            "headers": ["Stadtbezirk"],
                            "type": "code",
                            "width": 2,
                        },
                        {"name": "anzahl", "headers": ["Anzahl"], "type": "number", "decimals": 0},
                    ],
                },
                "organization": {
                    "name": org_name,
                    "title": org_title,
                    "description": f"{org_title} der Landeshauptstadt Düsseldorf",
                },
                "package": {
                    "title": title,
                    "description": description,
                    "tags": tags,
                    "license_id": "dl-by-de/2.0",
                    "license_attribution": "Landeshauptstadt Düsseldorf",
                    "maintainer": org_title,
                    "maintainer_email": "opendata@duesseldorf.de",
                    "themes": themes,
                    "frequency": rng.choice(["ANNUAL", "ANNUAL", "MONTHLY", "IRREG", "QUARTERLY"]),
                },
                "columns": [
                    {
                        "name": "stadtbezirk",
                        "type": "string",
                        "description": "Nummer des Stadtbezirks (01–10)",
                    },
                    {"name": "anzahl", "type": "integer", "description": "Anzahl"},
                ],
                "resources": resources_,
            }
        )
    return entries


def write_registry(
    directory: Path, datasets: int = FULL_DATASETS, resources: int = FULL_RESOURCES
) -> list[str]:
    """Write the generated registry (one YAML per dataset plus ``_portal.yaml``); the ids."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "registry" / "_portal.yaml", directory / "_portal.yaml")
    ids = []
    for entry in registry_entries(datasets, resources):
        (directory / f"{entry['id']}.yaml").write_text(
            yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        ids.append(entry["id"])
    return ids


def _content(fmt: str, rng: random.Random, rows: int, version: int) -> bytes:
    if fmt == "CSV":
        lines = ["stadtbezirk;stadtteil;jahr;anzahl;anteil_prozent"]
        for row in range(rows):
            lines.append(
                f"{DISTRICTS[row % 10]};{DISTRICTS[row % 10]}{row % 9 + 1};"
                f"{2010 + row % 12};{rng.randint(0, 40000) + version};{rng.random() * 100:.1f}"
            )
        return ("\n".join(lines) + "\n").encode("utf-8")
    if fmt == "JSON":
        items = [
            {
                "stadtbezirk": DISTRICTS[row % 10],
                "jahr": 2010 + row % 12,
                "anzahl": rng.randint(0, 40000) + version,
            }
            for row in range(rows)
        ]
        return json.dumps(items, ensure_ascii=False).encode("utf-8")
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"Standort {row}", "anzahl": rng.randint(0, 500) + version},
            "geometry": {
                "type": "Point",
                "coordinates": [
                    round(6.68 + rng.random() * 0.26, 6),
                    round(51.12 + rng.random() * 0.23, 6),
                ],
            },
        }
        for row in range(rows)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode("utf-8")


def write_files(
    datasets: list[Dataset],
    directory: Path,
    *,
    version: int = 0,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> list[Entry]:
    """Small files of realistic sizes (median about 10 kB, a few up to ~300 kB) per resource.

    ``version`` changes the content (a new release of every file).
    """
    rng = random.Random(seed)
    entries = []
    for number, dataset in enumerate(datasets, 1):
        files = []
        folder = directory / dataset.id
        folder.mkdir(parents=True, exist_ok=True)
        for resource in dataset.resources:
            name = resource.resource_name(dataset.id)
            rows = max(5, min(8000, int(rng.lognormvariate(5.0, 1.2))))
            path = folder / name
            path.write_bytes(_content(resource.format, rng, rows, version))
            files.append(
                RenderedFile(
                    resource=name,
                    format=resource.format,
                    path=str(path),
                    sha256=sha256_file(path),
                    size=path.stat().st_size,
                    mimetype=MIMETYPES.get(resource.format, "application/octet-stream"),
                )
            )
        entries.append(Entry(dataset=dataset, files=files))
        if progress and number % 100 == 0:
            progress(f"  files for {number}/{len(datasets)} datasets")
    return entries


def generate(
    directory: Path,
    datasets: int = FULL_DATASETS,
    resources: int = FULL_RESOURCES,
    *,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, list[Entry]]:
    """Registry in ``directory/registry``, files in ``directory/files``; the entries."""
    registry = directory / "registry"
    write_registry(registry, datasets, resources)
    loaded = load_registry(registry)
    ordered = [loaded[i] for i in sorted(loaded)]
    return registry, write_files(ordered, directory / "files", progress=progress)
