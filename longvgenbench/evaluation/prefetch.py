"""Decode the next clip while the evaluators score this one.

Why: on a GPU the learned evaluators take about as long per clip as PyAV takes to decode it, so
decoding in line leaves the GPU idle for the decode time of every clip. PyAV releases the GIL while
FFmpeg decodes, so one background thread overlaps the two. Order, values and errors are exactly
those of the wrapped iterator (an error surfaces at the same position it would have); memory grows
by ``depth`` clips.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Item(Generic[T]):
    value: T | None = None
    error: BaseException | None = None
    done: bool = False


def prefetched(source: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``source``'s items, producing up to ``depth`` of them ahead in a daemon thread.

    Closing the generator early (``break``, an exception in the consumer) stops the producer after
    the item it is working on.
    """
    if depth < 1:
        yield from source
        return
    slots: queue.Queue[_Item[T]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: _Item[T]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for value in source:
                if not put(_Item(value=value)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there in order
            put(_Item(error=exc))
            return
        put(_Item(done=True))

    worker = threading.Thread(target=produce, name="longvgenbench-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item.error is not None:
                raise item.error
            if item.done:
                return
            yield item.value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5.0)
