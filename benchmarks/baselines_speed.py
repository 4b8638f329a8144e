"""Seconds per benchmark clip and peak GPU memory of every baseline adapter, at real size with random bf16 weights.

Each adapter contributes ``benchmarks/speed_cases/<name>.py`` with ``measure(device, tiny, measure_steps)``:
it builds its real-size model on the meta device, materialises random bf16 weights on the GPU, times
``measure_steps`` denoising steps of one benchmark clip's worth of work at the native size (CFG as
published) plus the VAE, and projects seconds per 81-frame clip from those (the JSON says so). The
numbers the models produce do not matter, only the time; text/image encoders run once per clip and
are left out (each case's ``notes`` says what it leaves out).

The cases run one after another in this process; GPU memory is released and the peak counter reset
between them. One JSON line per case is printed and appended to ``--jsonl`` as soon as it is done, so
a run cut short keeps what it measured; a case that fails is recorded with its error and the others go on.

    python3 benchmarks/baselines_speed.py --jsonl speed.jsonl                 # every case, on cuda
    python3 benchmarks/baselines_speed.py --device cpu --tiny --cases matrix_game_2   # smoke test
"""

from __future__ import annotations

import gc
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import click
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = ("matrix_game_2", "videocomposer", "motion_i2v", "go_with_the_flow", "diffusion_as_shader",
         "hunyuan_gamecraft")


def _release(device: str) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_case(name: str, device: str, tiny: bool, steps: int) -> dict:
    """One case's result dict, or ``{"model": name, "error": ...}``; never raises."""
    _release(device)
    start = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.speed_cases.{name}")
        result = dict(module.measure(device, tiny, steps))
    except Exception as exc:  # recorded, and the other cases still run
        result = {"model": name, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=6)}
    result["case"] = name
    result["wall_s"] = round(time.perf_counter() - start, 1)
    if torch.device(device).type == "cuda":
        result.setdefault("peak_gpu_gib", round(torch.cuda.max_memory_allocated() / 2**30, 2))
    _release(device)
    return result


@click.command(epilog="Example: baselines_speed.py --cases go_with_the_flow,matrix_game_2 --jsonl out.jsonl")
@click.option("--cases", default=",".join(CASES), show_default=True, help="comma-separated speed cases")
@click.option("--device", default="cuda" if torch.cuda.is_available() else "cpu", show_default=True)
@click.option("--tiny", is_flag=True, help="tiny configurations (a smoke test of the cases, not a figure)")
@click.option("--steps", default=2, show_default=True, help="denoising steps timed per case (then projected)")
@click.option("--jsonl", type=click.Path(path_type=Path), default=None, help="append one JSON line per case")
def main(cases: str, device: str, tiny: bool, steps: int, jsonl: Path | None) -> None:
    """Time every baseline adapter's denoising step and VAE at real size; project seconds per benchmark clip."""
    names = [c for c in cases.split(",") if c]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise click.UsageError(f"unknown cases {unknown}; known: {list(CASES)}")
    gpu = torch.cuda.get_device_name() if torch.device(device).type == "cuda" else platform.processor() or "cpu"
    print(f"device: {gpu}; torch {torch.__version__}; {'tiny' if tiny else 'real-size'} configurations, "
          f"{steps} timed steps per case", flush=True)
    rows = []
    for name in names:
        row = run_case(name, device, tiny, steps)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "traceback"}), flush=True)
        if "traceback" in row:
            print(row["traceback"], flush=True)
        if jsonl is not None:
            with jsonl.open("a") as handle:
                handle.write(json.dumps({**row, "device": gpu}) + "\n")
    print(f"{'case':22s} {'s/step':>8s} {'s/clip (projected)':>19s} {'peak GiB':>9s}")
    for row in rows:
        if "error" in row:
            print(f"{row['case']:22s} error: {row['error'][:80]}")
            continue
        per_step = row.get("seconds_per_step")
        per_step_text = f"{per_step:8.3f}" if isinstance(per_step, int | float) else f"{'-':>8s}"
        per_clip = row.get("projected_seconds_per_clip")
        per_clip_text = f"{per_clip:19.1f}" if isinstance(per_clip, int | float) else f"{'-':>19s}"
        peak = row.get("peak_gpu_gib")
        peak_text = f"{peak:9.2f}" if isinstance(peak, int | float) else f"{'-':>9s}"
        print(f"{row['case']:22s} {per_step_text} {per_clip_text} {peak_text}")


if __name__ == "__main__":
    main()
