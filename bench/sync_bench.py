"""Catalogue sync: first publish and no-change republish of a 341-dataset catalogue,
the pipeline (:func:`etl.sync.sync`) against ckanapi's bulk loader
(``ckanapi load datasets --upload-resources``) on the same catalogue and files.

Both sides publish the same package metadata (the registry's, as
:func:`etl.portal.package_fields` builds it) and upload the same files to the same
CKAN. Each repetition publishes under fresh package names (prefix per side and
repetition), so every first publish really creates everything. API calls are counted
on the server side from CKAN's request log, so both sides are counted the same way
without slowing either down.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import catalogue
from bench.harness import Context, Section, Target, fmt_ratio, fmt_s, median
from etl.portal import Portal, package_fields, resource_fields
from etl.sync import SyncItem, sync

WORKERS = 4
"""Datasets published at the same time by the pipeline (a bounded pool)."""
NOCHANGE_REPEATS = 3
"""No-change republishes of the pipeline per repetition (the median is reported)."""

_REQUEST = re.compile(
    r"\[ckan\.config\.middleware\.flask_app\]\s+\d{3} /api/(?:3/)?action/([a-z_]+)"
)
"""CKAN's own log line per request: ``INFO [ckan.config.middleware.flask_app] 200
/api/action/resource_patch render time 0.288 seconds``."""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _file_server(root: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve the catalogue's files on loopback: ckanapi load fetches uploads by URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class RequestLog:
    """Counts CKAN API calls per action from the server's request log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> Counter[str]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode("utf-8", "replace")
        return Counter(m.group(1) for m in _REQUEST.finditer(text))


READS = {"package_show", "package_search", "resource_show", "organization_show", "status_show"}


def _split(calls: Counter[str]) -> tuple[int, int]:
    reads = sum(n for action, n in calls.items() if action in READS)
    return reads, sum(calls.values()) - reads


def _renamed(entries: list[catalogue.Entry], prefix: str) -> list[SyncItem]:
    return [
        SyncItem(
            dataset=e.dataset.model_copy(update={"id": f"{prefix}{e.dataset.id}"[:100]}),
            files=e.files,
        )
        for e in entries
    ]


def _jsonl(items: list[SyncItem], files_root: Path, files_url: str, out: Path) -> Path:
    """The same catalogue as ckanapi load's input: one package per line, resources by URL."""
    with out.open("w", encoding="utf-8") as handle:
        for item in items:
            package = package_fields(item.dataset)
            package["owner_org"] = item.dataset.organization.name
            package["resources"] = [
                {
                    **resource_fields(item.dataset, file),
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{item.dataset.id}/{file.resource}")),
                    "url": f"{files_url}/{Path(file.path).relative_to(files_root).as_posix()}",
                    "url_type": "upload",
                }
                for file in item.files
            ]
            handle.write(json.dumps(package, ensure_ascii=False) + "\n")
    return out


