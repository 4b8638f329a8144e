"""What the checkpoint-loading VBench evaluators (dynamic degree, imaging quality, motion
smoothness) share: their options, one weight lookup, and one model load per evaluator."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

import torch

from evaluators.vbench import catalog_motion
from evaluators.vbench.compiling import maybe_compiled, resolve_compile
from longvgenbench.evaluation.api import ClipEvaluator
from longvgenbench.weights import WeightFile


class CheckpointClipEvaluator(ClipEvaluator):
    """A per-clip evaluator whose model comes from the first present file of ``candidates``.

    Options: ``precision`` (auto | fp32 | bf16 | fp16), ``batch_size`` (default per evaluator),
    ``verify_weights`` (refuse files whose sha256 does not match the registry; off only for
    deliberately different files, such as random weights staged for parity tests), ``compile``
    (auto | on | off: ``torch.compile`` of the model, by default on CUDA outside fp32; see
    :mod:`evaluators.vbench.compiling`).
    """

    candidates: ClassVar[tuple[WeightFile, ...]]
    default_batch_size: ClassVar[int]
    # torch.compile's mode when compiled: None (Inductor's default) or "reduce-overhead" (CUDA graphs), for models
    # whose many short kernels leave the GPU waiting on Python's launches (measured per evaluator, RESULTS.md)
    compile_mode: ClassVar[str | None] = None
    # whether the compiled model takes batches of varying size (one graph for all: CompiledWithFallback.dynamic_batch)
    compile_dynamic_batch: ClassVar[bool] = False

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int | None = None,
                 verify_weights: bool = True, compile: str | bool = "auto") -> None:
        super().__init__(device)
        catalog_motion.autocast_dtype(precision, device)  # validates
        self.precision = precision
        self.compiled = resolve_compile(compile, device, precision)
        self.batch_size = max(1, int(self.default_batch_size if batch_size is None else batch_size))
        self.verify_weights = verify_weights
        self._resolved: tuple[WeightFile, Path, str] | None = None
        self._model: torch.nn.Module | None = None

    def _weights(self) -> tuple[WeightFile, Path, str]:
        if self._resolved is None:
            self._resolved = catalog_motion.resolve_first(self.candidates, self.verify_weights)
        return self._resolved

    def check_available(self) -> None:
        self._weights()

    def weight_hashes(self) -> dict[str, str]:
        item, _, digest = self._weights()
        return {item.filename: digest}

    def _load(self) -> torch.nn.Module:
        if self._model is None:
            self.check_available()
            item, path, _ = self._weights()
            self._model = self._compile(self._build(item, path).eval().to(self.device))
        return self._model

    def _compile(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as it will run: compiled as a whole when ``self.compiled`` (evaluators may compile parts)."""
        return maybe_compiled(model, self.compiled, self.name, self.compile_mode, self.compile_dynamic_batch)

    @abc.abstractmethod
    def _build(self, item: WeightFile, path: Path) -> torch.nn.Module:
        """The model with ``path``'s weights loaded (raise WeightsUnavailableError if they do not fit)."""
