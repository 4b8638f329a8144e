"""What the speed cases share: a device sync, timed steps, and random weights materialised straight on the device."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def sync(device: str) -> None:
    """Wait for the device (timings read the host clock)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def materialise(model: torch.nn.Module, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """A meta-device model with random N(0, 0.02) weights on ``device`` in ``dtype`` (seconds even for 13B)."""
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.02, generator=generator)
    return model.to(dtype).eval()


def seconds_per_step(step: Callable[[], object], measure_steps: int, device: str) -> float:
    """Mean wall seconds of ``step`` over ``measure_steps`` calls after one warm-up call, without autograd."""
    with torch.no_grad():
        step()  # warm-up
        sync(device)
        start = time.perf_counter()
        for _ in range(measure_steps):
            step()
        sync(device)
    return (time.perf_counter() - start) / measure_steps
