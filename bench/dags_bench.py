"""DAG parsing: the whole ``dags/`` folder with the generated 341-dataset registry.

Each repetition is a fresh worker (:mod:`bench.dags_worker`) that imports Airflow as the
dag-processor manager has it imported, then parses every file of ``dags/`` in a forked
child of its own, as the processor does. Reported per file (median over repetitions):
the parse (``BundleDagBag`` of the file: import of the DAG file, registry loading, DAG
objects, the duration Airflow itself reports for a file) and the processor's whole
per-file work (parse plus serialization of the DAGs). The target is on the parse of
the whole folder (the sum over its files, median over repetitions).

While the children parse, network connects, name lookups, SQLite opens, SQLAlchemy
connects and Connection/Variable lookups are recorded, with the metadata database
pointing where nobody listens (as ``tests/dags/parse_guarded.py`` does).
"""

from __future__ import annotations

import os
from typing import Any

from bench.catalogue import FULL_DATASETS, FULL_RESOURCES, write_registry
from bench.harness import PROJECT, Context, Section, Target, fmt_s, median, run_worker

QUICK_DATASETS = 20
QUICK_RESOURCES = 150
LIMIT_S = 1.0
WORKER = "bench.dags_worker"
PYCACHE = PROJECT / ".work" / "dags-bench-pycache"
"""Bytecode of the modules the children import; kept between runs (``.work/`` is ignored)."""

