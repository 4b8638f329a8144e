"""Deterministic weights and inputs for the Motion-I2V parity goldens, shared by ``make_goldens.py``
(which runs the published code in its own interpreter) and ``tests/test_motion_i2v.py`` (which runs ours).

Every array is drawn from numpy's PCG64 seeded by the CRC32 of a name, so both sides regenerate the
same values and the goldens hold only the published outputs (no weights: they were 10 MB). Only
numpy and the standard library are imported here: the upstream interpreter has numpy 1.26, ours 2.x;
``fingerprint`` lets the test prove both drew the same arrays before comparing any output.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping

import numpy as np

FRAMES = 4
LATENT = 16  # latent height and width; stage 2's flow is at pixel size, 8x that
GUIDANCE = 7.0
STEP_INDEX = 3  # which of the 25 DDIM timesteps the goldens take
STRIDE = (8, 16, 24, 32)  # stage 1's per-frame stride embedding input
TEXT_TOKENS = 7
TEXT_WIDTH = 32  # the tiny configuration's cross_attention_dim


def named_array(name: str, shape: tuple[int, ...], scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """float32 normal(offset, scale) values that depend only on ``name`` and ``shape``."""
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode())))
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def weight_value(stage: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The random value of parameter ``name`` of stage ``stage``'s UNet: 1-D weights (norm scales)
    around 1, everything else small and non-zero (the published code zero-initialises the motion
    modules' output projections, which would hide the temporal paths)."""
    key = f"stage{stage}/{name}"
    if name.endswith("weight") and len(shape) == 1:
        return named_array(key, shape, 0.1, 1.0)
    return named_array(key, shape, 0.05)


def inputs(stage: int) -> dict[str, np.ndarray]:
    """One denoising step's inputs (batch 1; the step runs the CFG batch of 2 on them)."""
    f, h = FRAMES, LATENT
    text = named_array("text", (2, TEXT_TOKENS, TEXT_WIDTH))  # [negative, positive] prompt embeddings
    if stage == 1:
        return {"text": text, "image_latent": named_array("stage1/image_latent", (1, 4, f, h, h)),
                "flow_latent": named_array("stage1/flow_latent", (1, 4, f, h, h)),
                "stride": np.asarray([STRIDE], dtype=np.int64)}
    # frame 0's flow is zero (the given image); the others move pixels by a few latent cells
    flow = np.concatenate([np.zeros((1, 2, 8 * h, 8 * h), np.float32),
                           named_array("stage2/flow", (f - 1, 2, 8 * h, 8 * h), 6.0)])
    return {"text": text, "latents": named_array("stage2/latents", (1, 4, f, h, h)),
            "first_latent": named_array("stage2/first_latent", (1, 4, 1, h, h)), "flow": flow}


def fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over names, shapes, dtypes and bytes, in name order: equal iff the arrays are."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.shape}|{a.dtype.str}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()
