"""Load the official generator checkpoint: the safetensors header is checked before any tensor is read.

Every name and shape in the file is compared with :func:`official_shapes` for the config; a
missing, unexpected or mis-shaped tensor fails loudly with all of them named (upstream's
``load_state_dict`` is strict too, but only after reading the whole file).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from baselines.matrix_game.config import MatrixGameConfig
from baselines.matrix_game.model import MatrixGameGenerator
from baselines.matrix_game.official_names import official_shapes
from longvgenbench.errors import LongVGenBenchError

PREFIX = "model."


class CheckpointError(LongVGenBenchError):
    """A Matrix-Game-2.0 checkpoint does not match the expected tensor names and shapes."""


def read_header(path: Path) -> dict[str, tuple[int, ...]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own SafetensorError for a bad header
        raise CheckpointError(f"{path}: not a readable safetensors file: {exc}") from exc


def check_header(path: Path, cfg: MatrixGameConfig) -> dict[str, str]:
    """official file name -> our parameter name, after comparing every name and shape."""
    header = read_header(path)
    expected = official_shapes(cfg)
    ours = {(n[len(PREFIX):] if n.startswith(PREFIX) else n): n for n in header}
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(ours[n] for n in set(ours) - set(expected))
    wrong = sorted(f"{ours[n]} {list(header[ours[n]])} (expected {list(expected[n])})"
                   for n in set(ours) & set(expected) if tuple(header[ours[n]]) != tuple(expected[n]))
    if missing or unexpected or wrong:
        def show(items: list[str]) -> str:
            return ", ".join(items[:8]) + (f" ... (+{len(items) - 8})" if len(items) > 8 else "")
        raise CheckpointError(f"{path} is not a Matrix-Game-2.0 generator for this config: "
                              f"{len(missing)} missing [{show(missing)}], {len(unexpected)} unexpected "
                              f"[{show(unexpected)}], {len(wrong)} mis-shaped [{show(wrong)}]")
    return {official: name for name, official in ours.items()}


def load_generator(path: Path, cfg: MatrixGameConfig, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> MatrixGameGenerator:
    """The generator with the file's weights (header checked first), on ``device`` in ``dtype``."""
    names = check_header(Path(path), cfg)
    with torch.device("meta"):
        model = MatrixGameGenerator(cfg)
    model = model.to_empty(device=device)
    state = {}
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        for official, ours in names.items():
            state[ours] = f.get_tensor(official).to(dtype)
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(dtype).eval()
