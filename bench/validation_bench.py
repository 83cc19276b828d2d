"""Validation overhead: the vornamen suite through Great Expectations vs the same checks in pandas.

Issue 9, item 2. A tidy vornamen table (1,000,000 rows in the full profile) is built
once per run from real first names and written to Parquet; then, alternating, fresh
interpreters validate it with the pipeline's own :func:`etl.validate.validate` (GE) and
with :mod:`bench.validation_pandas` (the same checks written directly in pandas). See
:mod:`bench.validation_worker` for what each process measures.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.harness import (
    PROJECT,
    Context,
    Section,
    Target,
    alternate,
    fmt_ratio,
    fmt_s,
    median,
    run_worker,
    stopwatch,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FULL_ROWS = 1_000_000
QUICK_ROWS = 20_000
NAMES = PROJECT / "tests" / "fixtures" / "firstnames"
"""Real first-name lists of other German cities (sources and licences in SOURCES.md there)."""

RANKED_SINCE = 2016
"""Düsseldorf publishes ranked lists (with ``position``) since the 2016 list; older
years come as one list per gender without position."""
RANKED_SIZES = (3000, 1800, 600, 150)
"""Distinct names per gender at positions 1, 2, 3, 4 of a ranked year."""
LIST_SIZE = 5000
"""Distinct names per gender in a per-gender list (older years)."""
DIVERS_PER_YEAR = 4
"""Rows with gender ``d`` per year; their counts are ≥ 3, the privacy threshold."""
GENDER_WORDS = {"w": "weiblich", "m": "maennlich", "d": "divers"}
SEED = 20_240_901


def name_pools() -> dict[str, tuple[list[str], list[float]]]:
    """Gender → (names, weights): every valid name of the fixture lists, weighted by count.

    Names are normalised as the transform does and kept only if the suite's name rule
    accepts them, so the generated table passes the suite.
    """
    import pandas as pd

    from etl.readers import normalize_header
    from etl.sources.first_names import GENDER_VALUES, HEADER_ALIASES, normalize_name
    from etl.validate import load_suite

    pattern = next(
        e["kwargs"]["regex"]
        for e in load_suite("vornamen")["expectations"]
        if e["type"] == "expect_column_values_to_match_regex"
    )
    rule = re.compile(pattern)
    weights: dict[str, dict[str, float]] = {}
    for path in sorted(NAMES.glob("*.csv")):
        raw = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
        raw.columns = [HEADER_ALIASES.get(normalize_header(c), c) for c in raw.columns]
        for text, count, gender in zip(
            raw["vorname"], raw["anzahl"], raw["geschlecht"], strict=True
        ):
            name = normalize_name(text)
            code = GENDER_VALUES.get(gender.strip().casefold())
            if not name or code is None or not rule.search(name) or not count.isdigit():
                continue
            pool = weights.setdefault(code, {})
            pool[name] = pool.get(name, 0.0) + float(count)
    return {code: (sorted(pool), [pool[n] for n in sorted(pool)]) for code, pool in weights.items()}


def build_table(rows: int, *, last_year: int, seed: int = SEED) -> pd.DataFrame:
    """A valid tidy vornamen table of ``rows`` rows, as ``first_names.transform`` returns it.

    Years count back from ``last_year``: ranked lists (positions 1–4) from
    :data:`RANKED_SINCE`, per-gender lists without position before. Per year, gender and
    position the names are drawn from the real lists without replacement, popular
    names more likely; counts are Zipf-distributed (about two thirds are 1, as in the
    real lists), the more popular name getting the higher count.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pools = name_pools()
    everyone = sorted(set(pools["w"][0]) | set(pools["m"][0]))
    columns: dict[str, list[Any]] = {
        c: [] for c in ("jahr", "vorname", "geschlecht", "position", "anzahl", "_file", "_line")
    }
    lines: dict[str, int] = {}
    total = 0

    def add(year: int, gender: str, position: int | None, names: list[str], counts: Any) -> None:
        nonlocal total
        # a ranked list is one file per year, older lists one file per year and gender
        file = (
            f"vornamen_{year}.csv"
            if position is not None
            else f"vornamen_{year}_{GENDER_WORDS[gender]}.csv"
        )
        start = lines.get(file, 1)  # line 1 is the header
        lines[file] = start + len(names)
        columns["jahr"].extend([year] * len(names))
        columns["vorname"].extend(names)
        columns["geschlecht"].extend([gender] * len(names))
        columns["position"].extend([position] * len(names))
        columns["anzahl"].extend(int(c) for c in counts)
        columns["_file"].extend([file] * len(names))
        columns["_line"].extend(range(start + 1, start + 1 + len(names)))
        total += len(names)

    year = last_year
    while total < rows:
        if year < 1900:
            raise ValueError(f"{rows} rows need years before 1900; the suite rejects them")
        positions: list[tuple[int | None, int]] = (
            list(enumerate(RANKED_SIZES, start=1)) if year >= RANKED_SINCE else [(None, LIST_SIZE)]
        )
        for gender in ("w", "m"):
            names, weights = pools[gender]
            for position, size in positions:
                picked = _weighted_sample(rng, names, weights, size)
                counts = np.sort(np.minimum(rng.zipf(2.1, len(picked)), 400))[::-1]
                add(year, gender, position, picked, counts)
        divers = list(rng.choice(everyone, DIVERS_PER_YEAR, replace=False))
        add(year, "d", positions[0][0], divers, rng.integers(3, 7, DIVERS_PER_YEAR))
        year -= 1

    frame = pd.DataFrame(
        {
            "jahr": pd.array(columns["jahr"], dtype="Int64"),
            "vorname": pd.array(columns["vorname"], dtype="string"),
            "geschlecht": pd.array(columns["geschlecht"], dtype="string"),
            "position": pd.array(columns["position"], dtype="Int64"),
            "anzahl": pd.array(columns["anzahl"], dtype="Int64"),
            "_file": pd.array(columns["_file"], dtype="string"),
            "_line": pd.array(columns["_line"], dtype="Int64"),
        }
    ).head(rows)
    # the privacy helper column, all False: no published row is below its threshold
    frame["_unter_schwelle"] = False
    # the transform's order
    return frame.sort_values(
        ["jahr", "geschlecht", "position", "anzahl", "vorname", "_file", "_line"],
        ascending=[True, True, True, False, True, True, True],
        na_position="first",
        kind="mergesort",
    ).reset_index(drop=True)


