"""The engine's clip prefetching: same items, same order, errors where they would have been, clean early stop."""

from __future__ import annotations

import threading
import time

import pytest

from longvgenbench.evaluation.prefetch import prefetched


def test_same_items_in_the_same_order():
    assert list(prefetched(iter(range(50)))) == list(range(50))
    assert list(prefetched(iter(range(5)), depth=3)) == list(range(5))
    assert list(prefetched(iter([]))) == []
    assert list(prefetched(iter(range(4)), depth=0)) == [0, 1, 2, 3]


def test_an_error_surfaces_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("corrupt clip 3")

    got = []
    with pytest.raises(ValueError, match="corrupt clip 3"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1, 2]


def test_the_next_item_is_produced_while_the_consumer_works():
    produced_at = []

    def source():
        for i in range(3):
            time.sleep(0.05)
            produced_at.append(time.perf_counter())
            yield i

    start = time.perf_counter()
    for _ in prefetched(source()):
        time.sleep(0.05)  # the consumer's work overlaps the next production
    serial = 3 * 0.05 + 3 * 0.05
    assert time.perf_counter() - start < serial - 0.03


def test_stopping_early_stops_the_producer():
    made = []

    def source():
        for i in range(1000):
            made.append(i)
            yield i

    for item in prefetched(source(), depth=2):
        if item == 3:
            break
    time.sleep(0.3)
    assert len(made) <= 3 + 2 + 2  # the consumed items, the queue and the one in hand
    assert not any(t.name == "longvgenbench-prefetch" and t.is_alive() for t in threading.enumerate())
