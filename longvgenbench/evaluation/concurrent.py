"""Score one clip with several evaluators at once, each in its own thread and CUDA stream.

Why: the learned evaluators run small networks (RAFT at 1/8 resolution, AMT-S, ViT-B towers) whose
kernels leave most of a large GPU idle, and each waits on its own host syncs. Run one after the
other, a clip costs the sum of their latencies; run side by side on separate CUDA streams, the GPU
overlaps them. PyTorch releases the GIL inside its kernels' launches and syncs, so threads suffice.

What does not change: every evaluator computes exactly what it computes alone (its own model, its
own stream, no shared state but the read-only clip), and the outcomes come back in evaluator order,
so rows, files and errors are the same as in a serial run. Threads are used wherever asked (the
engine asks on CUDA only: on the CPU they would only fight over the cores each evaluator already
uses); CUDA streams only on CUDA.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

Job = Callable[[], Mapping[str, float]]


@dataclass(frozen=True)
class Outcome:
    """What one evaluator returned for the clip, or the exception it raised."""

    values: Mapping[str, float] | None = None
    error: Exception | None = None


def _run(job: Job) -> Outcome:
    try:
        return Outcome(values=job())
    except Exception as exc:  # handed back in order; the engine records it like a serial failure
        return Outcome(error=exc)


class ClipScorer:
    """Runs a clip's evaluator jobs serially, or concurrently when ``parallel`` (each thread on its own CUDA stream).

    Use as a context manager (the worker threads live as long as it does).
    """

    def __init__(self, device: str, parallel: bool, max_workers: int = 8) -> None:
        self._parallel = bool(parallel)
        self.on_cuda = str(device).startswith("cuda")
        self.device = device
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._max_workers = max(1, max_workers)
        self._seen: set[Hashable] = set()

    def __enter__(self) -> ClipScorer:
        if self._parallel:
            self._pool = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="longvgenbench-eval")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _on_stream(self, job: Job) -> Outcome:
        if not self.on_cuda:
            return _run(job)
        import torch  # only on CUDA, where torch is there by definition

        stream = getattr(self._local, "stream", None)
        if stream is None:
            stream = self._local.stream = torch.cuda.Stream(device=self.device)
        with torch.cuda.stream(stream):
            outcome = _run(job)
        stream.synchronize()  # the values are host floats already; this only bounds the stream's queue
        return outcome

    def run(self, jobs: Sequence[Job], keys: Sequence[Hashable] | None = None) -> list[Outcome]:
        """One :class:`Outcome` per job, in the order of ``jobs``.

        ``keys`` name the jobs' evaluators (default: their positions). A call with a key not seen before
        runs serially: evaluators load and compile their models on their first clip, and compiling
        several models at once in several threads only makes them queue for the GIL (and leaves
        torch.compile's first-call machinery to run concurrently, which it is not built for).
        """
        keys = list(range(len(jobs))) if keys is None else list(keys)
        first_time = not self._seen.issuperset(keys)
        self._seen.update(keys)
        if self._pool is None or len(jobs) < 2 or first_time:
            return [_run(job) for job in jobs]
        futures: list[Any] = [self._pool.submit(self._on_stream, job) for job in jobs]
        return [future.result() for future in futures]
