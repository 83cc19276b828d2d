"""The drop-folder trigger: watches ``<root>/<dataset-id>/`` in the triggerer, never deletes.

Used as the ``AssetWatcher`` of each dataset's drop-folder asset (event-driven
scheduling). The standard provider's file triggers for this purpose delete the file
they find, and a drop zone must never lose a file; this one claims complete files
into the dataset's hidden queue with a ``rename`` (:func:`etl.dropzone.poll`) and
announces the queue's head. It runs as an ``asyncio`` loop in the triggerer, so
waiting for files holds no worker slot; the file-system calls (a directory listing
and a few ``stat``/``rename``) run in a thread so they never block the event loop.

Events: one when a new file reaches the head of the queue, and again when the same
head has waited ``retry_seconds`` (its run failed, e.g. on a portal outage, or an
event was lost). Each run processes the head, so the queue drains one file per run
in drop order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

CLASSPATH = "harvest_airflow.triggers.DropFolderTrigger"


class DropFolderTrigger(BaseEventTrigger):
    """Claim complete files dropped into ``folder`` and announce the queue head.

    Args:
        dataset_id: the dataset the folder belongs to (in the event payload).
        folder: ``<root>/<dataset-id>`` (absolute).
        poll_seconds: pause between scans.
        settle_seconds: a file must keep size and modification time this long.
        retry_seconds: announce an unchanged head again after this long.
    """

    def __init__(
        self,
        *,
        dataset_id: str,
        folder: str,
        poll_seconds: float = 5.0,
        settle_seconds: float = 5.0,
        retry_seconds: float = 1800.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's base is untyped
        self.dataset_id = dataset_id
        self.folder = folder
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.retry_seconds = retry_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "dataset_id": self.dataset_id,
                "folder": self.folder,
                "poll_seconds": self.poll_seconds,
                "settle_seconds": self.settle_seconds,
                "retry_seconds": self.retry_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Scan, claim, announce; forever (the triggerer cancels it when the DAG goes)."""
        from etl import dropzone

        watch = dropzone.StabilityWatch(self.settle_seconds)
        folder = Path(self.folder)
        announced: str | None = None
        announced_at = 0.0
        self.log.info("watching %s for %s", folder, self.dataset_id)
        while True:
            try:
                claimed, queued = await asyncio.to_thread(dropzone.poll, folder, watch)
            except OSError as exc:
                # a share that is briefly unavailable must not end the watch
                self.log.warning("cannot scan %s: %s; next try soon", folder, exc)
                await asyncio.sleep(self.poll_seconds)
                continue
            for item in claimed:
                self.log.info("claimed %s", item.path)
            now = time.monotonic()
            if not queued:
                announced = None
            elif queued[0].id != announced or now - announced_at >= self.retry_seconds:
                announced, announced_at = queued[0].id, now
                yield TriggerEvent(  # type: ignore[no-untyped-call]
                    {
                        "dataset": self.dataset_id,
                        "file": queued[0].name,
                        "queued_as": queued[0].id,
                        "waiting": len(queued),
                    }
                )
            await asyncio.sleep(self.poll_seconds)
