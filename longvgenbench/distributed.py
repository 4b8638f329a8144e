"""Running under ``torchrun``: process-group set-up, rank helpers and the few collectives we need.

The work itself never crosses ranks: generation shards by video and evaluation by clip, every
rank reads and writes its own files in the shared run directory (see ``longvgenbench.sharding``).
What crosses ranks is control: rank 0 plans and broadcasts the plan, checks that only one process
may do (creating ``run.json``), and gathers every rank's failures at the end so that all ranks
agree on what is missing. Those small Python objects travel over a **gloo** group on every
machine, with a long timeout, because a rank that finished its shard may wait hours at the final
gather for a slower one. On GPUs the default group is **NCCL** (one device per local rank), for
models that want GPU collectives of their own; on CPUs the default group is gloo itself.

Without torchrun's environment (``WORLD_SIZE`` unset or 1) nothing is initialised and every
helper is a no-op, so the same code path serves one process and many.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from longvgenbench.errors import LongVGenBenchError

T = TypeVar("T")

#: Seconds a rank may wait in one collective (e.g. for the slowest rank at the final gather).
TIMEOUT_ENV = "LONGVGENBENCH_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 7 * 24 * 3600


class DistributedError(LongVGenBenchError):
    """Another rank failed at a step all ranks depend on (its message is repeated here)."""


@dataclass(frozen=True)
class Ranks:
    """Who this process is among the processes of a run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # "nccl" | "gloo" when initialised by us, None for one process
    control: Any = field(default=None, compare=False, repr=False)  # the gloo group for control messages

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def label(self) -> str:
        return f"rank {self.rank}/{self.world_size}" if self.is_distributed else "single process"


SINGLE = Ranks()


def launched_by_torchrun() -> bool:
    """True when torchrun (or any launcher using its variables) started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise LongVGenBenchError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from exc
    return datetime.timedelta(seconds=seconds)


def rank_device(device: str, local_rank: int) -> str:
    """The device one rank uses: ``cuda`` becomes ``cuda:<local_rank>`` (wrapping around when several
    processes share fewer GPUs); an explicit index (``cuda:1``) or ``cpu`` is kept as given."""
    if device != "cuda":
        return device
    import torch

    count = torch.cuda.device_count()
    return f"cuda:{local_rank % count}" if count else device


def init(device: str = "cpu") -> Ranks:
    """Join the process group that torchrun describes in the environment (idempotent).

    ``device`` picks the default backend: NCCL when it names CUDA, CUDA is there and every local rank
    has a GPU of its own; else gloo.
    """
    if not launched_by_torchrun():
        return SINGLE
    import torch
    import torch.distributed as dist

    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise LongVGenBenchError(f"WORLD_SIZE is set but {name} is not: start several processes with "
                                     "`torchrun --nproc-per-node N -m longvgenbench ...`")
    local_rank = int(os.environ["LOCAL_RANK"])
    timeout = _timeout()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    # NCCL needs a GPU of its own per rank; several processes sharing one GPU (a benchmark, a small
    # machine) still work, on gloo, since our collectives carry only control messages.
    use_nccl = (device.startswith("cuda") and torch.cuda.is_available() and dist.is_nccl_available()
                and local_world <= torch.cuda.device_count())
    if not dist.is_initialized():
        if use_nccl:
            torch.cuda.set_device(torch.device(rank_device(device, local_rank)))
        dist.init_process_group(backend="nccl" if use_nccl else "gloo", init_method="env://", timeout=timeout)
    backend = str(dist.get_backend())
    control = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else dist.group.WORLD
    return Ranks(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, backend=backend,
                 control=control)


def shutdown(ranks: Ranks, synchronise: bool = True) -> None:
    """Leave the process group (so the process exits without NCCL/gloo warnings).

    With ``synchronise`` the ranks first meet at a monitored barrier, so no rank tears its gloo
    threads down while a peer still talks to it: under load that race aborted a rank with
    "terminate called without an active exception". A rank that never arrives (it died) only
    costs the barrier's timeout.
    """
    if not ranks.is_distributed:
        return
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        return
    if synchronise:
        with contextlib.suppress(RuntimeError):
            dist.monitored_barrier(group=ranks.control, timeout=datetime.timedelta(seconds=120))
    dist.destroy_process_group()


@contextlib.contextmanager
def session(device: str = "cpu") -> Iterator[Ranks]:
    """``init`` on entry, ``shutdown`` on exit, whatever happens in between."""
    ranks = init(device)
    failed = False
    try:
        yield ranks
    except BaseException:
        failed = True
        raise
    finally:
        shutdown(ranks, synchronise=not failed)


def barrier(ranks: Ranks) -> None:
    if ranks.is_distributed:
        import torch.distributed as dist

        dist.barrier(group=ranks.control)


def broadcast(ranks: Ranks, value: T | None) -> T:
    """Rank 0's ``value`` on every rank (picklable objects; others pass anything, e.g. None)."""
    if not ranks.is_distributed:
        return value  # type: ignore[return-value]
    import torch.distributed as dist

    box = [value if ranks.is_main else None]
    dist.broadcast_object_list(box, src=0, group=ranks.control)
    return box[0]  # type: ignore[return-value]


def gather_all(ranks: Ranks, value: T) -> list[T]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not ranks.is_distributed:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(out, value, group=ranks.control)
    return out


def gather_main(ranks: Ranks, value: T) -> list[T] | None:
    """Every rank's ``value``, in rank order, on rank 0 (None elsewhere)."""
    if not ranks.is_distributed:
        return [value]
    import torch.distributed as dist

    out: list[Any] | None = [None] * ranks.world_size if ranks.is_main else None
    dist.gather_object(value, out, dst=0, group=ranks.control)
    return out


def on_main(ranks: Ranks, step: Callable[[], T]) -> T:
    """Run ``step`` on rank 0 only; every rank gets its result, or raises if it failed.

    Rank 0 re-raises the original exception; the others raise :class:`DistributedError` with its
    message, so a refused ``run.json`` (say) stops every rank with the same explanation.
    """
    if not ranks.is_distributed:
        return step()
    outcome: tuple[bool, Any] | None = None
    error: BaseException | None = None
    if ranks.is_main:
        try:
            outcome = (True, step())
        except Exception as exc:  # reported to every rank below, then re-raised here
            error = exc
            outcome = (False, f"{type(exc).__name__}: {exc}" if not isinstance(exc, LongVGenBenchError) else str(exc))
    ok, payload = broadcast(ranks, outcome)
    if error is not None:
        raise error
    if not ok:
        raise DistributedError(f"rank 0 failed: {payload}")
    return payload
