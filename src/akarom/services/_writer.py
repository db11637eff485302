"""One writer per Checker: observations stored in batches, off the event loop.

Every carrier answer is stored with its pages before it is reported (evidence
first). Storing each one in its own transaction, through its own worker thread,
cost more CPU than reading the page; here the answers that arrive while one batch
is being written go together in the next. Nothing waits on a timer: an answer is
written as soon as the writer is free, so a process killed (kill -9) loses only
the answers of the one batch being committed, never a backlog held back to batch.

A batch that fails (the database went away) fails every answer in it with the
``StorageError``: the caller's check then fails loudly, never reports an answer
whose evidence was not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from akarom.storage.observations import StoredObservation
from akarom.storage.records import NewObservation, NewPage

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = ["ObservationWriter"]

#: Most observations in one transaction (pages make a batch heavy).
BATCH_SIZE = 200

_Item = tuple[NewObservation, Sequence[NewPage], "asyncio.Future[StoredObservation]"]


class ObservationWriter:
    """Queues observations and stores them in batches (``Store.record_many``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Item] = []
        self._flushing: asyncio.Task[None] | None = None

    async def keep(self, new: NewObservation, pages: Sequence[NewPage]) -> StoredObservation:
        """Store ``new`` with its pages; returns once its batch is committed."""
        stored: asyncio.Future[StoredObservation] = asyncio.get_running_loop().create_future()
        self._queue.append((new, pages, stored))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await stored

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the answers of this turn of the event loop go together
        while self._queue:
            batch, self._queue = self._queue[:BATCH_SIZE], self._queue[BATCH_SIZE:]
            try:
                stored = await asyncio.to_thread(
                    self.store.record_many, [(new, pages) for new, pages, _ in batch]
                )
            except Exception as problem:  # noqa: BLE001 - each waiting check raises it
                for _, _, waiting in batch:
                    if not waiting.done():
                        waiting.set_exception(problem)
                continue
            except BaseException:
                for _, _, waiting in batch:
                    waiting.cancel()
                raise
            for (_, _, waiting), observation in zip(batch, stored, strict=True):
                if not waiting.done():
                    waiting.set_result(observation)

    async def aclose(self) -> None:
        """Wait for every queued observation to be stored (the writer stays usable)."""
        # Waits without taking on the flush's outcome: each check raised its own.
        while self._flushing is not None and not self._flushing.done():
            await asyncio.wait({self._flushing})
