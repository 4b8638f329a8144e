"""History-context sampling for stage III: how many frames before a clip the model sees.

At inference the history is the last 8 generated frames; in training upstream's code gives no
history to 20% of samples and otherwise 4, 8, 12 or 16 frames (uniformly) from just before the
clip, limited to a multiple of 4 that fits before the clip's start. (The paper says N_H ~ U[0, 16];
we follow the code.) The VAE turns N frames into 1 + (N - 1) // 4 latent frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def history_latent_frames(num_frames: int) -> int:
    """Latent frames the Wan VAE makes of ``num_frames`` history frames (frame 0 alone, then chunks of 4)."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    return 0 if num_frames == 0 else 1 + (num_frames - 1) // 4


def encoded_history_frames(num_frames: int) -> int:
    """Pixel frames the VAE actually reads of ``num_frames`` (it keeps 1 + 4 * floor((N - 1) / 4))."""
    return 0 if num_frames == 0 else 1 + 4 * ((num_frames - 1) // 4)


@dataclass(frozen=True)
class HistorySampler:
    """Draws the number of history frames for a clip starting at frame ``start`` of its video."""

    p_history: float = 0.8
    choices: tuple[int, ...] = (4, 8, 12, 16)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_history <= 1.0:
            raise ValueError(f"p_history must lie in [0, 1], got {self.p_history}")
        if not self.choices or any(c <= 0 or c % 4 for c in self.choices):
            raise ValueError(f"history lengths must be positive multiples of 4, got {self.choices}")

    def sample(self, start: int, rng: np.random.Generator) -> int:
        """0 (no history) or a length from ``choices``, cut to the largest multiple of 4 <= ``start``."""
        if start < 0:
            raise ValueError(f"clip start must be >= 0, got {start}")
        if rng.random() >= self.p_history:
            return 0
        n = int(self.choices[int(rng.integers(len(self.choices)))])
        return n if n <= start else (start // 4) * 4


NO_HISTORY = HistorySampler(p_history=0.0)
INFERENCE_HISTORY_FRAMES = 8
