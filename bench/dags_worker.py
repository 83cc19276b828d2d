"""Parse every file of ``dags/`` the way Airflow's dag-processor does; prints one JSON object.

    python -m bench.dags_worker REGISTRY AIRFLOW_HOME PYCACHE [--floor FILE] [--breakdown FAMILY]
                                [--profile OUT]

The dag-processor manager has Airflow imported; for each file it pre-imports the
Airflow modules the file names, forks, and the child runs ``_parse_file``: a
``BundleDagBag`` of that one file (the parse Airflow reports as the file's duration)
and the serialization of its DAGs. This worker does the same: it imports what the
manager imports (timed: the one-time cost, not part of the parse), then forks one
child per file, so every file starts from the processor's state and nothing the
previous file imported or cached makes it look faster. Like the manager, it freezes
the garbage collector's view of what is loaded before it forks.

Bytecode of the project's modules is cached under ``PYCACHE`` (a deployed processor
writes ``__pycache__`` on its first parse; this machine sets PYTHONDONTWRITEBYTECODE,
which would otherwise compile ``etl/`` and ``plugins/`` again in every child).

While a child parses, every network connect, name lookup, SQLite open, SQLAlchemy
connect and Connection/Variable lookup is recorded (the metadata database URL points
where nobody listens, as in ``tests/dags/parse_guarded.py``), and so are heavy
libraries that the parse imported.

``--floor FILE`` parses one more DAG file the same way, reported apart (the benchmark
passes DAGs written with ``airflow.sdk`` alone: Airflow's own cost). ``--breakdown
FAMILY`` times the parts of a family's parse in one more child: importing the factory,
loading the family's registry entries, building the DAG objects. ``--profile OUT``
writes a cProfile of each child to ``OUT.<file stem>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
DAGS = PROJECT / "dags"
BUNDLE_NAME = "dags-folder"
HEAVY = ("pandas", "geopandas", "great_expectations", "ckanapi", "requests", "pyarrow", "numpy")
AUDITED = {
    "socket.connect": "network connect to {1!r}",
    "socket.getaddrinfo": "name lookup of {0!r}",
    "socket.gethostbyname": "name lookup of {0!r}",
    "socket.sendto": "network send to {2!r}",
    "http.client.connect": "HTTP connect to {1!r}",
    "sqlite3.connect": "SQLite open of {0!r}",
}
"""Audit events (PEP 578) that count as network or database access, with descriptions."""

_armed = False
_touched: list[str] = []


def _record(what: str) -> None:
    if _armed:
        _touched.append(what)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _armed and event in AUDITED:
        try:
            _touched.append(AUDITED[event].format(*args))
        except IndexError:
            _touched.append(event)


def _configure(registry: str, home: str) -> None:
    """Environment of the parse, set before Airflow is imported."""
    os.environ.update(
        {
            "HARVEST_REGISTRY": registry,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # a database nobody listens on: any access while parsing fails and is recorded
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://nobody@127.0.0.1:9/none",
        }
    )
    for folder in (PROJECT / "plugins", PROJECT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def _guard() -> None:
    """Record (and refuse) database, Connection and Variable access from Airflow's side."""
    from airflow.sdk import BaseHook, Connection, Variable
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def forbid(name: str) -> Any:
        def guard(*args: Any, **kwargs: Any) -> Any:
            _record(name)
            raise RuntimeError(f"{name} while parsing DAG files")

        return guard

    def on_connect(*args: Any, **kwargs: Any) -> None:
        _record("database connect")

    event.listen(Engine, "do_connect", on_connect)
    Connection.get = forbid("Connection.get")  # type: ignore[method-assign]
    Variable.get = forbid("Variable.get")  # type: ignore[method-assign]
    BaseHook.get_connection = forbid("BaseHook.get_connection")  # type: ignore[method-assign]


