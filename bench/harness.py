"""Shared machinery: profiles, alternating repetitions, sections of the report."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Profile = Literal["full", "quick"]
PROJECT = Path(__file__).resolve().parent.parent


@dataclass
class Target:
    """A target of the issue: ``value`` compared with ``limit`` (``<=`` or ``>=``)."""

    name: str
    value: float | None
    limit: float
    unit: str = ""
    comparison: Literal["<=", ">=", "<", ">", "=="] = "<="

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return {
            "<=": self.value <= self.limit,
            ">=": self.value >= self.limit,
            "<": self.value < self.limit,
            ">": self.value > self.limit,
            "==": self.value == self.limit,
        }[self.comparison]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class Section:
    """One benchmark's outcome: figures for the JSON, rows for the Markdown table."""

    key: str
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def row(self, label: str, value: str) -> None:
        self.rows.append((label, value))

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "figures": self.figures,
            "targets": [t.as_dict() for t in self.targets],
            "notes": self.notes,
            "error": self.error,
        }


@dataclass
class Context:
    """What every benchmark gets: the profile, a scratch folder, progress output."""

    profile: Profile
    scratch: Path
    repeats: int
    quiet: bool = False
    _portal: Any = None
    _stops: list[Callable[[], object]] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.profile == "full"

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def portal(self) -> Any:
        """The local portal for benchmarks (started once, stopped by :meth:`close`)."""
        if self._portal is None:
            from bench.stack import start_bench_portal

            self._portal = start_bench_portal(self.scratch / "portal", say=self.say)
            self._stops.append(self._portal.stop)
        return self._portal

    def on_close(self, stop: Callable[[], object]) -> None:
        self._stops.append(stop)

    def close(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:
                self.say(f"stopping failed: {exc}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def alternate(
    sides: dict[str, Callable[[], Any]],
    repeats: int,
    *,
    say: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Run each side ``repeats`` times, alternating (A B, B A, A B …); wall seconds per run.

    The order flips every repetition so neither side always runs on a warm (or cold)
    machine first.
    """
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repeats):
        order = names if repetition % 2 == 0 else list(reversed(names))
        for name in order:
            started = time.perf_counter()
            sides[name]()
            elapsed = time.perf_counter() - started
            times[name].append(elapsed)
            if say:
                say(f"  {name}: {elapsed:.3f} s (repetition {repetition + 1}/{repeats})")
    return times


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    end: list[float] = []

    def elapsed() -> float:
        return (end[0] if end else time.perf_counter()) - started

    try:
        yield elapsed
    finally:
        end.append(time.perf_counter())


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(module: str, *args: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh interpreter; it prints one JSON object last."""
    import json

    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{module} exited with {completed.returncode}: {completed.stderr.strip()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def machine_info() -> dict[str, Any]:
    """Where the figures were measured."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}×"
