"""Short reads of the store from async code: where they run.

A read of a local SQLite file for one device takes tens of microseconds, and in WAL
mode a reader never waits for a writer. Handing such a read to a worker thread and
back cost several times more than the read itself, and under load the threads and
the event loop fought over the GIL (measured: docs/benchmarks.md, web). So on SQLite
a short read runs on the event loop; on a database across the network it waits in
a worker thread, as every write does everywhere (a write may wait for a lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = ["read"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def read(
    store: Store, reading: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """``reading(*args, **kwargs)``, a short read of ``store``, run where it costs least."""
    if store.local:
        return reading(*args, **kwargs)
    return await asyncio.to_thread(reading, *args, **kwargs)
