"""Parse the DAG folder with network, database, Connections and Variables forbidden.

Run as a script by the DAG tests (a fresh interpreter, so module-import checks are
meaningful); prints one JSON object.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "plugins"))
sys.path.insert(0, str(PROJECT))

touched: list[str] = []


def forbid(name: str):
    def guard(*args, **kwargs):
        touched.append(name)
        raise RuntimeError(f"{name} while parsing DAG files")

    return guard


socket.socket.connect = forbid("network connect")  # type: ignore[method-assign]
socket.create_connection = forbid("network connect")  # type: ignore[assignment]

from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.sdk import BaseHook, Connection, Variable  # noqa: E402

Connection.get = forbid("Connection.get")  # type: ignore[method-assign]
Variable.get = forbid("Variable.get")  # type: ignore[method-assign]
BaseHook.get_connection = forbid("BaseHook.get_connection")  # type: ignore[method-assign]

before = set(sys.modules)
started = time.perf_counter()
bag = DagBag(dag_folder=str(PROJECT / "dags"))
elapsed = time.perf_counter() - started
heavy = sorted(
    {m.split(".")[0] for m in set(sys.modules) - before}
    & {"pandas", "geopandas", "great_expectations", "ckanapi", "requests", "pyarrow", "numpy"}
)
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "fileloc": Path(dag.fileloc).name,
        "owner": dag.owner,
        "tags": sorted(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "catchup": dag.catchup,
        "schedule": repr(dag.timetable),
        "doc_md": bool(dag.doc_md),
        "tasks": [t.task_id for t in dag.topological_sort()],
        "retries": sorted({t.retries for t in dag.tasks}),
        "retry_delay": sorted({t.retry_delay.total_seconds() for t in dag.tasks}),
    }
print(
    json.dumps(
        {
            "import_errors": bag.import_errors,
            "dags": dags,
            "touched": touched,
            "heavy_imports": heavy,
            "seconds": elapsed,
            "per_file": {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats},
        }
    )
)