def _parse_in_child(path: Path, profile: str | None) -> dict[str, Any]:
    """What the dag-processor's child does with one file (runs in the forked child)."""
    global _armed
    import structlog
    from airflow.dag_processing import processor
    from airflow.dag_processing.dagbag import BundleDagBag

    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "client"
    bag_seconds: list[float] = []
    bag_cpu: list[float] = []
    dag_ids: list[str] = []

    class TimedBag(BundleDagBag):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started, cpu = time.perf_counter(), time.process_time()
            super().__init__(*args, **kwargs)
            bag_seconds.append(time.perf_counter() - started)
            bag_cpu.append(time.process_time() - cpu)
            dag_ids.extend(self.dags)

    # _parse_file builds the file's bag through this module attribute
    setattr(processor, "BundleDagBag", TimedBag)  # noqa: B010
    request = processor.DagFileParseRequest(
        file=str(path), bundle_path=path.parent, bundle_name=BUNDLE_NAME
    )
    log = structlog.get_logger(logger_name="dags-bench")
    before = set(sys.modules)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    _armed = True
    started, cpu = time.perf_counter(), time.process_time()
    result = processor._parse_file(request, log)
    total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
    _armed = False
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{path.stem}")
    heavy = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(HEAVY))
    return {
        "parse_s": bag_seconds[0],
        "parse_cpu_s": bag_cpu[0],
        "processor_s": total,
        "processor_cpu_s": total_cpu,
        "dags": len(result.serialized_dags) if result else 0,
        "dag_ids": dag_ids,
        "import_errors": dict(result.import_errors or {}) if result else {"?": "no result"},
        "touched": _touched,
        "heavy_imports": heavy,
    }


def _breakdown_in_child(family: str) -> dict[str, Any]:
    """Where one family's parse goes: imports, registry, DAG objects (CPU seconds)."""
    cpu = time.process_time()
    from harvest_airflow import factory

    from etl import registry

    imported = time.process_time()
    datasets = registry.load_family(family)
    loaded = time.process_time()
    for dataset in datasets.values():
        factory.build_dag(dataset)
    built = time.process_time()
    return {
        "family": family,
        "dags": len(datasets),
        "imports_cpu_s": imported - cpu,
        "registry_cpu_s": loaded - imported,
        "dag_objects_cpu_s": built - loaded,
    }


def _in_child(work: Callable[[], dict[str, Any]], label: str) -> dict[str, Any]:
    """``work()`` in a forked child (the processor's state, nothing left behind)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, report through the pipe, leave without cleanup
        os.close(read_end)
        code = 0
        try:
            done = work()
        except BaseException as exc:  # report whatever broke the parse
            done = {"error": f"{type(exc).__name__}: {exc}"}
            code = 1
        with os.fdopen(write_end, "w") as pipe:
            json.dump(done, pipe)
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    outcome: dict[str, Any] = json.loads(data)
    if "error" in outcome:
        raise RuntimeError(f"{label}: {outcome['error']}")
    return outcome


def _fork_parse(path: Path, profile: str | None) -> dict[str, Any]:
    return _in_child(lambda: _parse_in_child(path, profile), path.name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dags_worker")
    parser.add_argument("registry")
    parser.add_argument("airflow_home")
    parser.add_argument("pycache")
    parser.add_argument("--floor", type=Path)
    parser.add_argument("--breakdown", metavar="FAMILY")
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    _configure(args.registry, args.airflow_home)
    sys.addaudithook(_audit)

    started = time.perf_counter()
    # what the dag-processor manager has imported before it parses anything
    import airflow.dag_processing.manager  # noqa: F401
    import structlog
    from airflow.dag_processing import processor
    from airflow.utils.file import list_py_file_paths

    airflow_import = time.perf_counter() - started
    _guard()
    log = structlog.get_logger(logger_name="dags-bench")
    files = sorted(Path(p) for p in list_py_file_paths(str(DAGS)))
    extra = [args.floor] if args.floor else []
    started = time.perf_counter()
    for path in files + extra:
        # the manager does this before it forks the file's child
        processor._pre_import_airflow_modules(str(path), log)
    pre_import = time.perf_counter() - started
    # from here on (the children's imports), bytecode is read from and written to PYCACHE
    sys.pycache_prefix = args.pycache
    sys.dont_write_bytecode = False
    gc.freeze()  # as the manager does before its parsing loop

    per_file = {path.name: _fork_parse(path, args.profile) for path in files}
    floor = _fork_parse(args.floor, args.profile) if args.floor else None
    breakdown = None
    if args.breakdown:
        breakdown = _in_child(lambda: _breakdown_in_child(args.breakdown), "breakdown")
    print(
        json.dumps(
            {
                "airflow_import_s": airflow_import,
                "pre_import_s": pre_import,
                "files": per_file,
                "floor": floor,
                "breakdown": breakdown,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
