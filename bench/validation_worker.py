"""One validation task in a fresh interpreter; prints one JSON object with its timings.

    python -m bench.validation_worker ge|pandas TABLE.parquet YYYY-MM-DD

Both sides do the same steps in the same order, each timed on its own: import pandas
and pyarrow, import the project's modules, read the tidy vornamen table from Parquet,
then validate it with the suite ``expectations/vornamen.json`` (suite parameters for
the given day).

* ``ge``: import ``great_expectations`` (on top of pandas, which both sides need),
  create the pipeline's GE context (``etl.validate._gx()``, what the first
  validation of a process pays), register the suite and its validation definition
  (the same calls ``etl.validate`` makes), time that registration a second time (the
  update every :func:`etl.validate.validate` call repeats), then run
  :func:`etl.validate.validate` (the function the pipeline's validate step calls).
* ``pandas``: run :func:`bench.validation_pandas.validate`, the same checks written
  directly in pandas.

The peak resident set size of the process covers the whole task (imports, the table
in memory, validation). Nothing is written except the JSON line on stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench.harness import peak_rss_mb

T = TypeVar("T")


def _timed(figures: dict[str, Any], key: str, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = step()
    figures[key] = time.perf_counter() - started
    return result


def _import_pandas() -> None:
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def _import_project(side: str) -> None:
    import etl.registry
    import etl.validate  # noqa: F401

    if side == "pandas":
        import bench.validation_pandas  # noqa: F401


def _import_gx() -> None:
    import great_expectations  # noqa: F401


def _register_suite(dataset_id: str) -> None:
    """What ``etl.validate`` does before each run: add or update the suite and definition."""
    from great_expectations.core import ExpectationSuite

    from etl.validate import _gx, load_suite

    gx = _gx()
    suite = gx.context.suites.add_or_update(ExpectationSuite(**load_suite(dataset_id)))
    gx.context.validation_definitions.add_or_update(
        gx.gx.ValidationDefinition(name=suite.name, data=gx.batch, suite=suite)
    )


def measure(side: str, table: Path, today: dt.date) -> dict[str, Any]:
    """Run the task of ``side`` (``ge`` or ``pandas``) on ``table``; timings in seconds."""
    # the pipeline's GE context sets this too, but only when it is created: GE must not
    # phone home from the import onwards either
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    figures: dict[str, Any] = {"side": side}
    _timed(figures, "import_pandas_s", _import_pandas)
    _timed(figures, "import_project_s", lambda: _import_project(side))

    import pandas as pd

    from etl.registry import get_dataset
    from etl.sources.base import Tidy

    dataset = get_dataset("vornamen")
    frame = _timed(figures, "read_s", lambda: pd.read_parquet(table))
    figures["rows"] = len(frame)
    figures["rss_after_read_mb"] = peak_rss_mb()
    tidy = Tidy(frame=frame)

    if side == "ge":
        from etl import validate as pipeline_validate

        _timed(figures, "import_gx_s", _import_gx)
        _timed(figures, "context_s", pipeline_validate._gx)
        _timed(figures, "suite_s", lambda: _register_suite(dataset.id))
        _timed(figures, "suite_update_s", lambda: _register_suite(dataset.id))
        report = _timed(
            figures,
            "validate_s",
            lambda: pipeline_validate.validate(dataset, tidy, today=today),
        )
    elif side == "pandas":
        from bench import validation_pandas

        report = _timed(
            figures,
            "validate_s",
            lambda: validation_pandas.validate(dataset, tidy, today=today),
        )
    else:
        raise SystemExit(f"unknown side {side!r} (ge or pandas)")

    figures["success"] = report.success
    figures["checks"] = len(report.checks)
    figures["failed_checks"] = [c["check"] for c in report.checks if not c["success"]]
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    side, table, today = argv
    figures = measure(side, Path(table), dt.date.fromisoformat(today))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