def _ckanapi_load(jsonl: Path, url: str, token: str) -> None:
    ckanapi = Path(sys.executable).with_name("ckanapi")
    completed = subprocess.run(
        [str(ckanapi), "load", "datasets", "--upload-resources", "-I", str(jsonl),
         "-r", url, "-a", token, "-q"],
        capture_output=True,
        text=True,
        timeout=7200,
        # its worker processes are started as `ckanapi` from PATH
        env={**os.environ, "PATH": f"{ckanapi.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    if completed.returncode != 0 or '"error"' in completed.stdout:
        errors = [line for line in completed.stdout.splitlines() if '"error"' in line][:3]
        raise RuntimeError(
            f"ckanapi load failed ({completed.returncode}): {completed.stderr[-800:]} {errors}"
        )


def run(ctx: Context) -> Section:
    section = Section(key="sync", title="Catalogue sync (341 datasets, 2,653 resources)")
    datasets, resources = (
        (catalogue.FULL_DATASETS, catalogue.FULL_RESOURCES) if ctx.full else (20, 150)
    )
    if not ctx.full:
        section.title = f"Catalogue sync ({datasets} datasets, {resources} resources; quick)"
    # one repetition of both sides takes 30-40 minutes at full size on 2 cores, so the
    # full profile runs it once (the no-change republish, cheap for the pipeline, is
    # repeated NOCHANGE_REPEATS times within it)
    repeats = 1 if ctx.full else min(ctx.repeats, 2)
    portal_stack = ctx.portal()
    stack = portal_stack.stack
    ctx.say(f"generating the catalogue ({datasets} datasets, {resources} resources)")
    root = ctx.scratch / "catalogue"
    _registry, entries = catalogue.generate(root, datasets, resources, progress=ctx.say)
    files_root = root / "files"
    total_bytes = sum(f.size for e in entries for f in e.files)
    portal_stack.organizations(
        (e.dataset.organization.name, e.dataset.organization.title) for e in entries
    )
    server, files_url = _file_server(files_root)
    ctx.on_close(server.shutdown)
    log = RequestLog(stack.stack_dir / "ckan.log")
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("ours", "anchor")}

    def ours(rep: int) -> None:
        items = _renamed(entries, f"o{rep}-")
        with Portal(stack.url, stack.editor_token) as portal:
            for phase in ("first", *["nochange"] * NOCHANGE_REPEATS):
                log.mark()
                result = sync(items, portal=portal, workers=WORKERS)
                if result.failures:
                    first = next(iter(result.failures.items()))
                    raise RuntimeError(f"pipeline: {len(result.failures)} failed, e.g. {first}")
                server_calls = log.since_mark()
                runs["ours"].append(
                    {
                        "repetition": rep,
                        "phase": phase,
                        "seconds": result.seconds,
                        "client_reads": dict(result.reads),
                        "client_writes": dict(result.writes),
                        "server_calls": dict(server_calls),
                        "bytes_uploaded": result.bytes_uploaded,
                        "resources": dict(result.actions()),
                    }
                )
                ctx.say(
                    f"  pipeline {phase}: {result.seconds:.1f} s, {result.read_calls} reads, "
                    f"{result.write_calls} writes"
                )

    def anchor(rep: int) -> None:
        items = _renamed(entries, f"a{rep}-")
        jsonl = _jsonl(items, files_root, files_url, ctx.scratch / f"anchor-{rep}.jsonl")
        for phase in ("first", "nochange"):
            log.mark()
            started = time.perf_counter()
            _ckanapi_load(jsonl, stack.url, stack.editor_token)
            seconds = time.perf_counter() - started
            server_calls = log.since_mark()
            runs["anchor"].append(
                {
                    "repetition": rep,
                    "phase": phase,
                    "seconds": seconds,
                    "server_calls": dict(server_calls),
                    "bytes_uploaded": total_bytes,
                }
            )
            ctx.say(f"  ckanapi load {phase}: {seconds:.1f} s, {sum(server_calls.values())} calls")

    for rep in range(repeats):
        order = [ours, anchor] if rep % 2 == 0 else [anchor, ours]
        for side in order:
            side(rep)

    def seconds(side: str, phase: str) -> list[float]:
        return [r["seconds"] for r in runs[side] if r["phase"] == phase]

    def last(side: str, phase: str) -> dict[str, Any]:
        return [r for r in runs[side] if r["phase"] == phase][-1]

    o_first, o_same = median(seconds("ours", "first")), median(seconds("ours", "nochange"))
    a_first, a_same = median(seconds("anchor", "first")), median(seconds("anchor", "nochange"))
    same = last("ours", "nochange")
    same_writes = max(
        sum(r["client_writes"].values()) for r in runs["ours"] if r["phase"] == "nochange"
    )
    same_reads = max(
        sum(r["client_reads"].values()) for r in runs["ours"] if r["phase"] == "nochange"
    )
    server_writes = max(
        _split(Counter(r["server_calls"]))[1] for r in runs["ours"] if r["phase"] == "nochange"
    )

    def calls(entry: dict[str, Any]) -> str:
        counted = entry["server_calls"]
        return ", ".join(f"{a} {n}" for a, n in sorted(counted.items())) or "none"

    section.row("Catalogue", f"{datasets} datasets, {resources} resources, {total_bytes:,} bytes")
    section.row("Pipeline: first publish (median)", fmt_s(o_first))
    section.row("ckanapi load: first publish (median)", fmt_s(a_first))
    section.row("Speed-up first publish (ckanapi / pipeline)", fmt_ratio(a_first / o_first))
    section.row("Pipeline: no-change republish (median)", fmt_s(o_same))
    section.row("ckanapi load: no-change republish (median)", fmt_s(a_same))
    section.row("No-change republish, pipeline / ckanapi load", f"{o_same / a_same:.1%}")
    section.row("Pipeline first publish: API calls", calls(last("ours", "first")))
    section.row("ckanapi load first publish: API calls", calls(last("anchor", "first")))
    section.row("Pipeline no-change: API calls", calls(same))
    section.row("ckanapi load no-change: API calls", calls(last("anchor", "nochange")))
    section.row(
        "Bytes uploaded (pipeline first / no-change)",
        f"{last('ours', 'first')['bytes_uploaded']:,} / {same['bytes_uploaded']:,}",
    )
    section.row(
        "Bytes uploaded (ckanapi load first / no-change)", f"{total_bytes:,} / {total_bytes:,}"
    )
    section.targets = [
        Target(
            "no-change republish: write calls", float(max(same_writes, server_writes)), 0, "", "=="
        ),
        Target(
            "no-change republish: read calls per 20 datasets",
            same_reads / datasets * 20,
            1.0,
            "",
            "<=",
        ),
        Target(
            "no-change republish: share of ckanapi load's time", o_same / a_same * 100, 10, "%", "<"
        ),
        Target("first publish: speed-up over ckanapi load", a_first / o_first, 2.0, "×", ">="),
    ]
    section.figures = {
        "datasets": datasets,
        "resources": resources,
        "bytes": total_bytes,
        "workers": WORKERS,
        "repeats": repeats,
        "median_seconds": {
            "pipeline_first": o_first,
            "pipeline_nochange": o_same,
            "ckanapi_first": a_first,
            "ckanapi_nochange": a_same,
        },
        "runs": runs,
    }
    section.notes = [
        f"Pipeline: `etl.sync.sync` with {WORKERS} worker threads, each with its own kept-alive "
        "session; one `package_search` per 500 datasets reads the current state, resources "
        "whose stored sha256 equals the file's are not uploaded again.",
        "Anchor: `ckanapi load datasets --upload-resources -I catalogue.jsonl` (ckanapi "
        f"{_ckanapi_version()}, default one worker process) with the same package metadata; "
        "it fetches each file from a loopback HTTP server and uploads it with "
        "`resource_patch`, on every run (it has no notion of unchanged content).",
        "API calls are counted by the CKAN server's request log for both sides; the "
        "pipeline's own client-side counts agree (see results.json).",
        f"{repeats} repetition(s) per side (alternating order when more than one); the "
        f"pipeline's no-change republish runs {NOCHANGE_REPEATS} times per repetition. Each "
        "repetition creates fresh packages (prefix per side and repetition).",
    ]
    return section


def _ckanapi_version() -> str:
    from importlib.metadata import version

    return version("ckanapi")
