"""`make bench-quick`: every benchmark runs end to end on small inputs against the real
local stack (CKAN, Airflow, ckanapi load, ogr2ogr). Timings are not asserted: machines
are shared and noisy; the figures of a full run are in bench/results.md."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import PROJECT

SECTIONS = ["sync", "validation", "geodata", "dags", "latency"]


def test_quick_benchmarks_run_end_to_end_and_report_every_figure(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--profile", "quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=2400,
        cwd=PROJECT,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["profile"] == "quick"
    assert [s["key"] for s in results["sections"]] == SECTIONS
    for section in results["sections"]:
        assert section["error"] is None, section
        assert section["targets"], section["key"]
        assert section["figures"], section["key"]
    by_key = {s["key"]: s for s in results["sections"]}
    # the behaviour behind the sync targets holds at any size: a no-change republish of
    # the catalogue makes no write call and at most one read per 20 datasets
    [write_target] = [
        t for t in by_key["sync"]["targets"] if t["name"] == "no-change republish: write calls"
    ]
    assert write_target["value"] == 0
    [read_target] = [
        t for t in by_key["sync"]["targets"] if "read calls per 20 datasets" in t["name"]
    ]
    assert read_target["met"] is True
    # DAG parsing touched neither network nor database
    guard = [t for t in by_key["dags"]["targets"] if t["comparison"] == "=="]
    assert guard and all(t["value"] == 0 for t in guard)
    markdown = (tmp_path / "results.md").read_text(encoding="utf-8")
    for section in results["sections"]:
        assert f"## {section['title']}" in markdown