def _weighted_sample(
    rng: np.random.Generator, names: list[str], weights: list[float], size: int
) -> list[str]:
    """``size`` distinct names, drawn with probability ∝ weight, in draw order.

    Gumbel top-k: the ``size`` largest of log(weight) + Gumbel noise are a weighted
    sample without replacement, and their order is the order of drawing.
    """
    import numpy as np

    keys = np.log(np.asarray(weights)) + rng.gumbel(size=len(names))
    top = np.argsort(-keys)[: min(size, len(names))]
    return [names[i] for i in top]


def _medians(results: list[dict[str, Any]], key: str) -> float:
    return median([float(r[key]) for r in results])


def run(ctx: Context) -> Section:
    """Build the table, validate it alternately with GE and pandas, report medians."""
    section = Section("validation", "Validation overhead (vornamen suite)")
    rows = FULL_ROWS if ctx.full else QUICK_ROWS
    today = dt.date.today()
    table = ctx.scratch / "vornamen_validation.parquet"

    ctx.say(f"building a {rows:,}-row vornamen table")
    with stopwatch() as took:
        frame = build_table(rows, last_year=today.year - 1)
        frame.to_parquet(table, index=False)
    first_year, last_year = int(frame["jahr"].min()), int(frame["jahr"].max())
    del frame
    ctx.say(f"  {table.name}: {table.stat().st_size / 1e6:.1f} MB in {took():.1f} s")

    results: dict[str, list[dict[str, Any]]] = {"ge": [], "pandas": []}

    def side(name: str) -> Callable[[], None]:
        def task() -> None:
            results[name].append(
                run_worker("bench.validation_worker", name, str(table), today.isoformat())
            )

        return task

    walls = alternate({"ge": side("ge"), "pandas": side("pandas")}, ctx.repeats, say=ctx.say)

    for name, outcomes in results.items():
        broken = [r for r in outcomes if not r["success"] or r["rows"] != rows]
        if broken:
            raise RuntimeError(
                f"{name}: the generated table did not pass the suite "
                f"(failed: {broken[0]['failed_checks']}); the benchmark would time failures"
            )

    ge, pd_ = results["ge"], results["pandas"]
    ge_validate = _medians(ge, "validate_s")
    pd_validate = _medians(pd_, "validate_s")
    ge_context = median([r["context_s"] + r["suite_s"] for r in ge])
    ratio = ge_validate / pd_validate
    ratio_with_context = (ge_context + ge_validate) / pd_validate
    ge_peak = max(r["peak_rss_mb"] for r in ge)
    pd_peak = max(r["peak_rss_mb"] for r in pd_)

    section.row(
        "Table",
        f"{rows:,} rows, years {first_year}–{last_year}, "
        f"{table.stat().st_size / 1e6:.1f} MB Parquet",
    )
    section.row("GE: import great_expectations", fmt_s(_medians(ge, "import_gx_s")))
    section.row("GE: context + suite registration", fmt_s(ge_context))
    section.row("GE: validate (etl.validate.validate)", fmt_s(ge_validate))
    section.row("pandas: import pandas + pyarrow", fmt_s(_medians(pd_, "import_pandas_s")))
    section.row("pandas: validate (bench.validation_pandas)", fmt_s(pd_validate))
    section.row(
        "Read Parquet (GE / pandas process, not in validate)",
        f"{fmt_s(_medians(ge, 'read_s'))} / {fmt_s(_medians(pd_, 'read_s'))}",
    )
    section.row("Validate GE / pandas", fmt_ratio(ratio))
    section.row(
        "GE context + suite + validate / pandas validate (information)",
        fmt_ratio(ratio_with_context),
    )
    section.row(
        "Whole fresh process GE / pandas (information)",
        f"{fmt_s(median(walls['ge']))} / {fmt_s(median(walls['pandas']))}",
    )
    section.row(
        "Peak RSS GE task / pandas task (max of repetitions)",
        f"{ge_peak:.0f} MB / {pd_peak:.0f} MB",
    )

    section.targets.append(Target("GE / pandas validation time", ratio, 2.0, "×", "<="))
    section.targets.append(
        Target("peak memory of the GE validation task", ge_peak, 1024, "MB", "<")
    )
    section.figures = {
        "rows": rows,
        "years": [first_year, last_year],
        "parquet_mb": round(table.stat().st_size / 1e6, 2),
        "repeats": ctx.repeats,
        "ge": {
            "median_s": {
                key: _medians(ge, key)
                for key in (
                    "import_pandas_s",
                    "import_project_s",
                    "read_s",
                    "import_gx_s",
                    "context_s",
                    "suite_s",
                    "suite_update_s",
                    "validate_s",
                )
            },
            "peak_rss_mb_max": ge_peak,
            "process_wall_s": walls["ge"],
            "runs": ge,
        },
        "pandas": {
            "median_s": {
                key: _medians(pd_, key)
                for key in ("import_pandas_s", "import_project_s", "read_s", "validate_s")
            },
            "peak_rss_mb_max": pd_peak,
            "process_wall_s": walls["pandas"],
            "runs": pd_,
        },
        "ratio_validate": ratio,
        "ratio_validate_per_repetition": [
            g["validate_s"] / p["validate_s"] for g, p in zip(ge, pd_, strict=True)
        ],
        "ratio_with_context": ratio_with_context,
    }
    section.notes += [
        "Both sides run in fresh interpreters (`python -m bench.validation_worker`), "
        f"alternating GE/pandas, {ctx.repeats} repetition(s); medians shown. Each process "
        "reads the same Parquet file (timed separately) and validates the tidy table with "
        "`expectations/vornamen.json` (14 expectations plus the transform-problems check).",
        "GE validate = `etl.validate.validate(dataset, tidy)`, the function the pipeline's "
        "validate step calls: Int64→int64 hand-over frame, suite update, GE run with "
        "result_format SUMMARY (counts + 20 examples per check), report building. "
        "Timed once the context exists; it is the process's first validation, so GE's "
        "one-time work on a first run (as in a pipeline task) is included.",
        "GE context + suite = `etl.validate._gx()` (ephemeral context, pandas data source, "
        "batch definition) plus registering the suite and validation definition once; the "
        "re-registration every validate call repeats is inside 'validate' "
        f"(measured alone: {fmt_s(_medians(ge, 'suite_update_s'))}). GE import is "
        "`import great_expectations` after pandas is already imported.",
        "pandas validate = `bench.validation_pandas.validate`: the same suite JSON, each "
        "expectation type with GE's semantics (missing values skipped by column checks, "
        "full unexpected counts, first 20 examples), the same report; "
        "`tests/bench/test_validation_pandas.py` shows both sides fail the same checks. "
        "pandas import = `import pandas, pyarrow.parquet` (both sides need it).",
        "Peak RSS = the process's maximum resident set (ru_maxrss) over the whole task: "
        "imports, reading the table, validation; the target uses the largest of the "
        "repetitions. The table itself is generated once, in the benchmark process.",
        f"Table: real first names of Köln, Berlin, Leipzig and München ({NAMES.name} "
        f"fixtures), ranked lists (positions 1–4) from {RANKED_SINCE}, per-gender lists "
        "before, a few 'd' rows per year; every row valid.",
    ]
    return section
