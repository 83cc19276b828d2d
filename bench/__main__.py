"""``python -m bench`` — run the benchmarks and write the report.

python -m bench --profile full      # make bench: writes bench/results.md and .json
python -m bench --profile quick     # make bench-quick: small inputs, writes to .work/bench/
python -m bench --only sync,dags    # a subset (the report then holds only those)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.harness import PROJECT, Context, Section, machine_info
from bench.report import write_report

BENCHMARKS: dict[str, str] = {
    "sync": "bench.sync_bench",
    "validation": "bench.validation_bench",
    "geodata": "bench.geodata_bench",
    "dags": "bench.dags_bench",
    "latency": "bench.latency_bench",
}
"""Name → module with ``run(ctx: Context) -> Section``, in report order."""

REPEATS = {"full": 5, "quick": 1}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the pipeline side by side with the alternatives "
        "(ckanapi load, plain pandas, ogr2ogr). Starts and stops its own local stack.",
    )
    parser.add_argument(
        "--profile",
        choices=["full", "quick"],
        default="full",
        help="full: the issue's sizes (341 datasets, 1,000,000 rows, 100,000 polygons, "
        "10 drops); quick: small inputs, to check the benchmarks run (default: full)",
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for results.md and results.json (default: bench/ for full, "
        ".work/bench/ for quick)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repetitions of each comparison (default: 5 full, 1 quick)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    out = args.out or (PROJECT / "bench" if args.profile == "full" else PROJECT / ".work" / "bench")
    (PROJECT / ".work").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=PROJECT / ".work"))
    ctx = Context(
        profile=args.profile,
        scratch=scratch,
        repeats=args.repeats or REPEATS[args.profile],
    )
    info = machine_info()
    started = time.time()
    sections: list[Section] = []
    try:
        for name in names:
            ctx.say(f"== {name}")
            module = importlib.import_module(BENCHMARKS[name])
            try:
                section: Section = module.run(ctx)
            except Exception as exc:
                traceback.print_exc()
                section = Section(key=name, title=name, error=f"{type(exc).__name__}: {exc}")
            sections.append(section)
    finally:
        ctx.close()
        if not args.keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    info["duration_s"] = round(time.time() - started, 1)
    md, js = write_report(out, args.profile, info, sections, repeats=ctx.repeats)
    print(f"wrote {md} and {js}")
    failed = [s.key for s in sections if s.error]
    if failed:
        print(f"benchmark(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
