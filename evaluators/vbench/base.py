"""The shared shell of the VBench image-model evaluators: options, weight lookup and hashes, lazy model.

Each evaluator names the :class:`~longvgenbench.weights.WeightFile` records it needs. By default a
file is found through the weights registry (our cache, a VBench cache, torch hub, the HF cache)
and checked against its pinned sha256. A checkpoint option (e.g. ``dino_checkpoint=/path``) uses
that file instead, unchecked, for one's own or staged weights (the parity tests); either way the
sha256 of the file actually loaded goes into every result through :meth:`weight_hashes`.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

from evaluators.vbench.common import check_batch_size, resolve_precision
from evaluators.vbench.compiling import maybe_compiled, resolve_compile
from longvgenbench import weights
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.evaluation.api import Evaluator
from longvgenbench.provenance import sha256_file
from longvgenbench.weights import WeightFile


class VBenchImageEvaluator(Evaluator):
    """Base of the evaluators that run an image model over every frame of a clip."""

    required: ClassVar[tuple[WeightFile, ...]]
    # torch.compile's mode when compiled (see CheckpointClipEvaluator.compile_mode): None is Inductor's default
    compile_mode: ClassVar[str | None] = None

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 32,
                 checkpoints: Mapping[str, str | None] | None = None, compile: str | bool = "auto") -> None:
        super().__init__(device)
        self.precision = resolve_precision(precision, device)
        self.compiled = resolve_compile(compile, device, self.precision)
        self.batch_size = check_batch_size(batch_size)
        self._overrides = {key: Path(value).expanduser() for key, value in (checkpoints or {}).items() if value}
        self._paths: dict[str, Path] | None = None
        self._hashes: dict[str, str] | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    def _resolve(self, item: WeightFile) -> Path:
        override = self._overrides.get(item.key)
        if override is None:
            return weights.require(item)
        if not override.is_file():
            raise WeightsUnavailableError(f"{item.description} ({item.filename})", override,
                                          f"the checkpoint given for {item.key} is not a file; "
                                          f"{weights.how_to_get(item)}")
        return override

    def weight_paths(self) -> dict[str, Path]:
        """Key -> local path of every weight file this evaluator loads (raises WeightsUnavailableError)."""
        if self._paths is None:
            self._paths = {item.key: self._resolve(item) for item in self.required}
        return dict(self._paths)

    def check_available(self) -> None:
        self.weight_paths()

    def weight_hashes(self) -> dict[str, str]:
        if self._hashes is None:
            paths = self.weight_paths()
            self._hashes = {}
            for item in self.required:
                path = paths[item.key]
                # registry files were verified (memoised) by require(); overrides are hashed here
                digest = sha256_file(path) if item.key in self._overrides else weights.verify(item, path)
                self._hashes[item.filename] = digest
        return dict(self._hashes)

    def common_protocol(self) -> dict[str, object]:
        return {
            "definition": f"vbench 0.1.5 {self.name}", "precision": self.precision, "batch_size": self.batch_size,
            "checkpoints": {key: str(path) for key, path in self._overrides.items()} or "weights registry",
            "compiled": self.compiled, "compile_mode": self.compile_mode if self.compiled else None,
        }

    def compiled_if_asked(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` behind ``torch.compile`` when the ``compile`` option says so (see ``compiling``)."""
        return maybe_compiled(module, self.compiled, self.name, self.compile_mode)

    def model(self) -> Any:
        """The loaded model(s), built once per evaluator (thread-safe)."""
        with self._lock:
            if self._model is None:
                self._model = self.load(self.weight_paths())
            return self._model

    @abc.abstractmethod
    def load(self, paths: dict[str, Path]) -> Any:
        """Build the model(s) from the resolved weight files, on ``self.device``."""
