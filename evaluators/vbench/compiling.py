"""``torch.compile`` for the VBench models on CUDA, with a fallback that never loses a run.

Why: the networks behind these dimensions are small and run many short kernels (RAFT's 20 GRU
iterations, AMT's pyramid, MUSIQ's patch stem), so eager PyTorch spends much of its time on kernel
launches, dtype casts under autocast and layout changes. Inductor fuses those; on one GPU it more
than halves RAFT's time (``benchmarks/RESULTS.md``). Compiling costs a minute or so once per process
(Inductor caches its graphs on disk, so later processes start faster), which a benchmark of many
one-minute videos repays many times over.

Compiled kernels round differently from eager ones (differences around 1e-6, far inside the parity
tolerance of the fast precision). ``compile=auto`` therefore compiles on CUDA only, where the fast
precision already applies; the CPU (and ``precision=fp32`` parity runs) stay eager and exact. If
the compiler fails on some input, the evaluator warns once and goes on eagerly: no clip is lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import torch

from longvgenbench.errors import OptionError

COMPILE_CHOICES = ("auto", "on", "off")

log = logging.getLogger(__name__)


def resolve_compile(choice: str | bool, device: str, precision: str) -> bool:
    """Whether to compile: ``on``/``off`` as given; ``auto`` = on CUDA and not in fp32 (parity) mode."""
    if isinstance(choice, bool):
        return choice
    if choice not in COMPILE_CHOICES:
        raise OptionError(f"compile must be one of {COMPILE_CHOICES}, got {choice!r}")
    if choice == "auto":
        return torch.device(device).type == "cuda" and precision != "fp32"
    return choice == "on"


class CompiledWithFallback(torch.nn.Module):
    """``module`` behind ``torch.compile``; on a compiler error, warns once and runs ``module`` eagerly from then on.

    A genuine input error is not hidden: the eager retry raises it again.
    """

    def __init__(self, module: torch.nn.Module, label: str, mode: str | None = None,
                 dynamic_batch: bool = False) -> None:
        """``mode``: ``torch.compile``'s mode (None: the default; ``reduce-overhead``: CUDA graphs, which replay a
        recorded graph per input shape instead of launching each kernel from Python).

        ``dynamic_batch``: the first input's first dimension is compiled as a symbol, so calls with any number of
        items share one compiled graph (CUDA graphs still record one replay per size, which is cheap); for a model
        fed batches of varying size (dynamic degree's runs of pairs), where one compile per size would cost a
        minute each.

        CUDA graphs are used on one thread only, the first that calls: PyTorch keeps its recorded graphs per
        thread, and the engine's side-by-side mode (``--evaluators-at-once``) calls from a pool of threads, which
        would record (and hold memory for) every graph once per thread. Calls from other threads run the same
        model compiled in the default mode (the same kernels, so the same numbers).
        """
        super().__init__()
        self.eager = module
        self.label = label
        self.mode = mode
        self.failed: str | None = None
        self.dynamic_batch = bool(dynamic_batch)
        # dynamic=False: one specialised graph per input shape. A benchmark's videos share a few shapes, and
        # dynamo's automatic dynamic shapes would otherwise recompile for symbolic sizes on the second shape
        # seen (general kernels for every later clip, not measured here); past the recompile limit a new shape
        # runs eagerly.
        self.__dict__["_compiled"] = torch.compile(module, dynamic=False, mode=mode)  # not a registered submodule
        self._graph_thread: int | None = None
        self._thread_lock = threading.Lock()

    def _compiled_for_this_thread(self) -> tuple[Any, bool]:
        """The compiled callable to use on the calling thread, and whether it replays CUDA graphs."""
        if self.mode != "reduce-overhead":
            return self.__dict__["_compiled"], False
        with self._thread_lock:
            if self._graph_thread is None:
                self._graph_thread = threading.get_ident()
            if self._graph_thread == threading.get_ident():
                return self.__dict__["_compiled"], True
            if "_compiled_plain" not in self.__dict__:
                self.__dict__["_compiled_plain"] = torch.compile(self.eager, dynamic=False, mode=None)
            return self.__dict__["_compiled_plain"], False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed is None:
            try:
                compiled, graphs = self._compiled_for_this_thread()
                if self.dynamic_batch and args and isinstance(args[0], torch.Tensor):
                    torch._dynamo.maybe_mark_dynamic(args[0], 0)  # a size the code specialises (1) compiles apart
                if graphs:
                    # each call is a new step whose graph replay reuses the last one's output memory: hand out copies,
                    # so an output kept across calls (a list of batch scores) is never overwritten
                    torch.compiler.cudagraph_mark_step_begin()
                    return _copied(compiled(*args, **kwargs))
                return compiled(*args, **kwargs)
            except Exception as exc:  # a compiler failure: fall back, keep the run going
                self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.warning("torch.compile of %s failed (%s); running it eagerly from now on", self.label,
                            self.failed)
        return self.eager(*args, **kwargs)


def _copied(outputs: Any) -> Any:
    """``outputs`` with every tensor cloned (tensors, and tuples, lists and dicts of them, as models return)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.clone()
    if isinstance(outputs, tuple) and hasattr(outputs, "_fields"):  # a named tuple
        return type(outputs)(*(_copied(item) for item in outputs))
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(_copied(item) for item in outputs)
    if isinstance(outputs, dict):
        return {key: _copied(value) for key, value in outputs.items()}
    return outputs


def maybe_compiled(module: torch.nn.Module, enabled: bool, label: str, mode: str | None = None,
                   dynamic_batch: bool = False) -> torch.nn.Module:
    """``module`` itself, or wrapped in :class:`CompiledWithFallback` (with ``torch.compile``'s ``mode`` and
    ``dynamic_batch``) when ``enabled``."""
    return CompiledWithFallback(module, label, mode, dynamic_batch) if enabled else module