FLOOR = '''"""The generated datasets' DAGs written with airflow.sdk alone: Airflow's own cost.

The shape of harvest_airflow.factory.build_dag (four tasks, two Params, a cron or
drop-folder schedule with an asset watcher, default_args, tags, doc_md), without the
registry, the models or the factory.
"""

import datetime as dt

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable
from airflow.sdk import Param, task
from harvest_airflow.triggers import DropFolderTrigger

DIALECT = "http://json-schema.org/draft-07/schema#"

for number in range({count}):
    dag_id = f"floor-{{number}}"
    watcher = AssetWatcher(
        name=f"dropzone-{{dag_id}}",
        trigger=DropFolderTrigger(dataset_id=dag_id, folder=f"/srv/dropzone/{{dag_id}}"),
    )
    asset = Asset(name=f"dropzone-{{dag_id}}", uri=f"x-harvest-dropzone://{{dag_id}}",
                  group="dropzone", watchers=[watcher])
    with DAG(
        dag_id=dag_id,
        description=f"Datensatz {{number}}",
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable("0 6 * * 5", timezone="Europe/Berlin"), assets=asset
        ),
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=f"# Datensatz {{number}}\\n\\nA description of a few lines.",
        tags=["harvest", "statistics_tables", "amt"],
        default_args={{"owner": "amt", "retries": 2, "retry_delay": dt.timedelta(minutes=5),
                       "retry_exponential_backoff": True}},
        params={{
            "files": Param([], description="Input files.",
                           schema={{"$schema": DIALECT, "type": "array",
                                   "items": {{"type": "string"}}}}),
            "dropzone": Param(False, description="Process the queue.",
                              schema={{"$schema": DIALECT, "type": "boolean"}}),
        }},
    ) as dag:

        @task
        def extract() -> dict:
            return {{}}

        @task
        def transform(extracted: dict) -> dict:
            return extracted

        @task
        def validate(transformed: dict) -> dict:
            return transformed

        @task(pool="ckan")
        def publish(validated: dict) -> dict:
            return validated

        publish(validate(transform(extract())))
    globals()[dag_id] = dag
'''
"""A DAG file of ``count`` DAGs shaped like the factory's, with nothing of the project."""


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _files(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = result["files"]
    return files


def run(ctx: Context) -> Section:
    datasets, resources = (
        (FULL_DATASETS, FULL_RESOURCES) if ctx.full else (QUICK_DATASETS, QUICK_RESOURCES)
    )
    section = Section(key="dags", title=f"DAG parsing (dags/ with {datasets} datasets)")
    registry = ctx.scratch / "dags-registry"
    ids = set(write_registry(registry, datasets, resources))
    home = ctx.scratch / "dags-airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    PYCACHE.mkdir(parents=True, exist_ok=True)
    floor = ctx.scratch / "dags-floor" / "floor_dags.py"
    floor.parent.mkdir(parents=True, exist_ok=True)
    floor.write_text(FLOOR.format(count=datasets), encoding="utf-8")
    # the generated datasets are all of this family (dags/statistics_tables.py)
    family = "statistics_tables"
    args = (str(registry), str(home), str(PYCACHE), "--floor", str(floor), "--breakdown", family)

    load_before = _load()
    ctx.say(f"dags: warm-up parse ({datasets} datasets; load average {load_before})")
    run_worker(WORKER, *args)  # fills the bytecode cache and the OS file cache
    results = []
    for repetition in range(ctx.repeats):
        result = run_worker(WORKER, *args)
        total = sum(f["parse_s"] for f in _files(result).values())
        ctx.say(f"  parse of dags/: {total:.3f} s (repetition {repetition + 1}/{ctx.repeats})")
        results.append(result)
    load_after = _load()

    names = sorted(_files(results[0]))
    parse = {n: [_files(r)[n]["parse_s"] for r in results] for n in names}
    processor = {n: [_files(r)[n]["processor_s"] for r in results] for n in names}
    parse_cpu = {n: [_files(r)[n]["parse_cpu_s"] for r in results] for n in names}
    parse_totals = [sum(_files(r)[n]["parse_s"] for n in names) for r in results]
    parse_cpu_totals = [sum(_files(r)[n]["parse_cpu_s"] for n in names) for r in results]
    processor_totals = [sum(_files(r)[n]["processor_s"] for n in names) for r in results]
    floor_parse = median([r["floor"]["parse_s"] for r in results])
    floor_cpu = median([r["floor"]["parse_cpu_s"] for r in results])
    floor_processor = median([r["floor"]["processor_s"] for r in results])
    parts = {
        part: median([r["breakdown"][part] for r in results])
        for part in ("imports_cpu_s", "registry_cpu_s", "dag_objects_cpu_s")
    }
    airflow_import = median([r["airflow_import_s"] + r["pre_import_s"] for r in results])

    # what was found, over every repetition: DAG ids, import errors, guard records
    last = _files(results[-1])
    dag_ids = {d for f in last.values() for d in f["dag_ids"]}
    operational = sorted(d for d in dag_ids if d.startswith("harvest_"))
    import_errors = {
        f"{n}: {path}": error
        for r in results
        for n, f in _files(r).items()
        for path, error in f["import_errors"].items()
    }
    touched = [f"{n}: {t}" for r in results for n, f in _files(r).items() for t in f["touched"]]
    heavy = sorted({h for r in results for f in _files(r).values() for h in f["heavy_imports"]})
    missing = sorted(ids - dag_ids)
    unexpected = sorted(dag_ids - ids - set(operational))

    section.row("registry", f"{datasets} generated datasets, {resources:,} resources")
    for name in names:
        dags = last[name]["dags"]
        section.row(
            f"dags/{name} ({dags} DAG{'s' if dags != 1 else ''})",
            f"{fmt_s(median(parse[name]))} parse (CPU {fmt_s(median(parse_cpu[name]))}), "
            f"{fmt_s(median(processor[name]))} with serialization",
        )
    section.row(
        "whole dags/ folder: parse",
        f"{fmt_s(median(parse_totals))} (CPU {fmt_s(median(parse_cpu_totals))})",
    )
    section.row(
        "whole dags/ folder: parse + serialization (the processor's work)",
        fmt_s(median(processor_totals)),
    )
    section.row(
        f"dags/{family}.py, its parts (CPU)",
        f"imports {fmt_s(parts['imports_cpu_s'])}, registry (YAML and validation) "
        f"{fmt_s(parts['registry_cpu_s'])}, {datasets} DAG objects "
        f"{fmt_s(parts['dag_objects_cpu_s'])}",
    )
    section.row(
        f"floor: the same {datasets} DAGs written with airflow.sdk alone (one file)",
        f"{fmt_s(floor_parse)} parse (CPU {fmt_s(floor_cpu)}; "
        f"{floor_parse / datasets * 1000:.1f} ms per DAG), "
        f"{fmt_s(floor_processor)} with serialization",
    )
    section.row(
        "DAGs found",
        f"{len(dag_ids)} ({len(dag_ids) - len(operational)} datasets + "
        f"{len(operational)} operational); import errors: {len(import_errors) or 'none'}",
    )
    section.row("network/database access during parsing", "; ".join(sorted(set(touched))) or "none")
    section.row("heavy libraries imported by parsing", ", ".join(heavy) or "none")
    section.row(
        "importing Airflow in the processor (once per processor, not part of the parse)",
        fmt_s(airflow_import),
    )
    section.row("load average (1/5/15 min) before / after", f"{load_before} · {load_after}")

    section.targets.append(
        Target("whole dags/ folder parse time", median(parse_totals), LIMIT_S, "s", "<")
    )
    section.targets.append(
        Target("network/database accesses during parsing", float(len(touched)), 0, "", "==")
    )
    section.figures = {
        "datasets": datasets,
        "resources": resources,
        "repetitions": ctx.repeats,
        "parse_s": {n: median(v) for n, v in parse.items()},
        "processor_s": {n: median(v) for n, v in processor.items()},
        "parse_cpu_s": {n: median(v) for n, v in parse_cpu.items()},
        "parse_total_s": median(parse_totals),
        "parse_cpu_total_s": median(parse_cpu_totals),
        "processor_total_s": median(processor_totals),
        "parse_totals_s": parse_totals,
        "parse_cpu_totals_s": parse_cpu_totals,
        "processor_totals_s": processor_totals,
        "parse_runs_s": parse,
        "dags": len(dag_ids),
        "operational_dags": operational,
        "import_errors": import_errors,
        "touched": touched,
        "heavy_imports": heavy,
        "breakdown_cpu_s": parts,
        "floor_parse_s": floor_parse,
        "floor_parse_cpu_s": floor_cpu,
        "floor_processor_s": floor_processor,
        "airflow_import_s": airflow_import,
        "load_average": {"before": load_before, "after": load_after},
    }
    section.notes.append(
        "Each repetition is a fresh process that imports Airflow as the dag-processor "
        "manager has it and forks one child per file, as the processor does; figures are "
        "medians over the repetitions, after one warm-up run, and the folder's figure is "
        "the median of the per-repetition sums. Parse = the file's BundleDagBag (the "
        "duration Airflow reports for a file); the processor then serializes the DAGs, "
        "shown apart. Bytecode is cached, as in a deployment. CPU = the parsing process's "
        "CPU time, which a loaded machine inflates less than wall time."
    )
    total = median(parse_totals)
    if total >= LIMIT_S:
        section.notes.append(
            f"Target missed: Airflow alone needs {fmt_s(floor_parse)} for DAG objects of "
            f"the same shape ({floor_parse / datasets * 1000:.1f} ms per DAG, the floor "
            f"row), so {datasets} such DAGs cannot parse in {LIMIT_S:g} s on this machine; "
            f"the project's own share of the {fmt_s(total)} is about "
            f"{fmt_s(max(total - floor_parse, 0.0))} (imports of the six files, the "
            f"registry, the factory)."
        )
    if missing or unexpected or import_errors:
        section.error = (
            f"DAGs do not match the registry: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, import errors {list(import_errors)[:5]}"
        )
    return section
