"""Publishing many datasets at once: one search read, bounded parallel uploads.

A weekly run over the whole catalogue (341 datasets, 2,653 resources in 2021) must cost
almost nothing when nothing changed. :func:`sync` therefore reads the current packages
of all datasets with ``package_search`` (one call per :data:`SEARCH_ROWS` datasets)
instead of one ``package_show`` each, decides per dataset from that (the resources'
``hash`` against the files' sha256, see :func:`etl.portal.publish`), and writes only what
differs. Datasets are published in parallel by a bounded pool of threads, each with its
own kept-alive HTTP session (:meth:`etl.portal.Portal.clone`).

The search results come from CKAN's search index, which CKAN updates in the same request
as every package change, so they carry the same package dicts as ``package_show``. They
are trusted only to decide that *nothing* is to be done: a dataset with any change, or
one the search does not return, is read with ``package_show`` before anything is
written, so a stale index or a concurrent run can never cause a duplicate.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from etl.errors import HarvestError
from etl.formats import RenderedFile
from etl.portal import UNREAD, CallStats, Portal, PublishIncomplete, PublishResult
from etl.registry import Dataset

SEARCH_ROWS = 500
"""Datasets per ``package_search`` (CKAN's default ``ckan.search.rows_max`` is 1000;
500 names also stay below Solr's default limit of 1024 clauses in one query)."""

DEFAULT_WORKERS = 4


@dataclass
class SyncItem:
    """One dataset to publish: its rendered files and package facts."""

    dataset: Dataset
    files: list[RenderedFile]
    facts: dict[str, Any] | None = None


@dataclass
class SyncResult(CallStats):
    """Outcome of a sync: per-dataset results, failures, and what it cost on the portal
    (the call counts of all threads together)."""

    results: list[PublishResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def actions(self) -> Counter[str]:
        """How many resources were created, updated, unchanged (failed datasets apart)."""
        return Counter(r.action for result in self.results for r in result.resources)

    def as_dict(self) -> dict[str, Any]:
        return {
            "datasets": len(self.results) + len(self.failures),
            "published": len(self.results),
            "changed": sum(1 for r in self.results if r.changed),
            "failures": self.failures,
            "resources": dict(self.actions()),
            "reads": dict(self.reads),
            "writes": dict(self.writes),
            "read_calls": self.read_calls,
            "write_calls": self.write_calls,
            "bytes_uploaded": self.bytes_uploaded,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
        }


def _name_query(names: Sequence[str]) -> str:
    quoted = " OR ".join(f'"{name}"' for name in names)
    return f"name:({quoted})"


def prefetch(portal: Portal, names: Collection[str]) -> dict[str, dict[str, Any]]:
    """The current packages of ``names`` (private ones included) by name.

    Names absent from the result are not on the portal (or not yet in its index).
    """
    ordered = sorted(set(names))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ordered), SEARCH_ROWS):
        chunk = ordered[start : start + SEARCH_ROWS]
        page: dict[str, Any] = portal.call(
            "package_search",
            {
                "fq": _name_query(chunk),
                "rows": len(chunk),
                "include_private": True,
            },
        )
        for package in page.get("results", []):
            if package.get("name") in names:
                found[package["name"]] = package
    return found


Publisher = Callable[..., PublishResult]
"""``publish(dataset, files, *, portal, facts, current)``: :func:`etl.portal.publish`,
or :func:`etl.pipeline.publish_recorded` with the ledger bound (see :mod:`etl.cli`)."""


def sync(
    items: Sequence[SyncItem],
    *,
    portal: Portal,
    publisher: Publisher | None = None,
    workers: int = DEFAULT_WORKERS,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SyncResult:
    """Bring every dataset of ``items`` in line with its files.

    A dataset that fails (portal refused, interrupted) is reported in ``failures``; the
    others go on. Call counts are summed over all threads.

    Args:
        portal: the client whose URL and token the worker threads copy.
        publisher: what publishes one dataset (default :func:`etl.portal.publish`).
        workers: datasets published at the same time (bounded; the portal's uploads
            are the slow part).
        dry_run: plan only (the search read is made, nothing is written).
    """
    from etl.portal import publish

    say = progress or (lambda _message: None)
    publish_one = publisher or publish
    started = time.perf_counter()
    outcome = SyncResult()
    ids = [item.dataset.id for item in items]
    if len(ids) != len(set(ids)):
        raise ValueError("a dataset appears more than once in one sync")
    searcher = portal.clone()
    say(f"reading the current state of {len(items)} dataset(s)")
    current = prefetch(searcher, ids)
    clients: list[Portal] = [searcher]
    local = threading.local()
    lock = threading.Lock()

    def client() -> Portal:
        if not hasattr(local, "portal"):
            local.portal = portal.clone()
            with lock:
                clients.append(local.portal)
        found: Portal = local.portal
        return found

    def one(item: SyncItem) -> PublishResult:
        known = current.get(item.dataset.id, UNREAD)
        kwargs: dict[str, Any] = {"portal": client(), "facts": item.facts, "current": known}
        if dry_run:
            kwargs["dry_run"] = True
        return publish_one(item.dataset, item.files, **kwargs)

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sync") as pool:
        futures = {pool.submit(one, item): item.dataset.id for item in items}
        for future in as_completed(futures):
            dataset_id = futures[future]
            done += 1
            try:
                result = future.result()
            except PublishIncomplete as exc:
                outcome.failures[dataset_id] = exc.message
            except HarvestError as exc:
                outcome.failures[dataset_id] = exc.message
            else:
                outcome.results.append(result)
                if result.changed:
                    say(f"[{done}/{len(items)}] {dataset_id}: {_summary(result)}")
            if done % 50 == 0 or done == len(items):
                say(f"[{done}/{len(items)}] datasets done")
    for used in clients:
        outcome.reads.update(used.stats.reads)
        outcome.writes.update(used.stats.writes)
        outcome.bytes_uploaded += used.stats.bytes_uploaded
        outcome.retries += used.stats.retries
        used.close()
    outcome.results.sort(key=lambda r: r.dataset)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _summary(result: PublishResult) -> str:
    counts = Counter(r.action for r in result.resources)
    return ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
