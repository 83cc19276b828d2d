"""Writes ``results.md`` (for people) and ``results.json`` (for programs)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bench.harness import Section


def _met(value: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[value]


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    return f"{text} {unit}".strip()


def write_report(
    out: Path, profile: str, machine: dict[str, Any], sections: list[Section], *, repeats: int
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    data = {
        "profile": profile,
        "generated": when,
        "repeats": repeats,
        "machine": machine,
        "sections": [s.as_dict() for s in sections],
    }
    js = out / "results.json"
    js.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

    lines = [
        "# Benchmark results",
        "",
        f"Profile **{profile}**, generated {when} by `python -m bench --profile {profile}` "
        f"(`make bench`{'' if profile == 'full' else '-quick'}). Each comparison runs both "
        f"sides in the same run, alternating, {repeats} repetition(s); medians are reported.",
        "",
        "Machine: "
        + ", ".join(f"{k} `{v}`" for k, v in machine.items() if k != "duration_s")
        + f"; whole run {machine.get('duration_s', '?')} s.",
        "",
        "## Targets",
        "",
        "| Benchmark | Target | Measured | Limit | Result |",
        "|---|---|---|---|---|",
    ]
    for section in sections:
        if section.error:
            lines.append(f"| {section.title} | (benchmark failed) | – | – | **error** |")
        for target in section.targets:
            lines.append(
                f"| {section.title} | {target.name} | {_number(target.value, target.unit)} | "
                f"{target.comparison} {_number(target.limit, target.unit)} | {_met(target.met)} |"
            )
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.error:
            lines += [f"**Failed:** `{section.error}`", ""]
        if section.rows:
            lines += ["| Measure | Value |", "|---|---|"]
            lines += [f"| {label} | {value} |" for label, value in section.rows]
            lines.append("")
        lines += [f"- {note}" for note in section.notes]
    md = out / "results.md"
    md.write_text("\n".join(lines).rstrip() + "\n")
    return md, js
