"""Timing and profiling of LongVie 2 denoising steps, for ``longvie2_speed.py``.

Why apart: the speed benchmark's model building, VAE timing, variants and report are one job; how a step is
timed (a warm-up, the clip's once-per-clip work timed alone, then synchronised per-step times) and how a
profiled step's kernels are grouped are another, and the first file had outgrown 400 lines.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field

import torch

from longvie.config import SamplerConfig
from longvie.fa4 import Fa4TilePlan
from longvie.model import LongVie2Transformer
from longvie.pipeline import attention_backend
from longvie.sampler import Conditioning, cross_caches, sample


@dataclass(frozen=True)
class GpuState:
    """What ``nvidia-smi`` reports of the GPU at one moment: why a step is slower (clocks falling as the GPU
    heats up under a long run) is then in the record instead of a guess."""

    sm_clock_mhz: int
    temperature_c: int
    power_w: float


def read_gpu_state(index: int = 0) -> GpuState | None:
    """The GPU's state from ``nvidia-smi`` (about 30 ms); None where it is missing or says something else."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=clocks.sm,temperature.gpu,power.draw",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
        clock, temperature, power = (part.strip() for part in done.stdout.strip().split(","))
        return GpuState(int(clock), int(temperature), float(power))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


@dataclass(frozen=True)
class StepTiming:
    """Seconds of a timed run of ``measured`` steps, the once-per-clip work before it, and the warm-up."""

    seconds: float  # the steps only
    step_seconds: tuple[float, ...]
    setup_seconds: float  # once per clip: the cross-attention caches (none unless the model caches)
    warmup_seconds: float
    #: After each timed step: the GPU's SM clock (MHz), temperature (C) and power (W), where nvidia-smi reads them.
    step_gpu_states: tuple[GpuState, ...] = field(default=())

    def per_step(self) -> float:
        return self.seconds / len(self.step_seconds)

    def per_step_record(self) -> dict[str, list[float] | list[int]]:
        """Every timed step's seconds and the GPU's state after it (empty lists where nvidia-smi said nothing)."""
        states = self.step_gpu_states
        return {"step_seconds": [round(s, 3) for s in self.step_seconds],
                "step_sm_clock_mhz": [s.sm_clock_mhz for s in states],
                "step_temperature_c": [s.temperature_c for s in states],
                "step_power_w": [round(s.power_w) for s in states]}

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
        states: list[GpuState] = []
        probe = torch.cuda.is_available() and noise.device.type == "cuda"
        last = [time.perf_counter()]

        def on_step(k: int, n: int) -> None:
            sync()
            step_times.append(time.perf_counter() - last[0])
            state = read_gpu_state(noise.device.index or 0) if probe else None
            if state is not None:
                states.append(state)
            note = f" (SM {state.sm_clock_mhz} MHz, {state.temperature_c} C, {state.power_w:.0f} W)" if state else ""
            print(f"step {k}/{n}: {step_times[-1]:.3f} s{note}", flush=True)
            last[0] = time.perf_counter()  # the probe and the print are not the next step's time

        sample(model, noise, cond, config, batched_cfg=batched, on_step=on_step, caches=caches)
        sync()
    return StepTiming(seconds=sum(step_times), step_seconds=tuple(step_times), setup_seconds=setup_s,
                      warmup_seconds=warm_s, step_gpu_states=tuple(states))


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


__all__ = ["KERNEL_GROUPS", "GpuState", "StepTiming", "profile_step", "read_gpu_state", "time_steps"]
