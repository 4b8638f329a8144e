"""Timing and profiling of LongVie 2 denoising steps, for ``longvie2_speed.py``.

Why apart: the speed benchmark's model building, VAE timing, variants and report are one job; how a step is
timed (a warm-up, the clip's once-per-clip work timed alone, then synchronised per-step times) and how a
profiled step's kernels are grouped are another, and the first file had outgrown 400 lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from longvie.config import SamplerConfig
from longvie.fa4 import Fa4TilePlan
from longvie.model import LongVie2Transformer
from longvie.pipeline import attention_backend
from longvie.sampler import Conditioning, cross_caches, sample


@dataclass(frozen=True)
class StepTiming:
    """Seconds of a timed run of ``measured`` steps, the once-per-clip work before it, and the warm-up."""

    seconds: float  # the steps only
    step_seconds: tuple[float, ...]
    setup_seconds: float  # once per clip: the cross-attention caches (none unless the model caches)
    warmup_seconds: float

    def per_step(self) -> float:
        return self.seconds / len(self.step_seconds)

    def projected_dit_seconds(self, steps: int) -> float:
        """A clip's DiT time: the once-per-clip work plus ``steps`` steps at the measured mean."""
        return self.setup_seconds + self.per_step() * steps


def time_steps(model: LongVie2Transformer, noise: torch.Tensor, cond: Conditioning, measured: int, batched: bool,
               attention: str, sync: object, tile: Fa4TilePlan | None = None) -> StepTiming:
    """Warm-up step (kernels, compile, hooks), the clip's caches (timed alone), then ``measured`` timed steps."""
    config = SamplerConfig(steps=measured)
    with attention_backend(attention, tile):
        warm_start = time.perf_counter()
        sample(model, noise, cond, SamplerConfig(steps=1), batched_cfg=batched)
        sync()
        warm_s = time.perf_counter() - warm_start
        setup_start = time.perf_counter()
        caches = cross_caches(model, cond, config.cfg_scale, batched, None)
        sync()
        setup_s = time.perf_counter() - setup_start
        step_times: list[float] = []
        last = [time.perf_counter()]

        def on_step(k: int, n: int) -> None:
            sync()
            now = time.perf_counter()
            step_times.append(now - last[0])
            last[0] = now
            print(f"step {k}/{n}: {step_times[-1]:.3f} s", flush=True)

        start = time.perf_counter()
        sample(model, noise, cond, config, batched_cfg=batched, on_step=on_step, caches=caches)
        sync()
    return StepTiming(seconds=time.perf_counter() - start, step_seconds=tuple(step_times), setup_seconds=setup_s,
                      warmup_seconds=warm_s)


KERNEL_GROUPS = (("attention", ("flash", "fmha", "attention", "sdpa")),
                 ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "cublas", "matmul")),
                 ("fused elementwise (triton)", ("triton_",)))


def profile_step(model: LongVie2Transformer, noise: torch.Tensor, cond: Conditioning, batched: bool, attention: str,
                 path: str, tile: Fa4TilePlan | None = None) -> dict[str, float]:
    """One more step under ``torch.profiler``: the top CUDA kernels to ``path`` and seconds per kernel group."""
    with attention_backend(attention, tile), torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        sample(model, noise, cond, SamplerConfig(steps=1), batched_cfg=batched)
        torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.self_device_time_total > 0]
    events.sort(key=lambda e: e.self_device_time_total, reverse=True)
    groups = {name: 0.0 for name, _ in KERNEL_GROUPS} | {"other": 0.0}
    for event in events:
        lowered = event.key.lower()
        group = next((name for name, marks in KERNEL_GROUPS if any(m in lowered for m in marks)), "other")
        groups[group] += event.self_device_time_total / 1e6
    with open(path, "w") as handle:
        for event in events[:60]:
            handle.write(f"{event.self_device_time_total / 1e3:10.2f} ms {event.count:6d}x  {event.key[:160]}\n")
    return {name: round(value, 3) for name, value in groups.items()}


__all__ = ["KERNEL_GROUPS", "StepTiming", "profile_step", "time_steps"]
