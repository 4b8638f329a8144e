"""Deterministic inputs and weights for the VideoComposer parity goldens, shared by ``make_goldens.py``
(which runs the published code) and the parity test (which runs ours).

Everything is drawn from numpy's PCG64 seeded by the CRC32 of a name, so both sides regenerate the
same arrays without committing megabytes of weights; the goldens file holds only the outputs.
"""

from __future__ import annotations

import zlib

import numpy as np

#: The tiny configuration, in upstream's ``UNetSD_temporal`` argument names. The 1024 widths of the
#: context and the image embedding are hard-coded upstream, so they stay real.
UPSTREAM_TINY = {"in_dim": 4, "concat_dim": 8, "dim": 32, "y_dim": 1024, "context_dim": 1024, "out_dim": 4,
                 "dim_mult": [1, 2], "num_heads": 2, "head_dim": 16, "num_res_blocks": 1, "attn_scales": [1.0, 0.5]}
#: The same UNet in our ``UNetConfig`` fields.
OURS_TINY = {"dim": 32, "context_dim": 1024, "image_dim": 1024, "dim_mult": [1, 2], "num_heads": 2, "head_dim": 16,
             "num_res_blocks": 1, "attn_scales": [1.0, 0.5], "stc_pool": 128}
FRAMES = 4
LATENT = 32  # fixed by the STC encoders: AdaptiveAvgPool2d(128) then two stride-2 convs
COND_SIZE = 64
TIMESTEP = 981  # the first of upstream's 50 DDIM timesteps


def named_array(name: str, shape: tuple[int, ...], scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """float32 normal(offset, scale) values that depend only on ``name`` and ``shape``."""
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode())))
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def named_uniform(name: str, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode())))
    return rng.uniform(low, high, shape).astype(np.float32)


def weight_value(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A random weight for tensor ``name``: norms around 1, everything else small, nothing zero
    (upstream zero-initialises several output layers, which would hide their wiring)."""
    is_norm = "norm" in name or name.endswith(("in_layers.0.weight", "out_layers.0.weight", "out.0.weight")) or (
        ".conv" in name and name.endswith(".0.weight") and len(shape) == 1)
    if is_norm and name.endswith("weight") and len(shape) == 1:
        return named_array(name, shape, 0.1, 1.0)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return named_array(name, shape, 0.5 / np.sqrt(max(fan_in, 1)) if len(shape) > 1 else 0.05)


def inputs() -> dict[str, np.ndarray]:
    """The model inputs of the goldens (batch 1, 4 frames)."""
    f, c = FRAMES, COND_SIZE
    return {
        "x": named_array("x", (1, 4, f, LATENT, LATENT)),
        "y": named_array("y", (1, 77, 1024)),
        "zero_y": named_array("zero_y", (1, 77, 1024)),
        "image": named_array("image", (1, 1, 1024)),
        "depth": named_uniform("depth", (1, 1, f, c, c), 0.0, 10.0),
        "local_image": named_uniform("local_image", (1, 3, f, c, c), 0.0, 1.0),
        "motion": named_array("motion", (1, 2, f, c, c), 3.0),
    }
